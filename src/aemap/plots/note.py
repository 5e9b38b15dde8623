"""Figures of the visualisation note ("How can autoencoder output be visualized?"):
2-D views of the latent space, the decoded grid of a 2-D code, reconstruction
error (examples, per class, as an anomaly score) and the encoder's weights."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle

from aemap.plots.importance import DIVERGING_CMAP
from aemap.plots.style import class_colours, image_cmap, new_figure, save_figure, scatter_by_class


def plot_latent_views(
    views: Sequence[dict[str, np.ndarray]],
    classes: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
) -> None:
    """One panel per view (a dict with ``embedding``, ``y``, ``title``, ``x_label``,
    ``y_label``), the same sample of test encodings coloured by class."""
    n = len(views)
    if n == 0:
        raise ValueError("no latent views to draw")
    cols = min(n, 2)
    rows = -(-n // cols)
    fig = new_figure(4.2 * cols, 3.9 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, view in zip(axes, views, strict=False):
        scatter_by_class(ax, view["embedding"], view["y"], classes)
        ax.set_title(str(view["title"]))
        ax.set_xlabel(str(view["x_label"]))
        ax.set_ylabel(str(view["y_label"]))
        if str(view["title"]).startswith(("t-SNE", "UMAP")):
            ax.set_xticks([])  # their axes have no units
            ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.suptitle(title)
    save_figure(fig, path, dpi)


def plot_latent_grid(
    codes: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    axis1: np.ndarray,
    axis2: np.ndarray,
    decoded: np.ndarray,
    origin: str,
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
    display: str = "ink",
) -> None:
    """Left: the 2-D codes of the test sample by class, the grid's span outlined.
    Right: the decoder's output at each grid point (dim 1 to the right, dim 2 up)."""
    n1, n2 = len(axis1), len(axis2)
    h, w = decoded.shape[-2:]
    mosaic = np.ones((n2 * (h + 1) - 1, n1 * (w + 1) - 1))
    for j in range(n2):  # row 0 of the mosaic is the largest value of dim 2
        for i in range(n1):
            tile = decoded[i, n2 - 1 - j]
            if origin == "lower":
                tile = tile[::-1]
            mosaic[j * (h + 1) : j * (h + 1) + h, i * (w + 1) : i * (w + 1) + w] = tile
    fig = new_figure(10.0, 4.8)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.05])
    scatter_by_class(left, codes, y, classes, size=4)
    span = Rectangle((axis1[0], axis2[0]), axis1[-1] - axis1[0], axis2[-1] - axis2[0], fill=False, ls="--", lw=0.8)
    left.add_patch(span)
    left.set_xlabel("latent dim 1")
    left.set_ylabel("latent dim 2")
    left.set_title("test codes (dashed: the decoded grid's span)")
    cmap = image_cmap(origin, display)
    right.imshow(
        mosaic,
        cmap=cmap,
        vmin=0,
        vmax=1,
        interpolation="nearest",
        extent=(axis1[0], axis1[-1], axis2[0], axis2[-1]),
        aspect="auto",
    )
    right.set_xlabel("latent dim 1")
    right.set_ylabel("latent dim 2")
    right.set_title(f"decoder output on a {n1} x {n2} grid")
    fig.suptitle(title)
    save_figure(fig, path, dpi)


def plot_reconstruction_error_examples(
    originals: np.ndarray,
    reconstructions: np.ndarray,
    errors: np.ndarray,
    labels: Sequence[str],
    origin: str,
    path: str | os.PathLike[str],
    metric: str = "mse",
    title: str = "",
    dpi: int = 150,
    display: str = "ink",
) -> None:
    """Rows: original, reconstruction, |difference| (one shared scale over all
    examples, so a brighter difference is a larger error); one column per example."""
    n = len(originals)
    diff = np.abs(originals - reconstructions)
    vmax = float(diff.max()) or 1.0
    fig = new_figure(max(1.0 * n, 4.0), 3.5)
    axes = fig.subplots(3, n, squeeze=False)
    image = None
    colours = image_cmap(origin, display)
    for k in range(n):
        for row, (data, cmap, top) in enumerate(
            [(originals[k], colours, 1.0), (reconstructions[k], colours, 1.0), (diff[k], "inferno", vmax)]
        ):
            ax = axes[row, k]
            shown = ax.imshow(data, cmap=cmap, vmin=0, vmax=top, origin=origin, interpolation="nearest")
            if row == 2:
                image = shown
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, k].set_title(str(labels[k]), fontsize=7)
        axes[2, k].set_xlabel(f"{errors[k]:.3g}", fontsize=6)
    for row, name in enumerate(["original", "reconstruction", "|difference|"]):
        axes[row, 0].set_ylabel(name, fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes[2, :].tolist(), shrink=0.8, label="|difference|")
    fig.suptitle(title or f"reconstruction error (per-image {metric} below each column)")
    save_figure(fig, path, dpi)


def plot_error_by_class(
    errors: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    path: str | os.PathLike[str],
    metric: str = "mse",
    title: str = "",
    dpi: int = 150,
) -> None:
    """The distribution of the per-image error of each class's test images: violins
    with the median marked, classes sorted by median error (highest first)."""
    groups = [np.asarray(errors)[np.asarray(y) == c] for c in range(len(classes))]
    present = [c for c in range(len(classes)) if len(groups[c])]
    order = sorted(present, key=lambda c: -float(np.median(groups[c])))
    fig = new_figure(max(4.5, 0.55 * len(order) + 1.5), 3.6)
    ax = fig.subplots()
    cmap = class_colours(len(classes))
    parts = ax.violinplot([groups[c] for c in order], showmedians=True, showextrema=False)
    for body, c in zip(parts["bodies"], order, strict=True):
        body.set_facecolor(cmap(c % cmap.N))
        body.set_alpha(0.7)
    ax.set_xticks(np.arange(1, len(order) + 1), [classes[c] for c in order], rotation=45 if len(order) > 6 else 0)
    ax.set_ylabel(f"reconstruction error ({metric}) per test image")
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", lw=0.3, alpha=0.5)
    ax.set_title(title or "reconstruction error by class")
    save_figure(fig, path, dpi)


def plot_anomaly_roc(
    fpr: np.ndarray,
    tpr: np.ndarray,
    auc: float,
    normal: np.ndarray,
    anomalous: np.ndarray,
    per_class_auc: dict[str, float],
    path: str | os.PathLike[str],
    normal_label: str = "trained classes",
    anomalous_label: str = "unseen classes",
    metric: str = "mse",
    title: str = "",
    dpi: int = 150,
) -> None:
    """Left: the ROC of the reconstruction error as an anomaly score, with its AUC.
    Middle: the two score distributions. Right: the AUC of each unseen class."""
    fig = new_figure(12.0, 3.8)
    roc, hist, bars = fig.subplots(1, 3, width_ratios=[1, 1.2, 1.1])
    roc.plot(fpr, tpr, lw=1.5, color="C3", label=f"AUC = {auc:.3f}")
    roc.plot([0, 1], [0, 1], ls=":", color="0.5", lw=0.8, label="chance")
    roc.set_xlabel("false positive rate (trained classes flagged)")
    roc.set_ylabel("true positive rate (unseen classes flagged)")
    roc.set_xlim(0, 1)
    roc.set_ylim(0, 1.01)
    roc.set_aspect("equal")
    roc.legend(loc="lower right", fontsize=7)
    roc.set_title("ROC of the reconstruction error")
    both = np.concatenate([normal, anomalous])
    bins = np.histogram_bin_edges(both, bins=60)
    hist.hist(normal, bins=bins, density=True, alpha=0.6, color="C0", label=f"{normal_label} (n={len(normal)})")
    hist.hist(
        anomalous, bins=bins, density=True, alpha=0.6, color="C3", label=f"{anomalous_label} (n={len(anomalous)})"
    )
    hist.set_xlabel(f"reconstruction error ({metric})")
    hist.set_ylabel("density")
    hist.legend(fontsize=7)
    hist.set_title("score distributions")
    names = list(per_class_auc)  # in the order given: the classes' label order
    values = [per_class_auc[k] for k in names]
    bars.bar(np.arange(len(names)), values, color="C3", alpha=0.8)
    bars.axhline(0.5, ls=":", color="0.5", lw=0.8)
    bars.set_xticks(np.arange(len(names)), names, rotation=45 if len(names) > 6 else 0)
    bars.set_ylim(0, 1)
    bars.set_ylabel("AUC against the trained classes")
    bars.set_title("per unseen class")
    fig.suptitle(title)
    save_figure(fig, path, dpi)


def plot_encoder_weights(
    weights: np.ndarray,
    units: np.ndarray,
    origin: str,
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
) -> None:
    """Each chosen unit's incoming weights as an input-shaped image, on one colour
    scale symmetric about 0 (red: a bright pixel raises the unit; blue: lowers it)."""
    n = len(units)
    cols = min(n, 8)
    rows = -(-n // cols)
    limit = float(np.abs(weights[units]).max()) or 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    fig = new_figure(1.25 * cols + 0.9, 1.35 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    image = None
    for ax, unit in zip(axes, units, strict=False):
        image = ax.imshow(weights[unit], cmap=DIVERGING_CMAP, norm=norm, origin=origin, interpolation="nearest")
        ax.set_title(f"unit {int(unit) + 1}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=axes.tolist(), shrink=0.8, label="weight")
    fig.suptitle(title)
    save_figure(fig, path, dpi)
