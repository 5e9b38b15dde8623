"""Attribution-visualisation figures (Shi, Li & Yamaguchi Figs. 6-10, 16),
and the autoencoders' latent dims beside Inglis et al.'s heatmaps."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from aemap.plots.style import image_cmap, new_figure, save_figure

HEAT_CMAP = "inferno"
SIGNED_CMAP = "bwr"  # Inglis et al.'s blue - white - red


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def as_picture(img) -> np.ndarray:
    """An image as ``imshow`` draws it: (H, W), or (H, W, 3 | 4) for the
    (C, H, W) colour images of a model of one's own (RGB, RGBA; clipped to
    [0, 1]); a one-channel (1, H, W) as (H, W)."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[0] == 1:
        return img[0]
    if img.ndim == 3 and img.shape[0] in (3, 4):
        return np.clip(np.moveaxis(img, 0, -1), 0.0, 1.0)
    if img.ndim != 2:
        raise ValueError(f"image of shape {img.shape}: a figure draws (H, W) or (C, H, W) with C = 1, 3 or 4")
    return img


def _image(ax, img, origin="upper", cmap=None, vmin=0.0, vmax=1.0, title=None, display="ink"):
    """One panel in the dataset's orientation (``origin``: ``lower`` draws a
    spectrogram's low frequencies at the bottom); the dataset's image colour
    map (``image_cmap`` of ``origin`` and ``display``) unless ``cmap`` is
    given. Colour images are drawn as they are (``display`` is for grey ones)."""
    img = as_picture(img)
    if img.ndim == 3:
        ax.imshow(img, origin=origin, interpolation="nearest")
    else:
        ax.imshow(
            img, cmap=cmap or image_cmap(origin, display), vmin=vmin, vmax=vmax, origin=origin, interpolation="nearest"
        )
    _off(ax)
    if title:
        ax.set_title(title, fontsize=7)


def _heat(ax, heat, origin="upper", title=None):
    top = float(np.max(heat)) if np.max(heat) > 0 else 1.0
    _image(ax, heat, origin, cmap=HEAT_CMAP, vmin=0.0, vmax=top, title=title)


def _grid(
    n_rows: int,
    n_cols: int,
    width: float,
    height: float,
    images: np.ndarray,
    row_labels: Sequence[str],
    first_title: str = "input",
    origin: str = "upper",
    display: str = "ink",
):
    """A figure of n_rows x n_cols panels whose first column shows ``images``
    with the row labels; returns (figure, axes)."""
    fig = new_figure(width * n_cols + 0.4, height * n_rows + 0.5)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i in range(n_rows):
        _image(axes[i, 0], images[i], origin, title=first_title if i == 0 else None, display=display)
        axes[i, 0].set_ylabel(row_labels[i], fontsize=7)
    return fig, axes


def _r_label(ax, r: float) -> None:
    # On a white box: the unmasked visualisations are often dark in that corner.
    ax.text(
        0.98,
        0.02,
        f"r {r:.2f}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=6,
        color="tab:blue",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5},
    )


def _finish(fig, path, title: str, dpi: int) -> None:
    if title:
        fig.suptitle(title, fontsize=9)
    save_figure(fig, path, dpi)


def plot_perturbation_grid(
    images: np.ndarray,
    heatmaps: np.ndarray,
    visualisations: dict[str, np.ndarray],
    correlations: dict[str, np.ndarray],
    row_labels: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
    origin: str = "upper",
    display: str = "ink",
) -> None:
    """Rows: explained items. Columns: the input, its attribution map, then the
    visualisation (M* X*) under each perturbation with its correlation.
    ``origin``: the images' ``image_origin`` (``lower`` for spectrograms);
    ``display``: their dataset's (``aemap.display``)."""
    names = list(visualisations)
    fig, axes = _grid(len(images), 2 + len(names), 1.15, 1.2, images, row_labels, origin=origin, display=display)
    for i in range(len(images)):
        _heat(axes[i, 1], heatmaps[i], origin, title="attribution" if i == 0 else None)
        for j, name in enumerate(names):
            _image(axes[i, 2 + j], visualisations[name][i], origin, title=name if i == 0 else None, display=display)
            _r_label(axes[i, 2 + j], correlations[name][i])
    _finish(fig, path, title, dpi)


def plot_ablation(
    ablation: pd.DataFrame, top_k: int, path: str | os.PathLike[str], title: str = "", dpi: int = 150
) -> None:
    """Three panels, perturbations grouped by layer: visualisation correlation
    (mean, and sd over images x initialisations; a visualisation without a
    correlation, counted in ``correlation_undefined``, is left out and the
    title says so), top-1 and top-k consistency.
    Where every target is ranked among at most k outputs (``n_ranked``: four
    classes and top-5), top-k is 1 whatever the visualisation: that panel
    says so in place of bars."""
    layers = list(dict.fromkeys(ablation["layer"]))
    perts = list(dict.fromkeys(ablation["perturbation"]))
    fig = new_figure(3.0 * 3 + 0.5, 3.0)
    axes = fig.subplots(1, 3)
    width = 0.8 / max(1, len(perts))
    colours = {
        p: c
        for p, c in zip(
            perts, ["#999999", "#8c564b", "#bcbd22", "#1f77b4", "#ff7f0e", "#d62728"][-len(perts) :], strict=True
        )
    }
    rows = ablation.set_index(["layer", "perturbation"])
    ranked = ablation["n_ranked"] if "n_ranked" in ablation else pd.Series(dtype=float)
    vacuous = len(ranked) > 0 and bool((ranked <= top_k).all())
    for j, pert in enumerate(perts):
        xs = np.arange(len(layers)) + (j - (len(perts) - 1) / 2) * width
        corr = [rows.loc[(la, pert), "correlation"] if (la, pert) in rows.index else np.nan for la in layers]
        sd = [rows.loc[(la, pert), "correlation_sd"] if (la, pert) in rows.index else np.nan for la in layers]
        axes[0].bar(xs, corr, width, yerr=sd, color=colours[pert], label=pert, capsize=1.5, error_kw={"lw": 0.6})
        for ax, key in ((axes[1], "top1"), (axes[2], "topk")):
            if key == "topk" and vacuous:
                continue
            vals = [rows.loc[(la, pert), key] if (la, pert) in rows.index else np.nan for la in layers]
            ax.bar(xs, vals, width, color=colours[pert])
    n = int(ablation["n"].median()) if len(ablation) else 0
    for ax, name in zip(
        axes, ["visualisation correlation (Pearson r)", "consistency, top-1", f"consistency, top-{top_k}"], strict=True
    ):
        ax.set_xticks(np.arange(len(layers)), layers)
        ax.set_xlim(-0.5, len(layers) - 0.5)  # the same in every panel, bars drawn or not
        ax.set_title(name)
        ax.grid(axis="y", lw=0.3)
    axes[0].axhspan(0.5, 0.6, color="tab:green", alpha=0.12, lw=0, label="paper: good (0.5-0.6)")
    axes[0].set_ylim(min(0.0, np.nanmin(ablation["correlation"]) - 0.05), 1.0)
    axes[1].set_ylim(0, 1.02)
    axes[2].set_ylim(0, 1.02)
    if vacuous:
        axes[2].text(
            0.5,
            0.5,
            f"not informative: each target is ranked\namong at most {int(ranked.max())} outputs,\n"
            f"so it is always in the top {top_k}",
            transform=axes[2].transAxes,
            ha="center",
            va="center",
            fontsize=8,
            color="0.35",
        )
    axes[0].legend(fontsize=6, ncol=2, loc="upper left")
    # A visualisation whose activations or R are constant has no Pearson r: the
    # correlation bars leave it out, and the title says how many that was.
    undefined = int(ablation["correlation_undefined"].sum()) if "correlation_undefined" in ablation else 0
    left_out = f"; {undefined} without a correlation, left out" if undefined else ""
    fig.suptitle(f"{title} ({n} visualisations per bar{left_out})" if title else "", fontsize=9)
    save_figure(fig, path, dpi)


def plot_layer_grid(
    images: np.ndarray,
    heatmaps: dict[str, np.ndarray],
    visualisations: dict[str, np.ndarray],
    row_labels: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
    origin: str = "upper",
    display: str = "ink",
) -> None:
    """Rows: explained items. Columns: the input, then per layer its attribution
    map and its visualisation (M* X*)."""
    layers = list(visualisations)
    fig, axes = _grid(len(images), 1 + 2 * len(layers), 1.1, 1.15, images, row_labels, origin=origin, display=display)
    for i in range(len(images)):
        for j, layer in enumerate(layers):
            _heat(axes[i, 1 + 2 * j], heatmaps[layer][i], origin, title=f"{layer} map" if i == 0 else None)
            _image(
                axes[i, 2 + 2 * j],
                visualisations[layer][i],
                origin,
                title=f"{layer}" if i == 0 else None,
                display=display,
            )
    _finish(fig, path, title, dpi)


def plot_latent_dims(
    images: np.ndarray,
    inglis: np.ndarray,
    heatmaps: np.ndarray,
    visualisations: dict[str, np.ndarray],
    r_values: dict[str, np.ndarray],
    row_labels: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "",
    dpi: int = 150,
    origin: str = "upper",
    display: str = "ink",
) -> None:
    """Rows: latent dims. Columns: the image driving the dim hardest, Inglis et
    al.'s signed heatmap of the dim, the attribution map, then the visualisation
    of each layer with its Pearson r against the Inglis heatmap."""
    layers = list(visualisations)
    fig, axes = _grid(
        len(images),
        3 + len(layers),
        1.25,
        1.25,
        images,
        row_labels,
        first_title="image",
        origin=origin,
        display=display,
    )
    for i in range(len(images)):
        lim = float(np.abs(inglis[i]).max()) or 1.0
        signed_title = "Inglis signed" if i == 0 else None
        _image(axes[i, 1], inglis[i], origin, cmap=SIGNED_CMAP, vmin=-lim, vmax=lim, title=signed_title)
        _heat(axes[i, 2], heatmaps[i], origin, title="attribution" if i == 0 else None)
        for j, layer in enumerate(layers):
            vis_title = f"visualisation ({layer})" if i == 0 else None
            _image(axes[i, 3 + j], visualisations[layer][i], origin, title=vis_title, display=display)
            _r_label(axes[i, 3 + j], r_values[layer][i])
    _finish(fig, path, title, dpi)
