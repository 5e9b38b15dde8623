"""Data figures: example grids of prepared datasets and spectrograms per class
(Inglis et al. Fig. 9)."""

from __future__ import annotations

import os

import numpy as np

from aemap.plots.style import SPECTROGRAM_CMAP, image_cmap, new_figure, save_figure


def plot_dataset_samples(
    arrays: dict[str, np.ndarray],
    path: str | os.PathLike[str],
    per_class: int = 8,
    seed: int = 0,
    title: str = "",
    dpi: int = 150,
    display: str = "ink",
) -> None:
    """Rows = classes, columns = random training examples of that class, drawn
    as the dataset's ``display`` (``aemap.plots.style.image_cmap``)."""
    x, y, classes = arrays["x_train"], arrays["y_train"], [str(c) for c in arrays["classes"]]
    origin = str(arrays["image_origin"])
    rng = np.random.default_rng(seed)
    n_rows = len(classes)
    fig = new_figure(0.75 * per_class + 1.2, 0.75 * n_rows + 0.5)
    axes = fig.subplots(n_rows, per_class, squeeze=False)
    for row, name in enumerate(classes):
        members = np.nonzero(y == row)[0]
        picks = rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else []
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(picks):
                ax.imshow(
                    x[picks[col]],
                    cmap=image_cmap(origin, display),
                    vmin=0,
                    vmax=1,
                    origin=origin,
                    interpolation="nearest",
                )
        axes[row, 0].set_ylabel(f"{name}\n(n={len(members)})", rotation=0, ha="right", va="center")
    counts = f"{len(arrays['y_train'])} train / {len(arrays['y_test'])} test"
    fig.suptitle(f"{title}: {counts}" if title else counts)
    save_figure(fig, path, dpi)


def plot_spectrogram_examples(
    spectrograms: dict[str, np.ndarray], path: str | os.PathLike[str], title: str = "", dpi: int = 150
) -> None:
    """The first recording of every class as a spectrogram, frequency upward."""
    x, y = spectrograms["x"], spectrograms["y"]
    classes = [str(c) for c in spectrograms["classes"]]
    files = [str(f) for f in spectrograms["files"]]
    f_edges, t_edges = spectrograms["freq_edges_hz"], spectrograms["time_edges_s"]
    extent = (t_edges[0], t_edges[-1], f_edges[0] / 1000, f_edges[-1] / 1000)
    n_cols = min(5, len(classes))
    n_rows = int(np.ceil(len(classes) / n_cols))
    fig = new_figure(2.0 * n_cols + 0.8, 1.9 * n_rows + 0.4)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True)
    image = None
    for k, name in enumerate(classes):
        ax = axes.flat[k]
        members = np.nonzero(y == k)[0]
        if not len(members):
            ax.set_title(f"{name}: no recording")
            ax.axis("off")
            continue
        i = members[0]
        image = ax.imshow(x[i], origin="lower", aspect="auto", extent=extent, cmap=SPECTROGRAM_CMAP, vmin=0, vmax=1)
        ax.set_title(f"{name}  ({os.path.basename(files[i])})")
    for ax in axes.flat[len(classes) :]:
        ax.axis("off")
    for ax in axes[-1, :]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("frequency (kHz)")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="level (min-max normalised)")
    fig.suptitle(title or "Spectrograms, one per class")
    save_figure(fig, path, dpi)
