"""Sanity check 3 (Arumugam & Kiran Sec. 7, Figs. 10-11): corrupt the most or
the least important pixels of the test images and see what a classifier
still gets right.

A pixel is corrupted on the 0-255 grey scale: above ``threshold`` (100) it
becomes 0, otherwise 255, i.e. strokes are erased and background is inked.
A ranking comes from an importance map: one map for every image (global), or
one per image (each image corrupted by its own map). Ties (e.g. the many
exactly-zero scores of gradient x input) are broken in a seeded random order,
never by pixel position, which would corrupt one corner first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

# The sources the workflow compares, in the order of the csv and the figure.
SOURCES = ("csda_local", "csda_mean", "csda_per_image", "permutation", "grad_x_input", "variance", "random")
WHICH = ("most", "least")


def rank_pixels(scores: np.ndarray, tie_seed: int = 0) -> np.ndarray:
    """Pixel indices from most to least important, along the last axis of
    ``scores`` (P,) or (N, P); equal scores in a seeded random order."""
    scores = np.asarray(scores, dtype=np.float64)
    n_pixels = scores.shape[-1]
    shuffle = np.random.default_rng(tie_seed).permutation(n_pixels)
    # A stable sort of the shuffled columns: ties keep the shuffled order.
    return shuffle[np.argsort(-scores[..., shuffle], axis=-1, kind="stable")]


def pixel_mask(order: np.ndarray, fraction: float, which: str) -> np.ndarray:
    """Boolean mask (same shape as ``order``) of the ``fraction`` most or least
    important pixels (round(fraction * pixels) of them)."""
    if which not in WHICH:
        raise ValueError(f"which must be 'most' or 'least', got {which!r}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    n_pixels = order.shape[-1]
    k = int(round(fraction * n_pixels))
    chosen = order[..., :k] if which == "most" else order[..., n_pixels - k :]
    mask = np.zeros(order.shape, dtype=bool)
    np.put_along_axis(mask, chosen, True, axis=-1)
    return mask


def corrupt_pixels(x: np.ndarray, mask: np.ndarray, threshold: int = 100) -> np.ndarray:
    """Images ``x`` (N, H, W) in [0, 1] with the pixels of ``mask`` ((H*W,) or
    (N, H*W)) flipped: grey value (0-255) > ``threshold`` -> 0, else -> 255."""
    flat = x.reshape(len(x), -1)
    grey = np.rint(flat * 255.0)
    flipped = np.where(grey > threshold, 0.0, 1.0).astype(x.dtype)
    return np.where(np.broadcast_to(mask, flat.shape), flipped, flat).reshape(x.shape)


def importance_sources(
    per_image_maps: np.ndarray,
    images: np.ndarray,
    local_map: np.ndarray,
    mean_map: np.ndarray,
    permutation_map: np.ndarray | None,
    train_images: np.ndarray,
) -> dict[str, np.ndarray]:
    """Scores per source, flattened to (P,) (global) or (N, P) (per image).

    ``per_image_maps``: the saliency map of every image in ``images``;
    ``local_map``: the one map the paper uses as representative; ``mean_map``:
    the mean saliency map; ``permutation_map``: Inglis et al.'s pixel importance
    summed over latent dimensions (None: left out). Gradient x input is the
    Jacobian's column norm times the pixel's value (both non-negative here).
    """
    n = len(images)
    sources = {
        "csda_local": local_map.reshape(-1),
        "csda_mean": mean_map.reshape(-1),
        "csda_per_image": per_image_maps.reshape(n, -1),
        "permutation": None if permutation_map is None else permutation_map.reshape(-1),
        "grad_x_input": (per_image_maps * np.abs(images)).reshape(n, -1),
        "variance": train_images.reshape(len(train_images), -1).var(axis=0, dtype=np.float64),
    }
    return {k: np.asarray(v) for k, v in sources.items() if v is not None}


def corruption_runs(
    classifiers: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    x: np.ndarray,
    y: np.ndarray,
    scores: Mapping[str, np.ndarray],
    fractions: tuple[float, ...] = (0.1, 0.2, 0.3),
    random_seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    tie_seed: int = 0,
    threshold: int = 100,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Accuracy of every classifier (name -> images -> labels) on the
    corrupted test set, for every source in ``scores`` plus ``random`` (one
    ranking per seed of ``random_seeds``; none if empty), both ends of the
    ranking and every fraction, with the clean accuracy as fraction 0. Each
    corrupted set is built once and scored by every classifier.

    One row per run. Columns: classifier, source, which, fraction,
    random_seed (-1 for the deterministic sources), accuracy.
    """
    n_pixels = int(np.prod(x.shape[1:]))
    clean = {name: float(np.mean(classify(x) == y)) for name, classify in classifiers.items()}
    orders = {(name, -1): rank_pixels(s, tie_seed) for name, s in scores.items()}
    orders.update({("random", seed): np.random.default_rng(seed).permutation(n_pixels) for seed in random_seeds})
    rows = []
    for name in [*scores, *(["random"] if random_seeds else [])]:
        keys = [("random", seed) for seed in random_seeds] if name == "random" else [(name, -1)]
        for which in WHICH:
            for _, seed in keys:
                rows += [(c, name, which, 0.0, seed, acc) for c, acc in clean.items()]
            for fraction in fractions:
                if progress:
                    progress(f"{name} {which} {fraction:.0%}")
                for key in keys:
                    corrupted = corrupt_pixels(x, pixel_mask(orders[key], fraction, which), threshold)
                    for c, classify in classifiers.items():
                        rows.append((c, name, which, float(fraction), key[1], float(np.mean(classify(corrupted) == y))))
    return pd.DataFrame(rows, columns=["classifier", "source", "which", "fraction", "random_seed", "accuracy"])


def summarise_corruption(runs: pd.DataFrame) -> pd.DataFrame:
    """Per source, end and fraction: the mean accuracy over all runs (every
    classifier, and every random seed for ``random``), its sample standard
    deviation over those runs (0 for a single run), the number of runs and of
    classifiers. Rows in the order of ``runs``."""
    return (
        runs.groupby(["source", "which", "fraction"], sort=False)
        .agg(
            accuracy=("accuracy", "mean"),
            accuracy_std=("accuracy", lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else 0.0),
            runs=("accuracy", "size"),
            classifiers=("classifier", "nunique"),
        )
        .reset_index()
    )


def corrupted_examples(
    x: np.ndarray, order: np.ndarray, fractions: tuple[float, ...], threshold: int = 100
) -> dict[str, np.ndarray]:
    """For the Fig. 10 panel: ``x`` (k, H, W) corrupted at each fraction, both
    ends: arrays ``most`` and ``least`` of shape (fractions, k, H, W)."""
    return {
        which: np.stack([corrupt_pixels(x, pixel_mask(order, f, which), threshold) for f in fractions])
        for which in WHICH
    }


def label_predictor(model, batch: int = 128, memory_format: str = "auto") -> Callable[[np.ndarray], np.ndarray]:
    """images (N, H, W) -> predicted labels, with ``model`` (a classifier) in
    eval mode on its device. A CNN runs as in training (``aemap.models.layout``):
    max-pool before ReLU, and channels-last feature maps on the CPU (``auto``);
    a label can differ from PyTorch's layout only where two logits tie to
    float rounding. The Table 3 CNN labelled MNIST's 10,000 test images in
    1.2 s on two AVX2 cores this way (batch 128; 1.3-1.4 s at 32-256, 2.5 s
    at 2048, whose feature maps outgrow the caches), against 4.4-4.9 s in
    PyTorch's layout at batch 2048."""
    import torch

    from aemap.models.layout import channels_last, pool_before_relu, uses_channels_last

    device = next(model.parameters()).device
    model.eval()
    fast_layout = uses_channels_last(model, device, memory_format)

    @torch.inference_mode()
    def labels(x: np.ndarray) -> np.ndarray:
        out = [
            model(torch.as_tensor(x[i : i + batch], dtype=torch.float32, device=device)).argmax(1).cpu().numpy()
            for i in range(0, len(x), batch)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def predict(x: np.ndarray) -> np.ndarray:
        with channels_last(model, fast_layout), pool_before_relu(model, keep=None):
            return labels(x)

    return predict
