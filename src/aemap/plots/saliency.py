"""Saliency figures: contour maps with the input inset (Arumugam & Kiran Fig. 7)."""

from __future__ import annotations

import os

import numpy as np

from aemap.plots.style import image_cmap, new_figure, save_figure

SALIENCY_CMAP = "viridis"


def draw_contours(
    ax,
    saliency: np.ndarray,
    levels: int = 10,
    inset: np.ndarray | None = None,
    origin: str = "upper",
    display: str = "ink",
):
    """A filled-contour map in the images' orientation (``upper``: row 0 at
    the top; ``lower``: at the bottom, a spectrogram's low frequencies), with
    an optional input image inset at the top-left corner (drawn as its
    dataset's ``display``); returns the contour set."""
    height, width = saliency.shape
    yy, xx = np.mgrid[0:height, 0:width]
    filled = ax.contourf(xx, yy, saliency, levels=levels, cmap=SALIENCY_CMAP)
    ax.set_xlim(0, width - 1)
    ax.set_ylim((0, height - 1) if origin == "lower" else (height - 1, 0))
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if inset is not None:
        box = ax.inset_axes((0.0, 0.68, 0.32, 0.32))
        box.imshow(inset, cmap=image_cmap(origin, display), vmin=0, vmax=1, origin=origin, interpolation="nearest")
        box.set_xticks([])
        box.set_yticks([])
    return filled


def plot_saliency_contours(
    images: np.ndarray,
    maps: np.ndarray,
    labels: list[str],
    mean_map: np.ndarray,
    path: str | os.PathLike[str],
    title: str = "",
    levels: int = 10,
    dpi: int = 150,
    origin: str = "upper",
    display: str = "ink",
) -> None:
    """One filled-contour saliency map per example (input image inset at the
    top-left corner), and the mean map over all images last; ``origin`` and
    ``display`` as ``draw_contours``."""
    panels = [(f"{lab}", m, img) for lab, m, img in zip(labels, maps, images, strict=True)] + [("mean", mean_map, None)]
    n_cols = min(6, len(panels))
    n_rows = int(np.ceil(len(panels) / n_cols))
    fig = new_figure(2.0 * n_cols, 2.05 * n_rows + 0.4)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax, (name, saliency, image) in zip(axes.flat, panels, strict=False):
        draw_contours(ax, saliency, levels, inset=image, origin=origin, display=display)
        ax.set_title(name if image is None else f"class {name}")  # the dataset's class name
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title)
    save_figure(fig, path, dpi)
