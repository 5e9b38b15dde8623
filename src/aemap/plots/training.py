"""Training figures: loss curves (with the paper's reported values), original
vs reconstruction grids (Inglis Figs. 5, 7, 10; Arumugam Fig. 6) and clean
vs noisy inputs (Arumugam Fig. 5)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from aemap.plots.style import image_cmap, new_figure, save_figure

LOSS_NAMES = {"bce": "binary cross-entropy", "mse": "mean squared error", "cross_entropy": "cross-entropy"}


def _reported_band(ax, value: Any, label: str, color: str) -> None:
    if value is None:
        return
    if isinstance(value, (list, tuple)):
        ax.axhspan(value[0], value[1], color=color, alpha=0.15, label=f"{label} (paper)")
    else:
        ax.axhline(value, color=color, ls=":", lw=1, label=f"{label} (paper)")


def plot_training_curves(
    history: pd.DataFrame,
    path: str | os.PathLike[str],
    title: str = "",
    reported: dict[str, Any] | None = None,
    loss: str = "loss",
    dpi: int = 150,
) -> None:
    """Train and test loss per epoch; a second panel for test accuracy if present."""
    reported = reported or {}
    loss_name = LOSS_NAMES.get(loss, loss)
    has_acc = "test_accuracy" in history
    fig = new_figure(4.2 * (2 if has_acc else 1), 3.0)
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    ax = axes[0]
    ax.plot(history["epoch"], history["train_loss"], label="train", color="C0")
    ax.plot(history["epoch"], history["test_loss"], label="test", color="C1")
    _reported_band(ax, reported.get("train_loss"), "train", "C0")
    _reported_band(ax, reported.get("test_loss"), "test", "C1")
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_name)
    ax.grid(alpha=0.3)
    final = history.iloc[-1]
    ax.set_title(f"final: train {final['train_loss']:.4f}, test {final['test_loss']:.4f}")
    ax.legend(frameon=False)
    if has_acc:
        ax = axes[1]
        ax.plot(history["epoch"], 100 * history["test_accuracy"], color="C2", label="test")
        acc = reported.get("test_accuracy")
        _reported_band(
            ax, [100 * a for a in acc] if isinstance(acc, list) else (100 * acc if acc else None), "test", "C2"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.set_title(f"final test accuracy {100 * final['test_accuracy']:.2f} %")
        ax.legend(frameon=False)
    fig.suptitle(title)
    save_figure(fig, path, dpi)


def _image_rows(
    rows: Sequence[tuple[str, np.ndarray]],
    labels: Sequence[str],
    origin: str,
    display: str,
    path: str | os.PathLike[str],
    title: str,
    dpi: int,
) -> None:
    n_cols = len(labels)
    fig = new_figure(0.9 * n_cols + 1.0, 0.95 * len(rows) + 0.5)
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    cmap = image_cmap(origin, display)
    for r, (name, images) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(images[c], cmap=cmap, vmin=0, vmax=1, origin=origin, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(labels[c], fontsize=7)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    save_figure(fig, path, dpi)


def plot_reconstructions(
    examples: dict[str, np.ndarray],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
    display: str = "ink",
) -> None:
    """Originals above reconstructions; a denoising AE's noisy inputs in
    between; drawn as the dataset's ``display``."""
    classes = [str(c) for c in examples["classes"]]
    labels = [classes[int(k)] for k in examples["y"]]
    rows = [("original", examples["clean"])]
    if float(examples["noise"]) > 0:
        rows.append(("noisy input", examples["input"]))
    rows.append(("reconstruction", examples["reconstruction"]))
    _image_rows(rows, labels, str(examples["image_origin"]), display, path, title, dpi)


def plot_noisy_inputs(
    examples: dict[str, np.ndarray],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
    display: str = "ink",
) -> None:
    """Clean images (top) and the same images with the training noise
    (bottom); drawn as the dataset's ``display``."""
    classes = [str(c) for c in examples["classes"]]
    labels = [classes[int(k)] for k in examples["y"]]
    rows = [("clean", examples["clean"]), (f"noisy (κ = {float(examples['noise']):g})", examples["input"])]
    _image_rows(rows, labels, str(examples["image_origin"]), display, path, title, dpi)
