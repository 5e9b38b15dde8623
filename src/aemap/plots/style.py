"""The one style every aemap figure uses, and atomic saving."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # figures are files; no display needed (or present on clusters)
import matplotlib.pyplot as plt  # noqa: E402

from aemap.display import DISPLAYS  # noqa: E402
from aemap.io import atomic_path  # noqa: E402

RC = {
    "figure.facecolor": "white",
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "font.size": 8,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    # Reproducible bytes: no creation date or software version in the file.
    "svg.hashsalt": "aemap",
}
IMAGE_CMAP = "gray_r"  # ink dark on white, as the papers print digits
SPECTROGRAM_CMAP = "magma"
# The colour map of each ``display`` of a dataset (aemap.display).
DISPLAY_CMAPS = {"ink": IMAGE_CMAP, "natural": "gray"}
assert tuple(DISPLAY_CMAPS) == DISPLAYS


def image_cmap(origin: str, display: str = "ink") -> str:
    """The colour map of a dataset's images: spectrograms (``image_origin``
    ``lower``: frequency upward) in ``SPECTROGRAM_CMAP``, pictures (``upper``)
    by the dataset's ``display`` (aemap.display)."""
    if origin == "lower":
        return SPECTROGRAM_CMAP
    try:
        return DISPLAY_CMAPS[display]
    except KeyError:
        raise ValueError(f"display: unknown {display!r}; known: {', '.join(DISPLAY_CMAPS)}") from None


def class_colours(n: int):
    """The qualitative colour map for ``n`` classes."""
    return matplotlib.colormaps["tab10" if n <= 10 else "tab20"]


def scatter_by_class(ax, xy, y, classes, size: float = 3.0, fontsize: float = 8) -> None:
    """2-D points coloured by class, each class's name at the median of its points."""
    y = np.asarray(y)
    cmap = class_colours(len(classes))
    ax.scatter(xy[:, 0], xy[:, 1], c=cmap(y % cmap.N), s=size, alpha=0.6, linewidths=0, rasterized=True)
    for c, name in enumerate(classes):
        members = xy[y == c]
        if len(members):
            cx, cy = np.median(members, axis=0)
            box = {"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0}
            ax.text(cx, cy, name, ha="center", va="center", fontsize=fontsize, weight="bold", bbox=box)


def new_figure(width: float, height: float):
    with plt.rc_context(RC):
        return plt.figure(figsize=(width, height), layout="constrained")


def save_figure(fig, path: str | os.PathLike[str], dpi: int = 150) -> None:
    """Save ``fig`` to ``path`` atomically, without metadata that changes per run."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    metadata = {"Software": None} if fmt == "png" else {"CreationDate": None} if fmt == "pdf" else None
    with plt.rc_context(RC), atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
    plt.close(fig)
