"""Figures of the three sanity checks (Arumugam & Kiran Figs. 8-11)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from aemap.plots.saliency import draw_contours
from aemap.plots.style import image_cmap, new_figure, save_figure

# One colour per importance source (colour-blind-safe Okabe-Ito), random in grey.
SOURCE_COLOURS = {
    "csda_local": "#D55E00",
    "csda_mean": "#E69F00",
    "csda_per_image": "#CC79A7",
    "permutation": "#0072B2",
    "grad_x_input": "#009E73",
    "variance": "#56B4E9",
    "random": "#777777",
}


def plot_single_class_grid(
    mean_maps: np.ndarray,
    class_names: list[str],
    own_r: list[float],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
) -> None:
    """Fig. 8: the mean saliency map of each single-class model, with the
    correlation of that map with its class's mean image."""
    n_cols = min(5, len(mean_maps))
    n_rows = int(np.ceil(len(mean_maps) / n_cols))
    fig = new_figure(2.0 * n_cols, 2.1 * n_rows + 0.4)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax, saliency, name, r in zip(axes.flat, mean_maps, class_names, own_r, strict=False):
        draw_contours(ax, saliency)
        ax.set_title(f"trained on {name}  (r = {r:.2f})")
    for ax in axes.flat[len(mean_maps) :]:
        ax.axis("off")
    fig.suptitle(title)
    save_figure(fig, path, dpi)


def plot_translation(
    moved_image: np.ndarray,
    moved_maps: Sequence[tuple[str, np.ndarray, tuple[float, float]]],
    base_map: np.ndarray,
    base_com: tuple[float, float],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
    origin: str = "upper",
    display: str = "ink",
) -> None:
    """Fig. 9: (a) a digit moved to the corner of the canvas, (b) the mean
    saliency map of each model trained on such images (label, map, centre of
    mass; one panel per training), (c) the original model's map for
    comparison. + marks each map's centre of mass, x the canvas centre.
    ``origin`` and ``display``: the dataset's (``aemap.plots.style.image_cmap``)."""
    if not moved_maps:
        raise ValueError("plot_translation: no map of a model trained on moved digits")
    n = 2 + len(moved_maps)
    fig = new_figure(2.4 * n, 2.9)
    axes = fig.subplots(1, n)
    axes[0].imshow(
        moved_image, cmap=image_cmap(origin, display), vmin=0, vmax=1, origin=origin, interpolation="nearest"
    )
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[0].set_title(f"(a) input on a {moved_image.shape[0]}x{moved_image.shape[1]} canvas")
    panels = [
        (f"(b) moved digits, {label}" if len(moved_maps) > 1 else "(b) trained on moved digits", m, com)
        for label, m, com in moved_maps
    ]
    panels.append(("(c) trained on centred digits", base_map, base_com))
    for ax, (label, saliency, com) in zip(axes[1:], panels, strict=True):
        draw_contours(ax, saliency, origin=origin)
        height, width = saliency.shape
        ax.plot([com[1]], [com[0]], "+", color="white", markersize=12, markeredgewidth=2)
        ax.plot([(width - 1) / 2], [(height - 1) / 2], "x", color="red", markersize=7, markeredgewidth=1.5)
        ax.set_title(label)
    fig.suptitle(title)
    save_figure(fig, path, dpi)


def translation_title(experiment: str, result: dict) -> str:
    """Fig. 9's title from check 2's result (``aemap.checks.translation``):
    the digits' shift, the saliency core's and the whole map's, with their sd
    over trainings where there are several."""
    several = len(result.get("trainings") or []) > 1

    def px(values, sign="+"):
        return "(" + ", ".join(f"{v:{sign}.1f}" for v in values) + ")"

    def shift(key):
        return px(result[key]) + (f" ± {px(result[key + '_sd'], '')}" if several else "")

    over = f" (mean ± sd of {len(result['trainings'])} trainings)" if several else ""
    return (
        f"{experiment}: digits moved by {px(result['digit_shift'])} px; saliency core (top 10 %) by "
        f"{shift('saliency_top10_shift_mean_map')} px, whole map by {shift('saliency_shift_mean_map')} px{over}\n"
        "(+: centre of mass, x: canvas centre; cf. Arumugam & Kiran Fig. 9)"
    )


def plot_corrupted_examples(
    originals: np.ndarray,
    most: np.ndarray,
    least: np.ndarray,
    fractions: list[float],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
    origin: str = "upper",
    display: str = "ink",
) -> None:
    """Fig. 10: test images with the most (top rows) and least (bottom rows)
    important pixels corrupted, one column per fraction; ``origin`` and
    ``display``: the dataset's (``aemap.plots.style.image_cmap``)."""
    cmap = image_cmap(origin, display)
    k = len(originals)
    n_cols = 1 + len(fractions)
    fig = new_figure(1.25 * n_cols + 0.6, 1.25 * 2 * k + 0.5)
    axes = fig.subplots(2 * k, n_cols, squeeze=False)
    for block, (which, images) in enumerate((("most", most), ("least", least))):
        for i in range(k):
            row = axes[block * k + i]
            for col, (img, label) in enumerate(
                [(originals[i], "original")] + [(images[f][i], f"{which} {fr:.0%}") for f, fr in enumerate(fractions)]
            ):
                row[col].imshow(img, cmap=cmap, vmin=0, vmax=1, origin=origin, interpolation="nearest")
                row[col].set_xticks([])
                row[col].set_yticks([])
                if i == 0:
                    row[col].set_title(label)
    fig.suptitle(title)
    save_figure(fig, path, dpi)


def plot_corruption_curves(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    reported: dict[str, list[list[float]]] | None = None,
    title: str = "",
    dpi: int = 150,
) -> None:
    """Fig. 11: accuracy against the share of corrupted pixels; solid = most
    important corrupted, dashed = least; a band of mean +- sd where runs
    differ (random rankings; several classifiers: every source); the paper's
    reported points as black markers."""
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    for source in dict.fromkeys(table["source"]):
        colour = SOURCE_COLOURS.get(source)
        for which, style in (("most", "-"), ("least", "--")):
            part = table[(table["source"] == source) & (table["which"] == which)].sort_values("fraction")
            pct, acc = 100 * part["fraction"].to_numpy(), 100 * part["accuracy"].to_numpy()
            ax.plot(pct, acc, style, marker="o", markersize=3, color=colour, label=f"{source}, {which}")
            sd = 100 * part["accuracy_std"].to_numpy()
            if np.any(sd > 0):
                ax.fill_between(pct, acc - sd, acc + sd, color=colour, alpha=0.15, linewidth=0)
    for which, points in (reported or {}).items():
        pts = np.asarray(points, dtype=float)
        ax.plot(
            100 * pts[:, 0],
            100 * pts[:, 1],
            "k*" if which == "most" else "kP",
            markersize=9,
            label=f"paper (text), {which}",
        )
    ax.set_xlabel("pixels corrupted (%)")
    ax.set_ylabel("classifier accuracy (%)")
    ax.set_ylim(0, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2, loc="lower left")
    ax.set_title(title, fontsize=9)
    save_figure(fig, path, dpi)
