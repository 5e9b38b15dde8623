"""Inglis et al.'s figures: per class, the sorted latent-importance bar chart
beside the signed pixel-importance heatmaps of the same dimensions (their
Figs. 4, 6, 8, 12 and appendices C-E); the UMAP of the encodings (Fig. 11)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib import colors, ticker

from aemap.plots.style import new_figure, save_figure, scatter_by_class

DIVERGING_CMAP = "bwr"  # blue (negative) - white - red (positive), as the paper


def plot_class_importance(
    pixel: dict[str, np.ndarray],
    table: pd.DataFrame,
    class_name: str,
    path: str | os.PathLike[str],
    top_k: int = 10,
    filter_unused: bool = True,
    title: str = "",
    dpi: int = 150,
) -> None:
    """Bar chart of the class's most important latent dims (sorted, with the
    spread over permutations) beside the signed pixel heatmaps of those dims.
    ``filter_unused`` leaves out dims of zero importance for the class (``aim``'s
    "Filter Empty Dimensions")."""
    rows = table[table["class"] == class_name].sort_values("rank")
    if filter_unused:
        rows = rows[rows["importance"] > 0]
    rows = rows.head(top_k)
    dims = rows["dim"].to_numpy()
    shape = tuple(int(s) for s in pixel["image_shape"])
    origin = str(pixel["image_origin"])
    signed = pixel["signed"]
    maps = [signed[:, d - 1].reshape(shape) for d in dims]
    limit = max(float(np.abs(np.stack(maps)).max()), 1e-12) if maps else 1.0
    n_cols = min(5, max(len(dims), 1))
    n_rows = int(np.ceil(len(dims) / n_cols)) or 1
    fig = new_figure(3.0 + 1.6 * n_cols, max(2.6, 1.7 * n_rows + 0.6))
    outer = fig.add_gridspec(1, 2, width_ratios=[1.2, 1.6 * n_cols / 2.0])
    bar_ax = fig.add_subplot(outer[0])
    positions = np.arange(len(dims))[::-1]
    bar_ax.barh(positions, rows["importance"], xerr=rows["std"], color="0.35", ecolor="0.6", capsize=2)
    bar_ax.set_yticks(positions, [f"dim {d}" for d in dims])
    bar_ax.set_xlabel("latent importance (reconstruction)")
    bar_ax.xaxis.set_major_locator(ticker.MaxNLocator(3))
    bar_ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%.2g"))
    bar_ax.grid(axis="x", alpha=0.3)
    bar_ax.set_title(f"top {len(dims)} dims for {class_name}")
    grid = outer[1].subgridspec(n_rows, n_cols)
    norm = colors.TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit)
    image = None
    for k, d in enumerate(dims):
        ax = fig.add_subplot(grid[k // n_cols, k % n_cols])
        image = ax.imshow(maps[k], cmap=DIVERGING_CMAP, norm=norm, origin=origin, interpolation="nearest")
        ax.set_title(f"dim {d}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if image is not None:
        fig.colorbar(image, ax=fig.axes[1:], shrink=0.8, label="signed pixel importance")
    fig.suptitle(title or f"class {class_name}")
    save_figure(fig, path, dpi)


def plot_umap(
    embedding: np.ndarray,
    y: np.ndarray,
    classes: list[str],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
) -> None:
    """2-D UMAP of the test encodings, one colour per class, labels at the class medians."""
    fig = new_figure(5.5, 4.8)
    ax = fig.subplots()
    scatter_by_class(ax, embedding, y, classes, size=3, fontsize=9)
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "UMAP of the test encodings")
    save_figure(fig, path, dpi)
