"""Sanity check 2 (Arumugam & Kiran Fig. 9): when the digits move to the
top-left of a larger canvas, the saliency map should move with them.

Positions are (row, column), measured from the canvas centre, so a map that
follows its digits shows the same shift as the digits themselves
(-7, -7 pixels for 28x28 digits at the top-left of 42x42).
"""

from __future__ import annotations

import numpy as np


def centre_of_mass(maps: np.ndarray) -> np.ndarray:
    """(..., 2) weighted mean (row, column) of non-negative maps (..., H, W)."""
    maps = np.asarray(maps, dtype=np.float64)
    height, width = maps.shape[-2:]
    total = maps.sum(axis=(-2, -1))
    rows = (maps.sum(axis=-1) * np.arange(height)).sum(axis=-1) / total
    cols = (maps.sum(axis=-2) * np.arange(width)).sum(axis=-1) / total
    return np.stack([rows, cols], axis=-1)


def from_centre(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(row, column) relative to the centre of an image of ``shape`` (H, W)."""
    return np.asarray(points) - (np.asarray(shape[-2:], dtype=np.float64) - 1) / 2


def top_share(maps: np.ndarray, share: float = 0.1) -> np.ndarray:
    """Maps with everything below their top ``share`` of pixels set to 0: where the contours are."""
    flat = np.asarray(maps, dtype=np.float64).reshape(*maps.shape[:-2], -1)
    cut = np.quantile(flat, 1 - share, axis=-1, keepdims=True)
    return np.where(flat >= cut, flat, 0.0).reshape(maps.shape)


def translation_shift(
    base_maps: np.ndarray, moved_maps: np.ndarray, base_images: np.ndarray, moved_images: np.ndarray
) -> dict[str, object]:
    """Shift of the centres of mass, from the base model's (images, maps) to the
    moved model's, each relative to its own canvas centre: per image (mean and
    sd over images) and for the mean maps; for the whole maps and for their
    top 10 % (the contours' core). The digits' own shift is the yardstick."""

    def shift(base: np.ndarray, moved: np.ndarray) -> np.ndarray:
        return from_centre(centre_of_mass(moved), moved.shape) - from_centre(centre_of_mass(base), base.shape)

    per_image = shift(base_maps, moved_maps)
    per_image_core = shift(top_share(base_maps), top_share(moved_maps))
    digits = shift(base_images, moved_images)
    return {
        "images": int(len(base_maps)),
        "digit_shift": digits.mean(axis=0).tolist(),
        "saliency_shift_mean_map": shift(base_maps.mean(axis=0), moved_maps.mean(axis=0)).tolist(),
        "saliency_shift_per_image_mean": per_image.mean(axis=0).tolist(),
        "saliency_shift_per_image_sd": per_image.std(axis=0, ddof=1).tolist() if len(per_image) > 1 else [0.0, 0.0],
        "saliency_top10_shift_mean_map": shift(
            top_share(base_maps.mean(axis=0)), top_share(moved_maps.mean(axis=0))
        ).tolist(),
        "saliency_top10_shift_per_image_mean": per_image_core.mean(axis=0).tolist(),
        "base_saliency_com": from_centre(centre_of_mass(base_maps.mean(axis=0)), base_maps.shape).tolist(),
        "moved_saliency_com": from_centre(centre_of_mass(moved_maps.mean(axis=0)), moved_maps.shape).tolist(),
        # (row, column) in each canvas's own pixels, as drawn in the figure.
        "base_mean_map_com_px": centre_of_mass(base_maps.mean(axis=0)).tolist(),
        "moved_mean_map_com_px": centre_of_mass(moved_maps.mean(axis=0)).tolist(),
        "base_canvas": list(base_maps.shape[-2:]),
        "moved_canvas": list(moved_maps.shape[-2:]),
    }


def paired_maps(base: dict[str, np.ndarray], moved: dict[str, np.ndarray], origin: str = "") -> tuple[np.ndarray, ...]:
    """(base maps, moved maps, base images, moved images) of the test images both
    saliency files hold (matched by test index; labels must agree)."""
    common, in_base, in_moved = np.intersect1d(base["index"], moved["index"], return_indices=True)
    if len(common) == 0:
        raise ValueError(f"{origin}: the two saliency files share no test image")
    if not np.array_equal(base["y"][in_base], moved["y"][in_moved]):
        raise ValueError(f"{origin}: the same test index has different labels in the two files (different data?)")
    return base["maps"][in_base], moved["maps"][in_moved], base["images"][in_base], moved["images"][in_moved]


# The shifts that are averaged over trainings of the translated model (each
# also gets its sd over trainings, ``<key>_sd``).
SHIFT_KEYS = (
    "saliency_shift_mean_map",
    "saliency_shift_per_image_mean",
    "saliency_top10_shift_mean_map",
    "saliency_top10_shift_per_image_mean",
    "moved_saliency_com",
)


def combine_trainings(results: list[dict[str, object]], seeds: list[int | None], experiments: list[str]) -> dict:
    """Check 2 over several trainings of the translated model, each measured
    against the same base model on the same test images (``translation_shift``
    per training): the shifts' mean over trainings under their own keys (what
    the replication table judges), their sd over trainings as ``<key>_sd``
    (0 for one training), and every training's own result under
    ``trainings``. ``saliency_shift_per_image_sd`` is the mean over trainings
    of the per-image sd within each."""
    if not results or not len(results) == len(seeds) == len(experiments):
        counts = f"{len(results)} results, {len(seeds)} seeds, {len(experiments)} experiments"
        raise ValueError(f"check 2 needs one result, seed and experiment per training: {counts}")
    first = results[0]
    for experiment, result in zip(experiments[1:], results[1:], strict=True):
        if result["digit_shift"] != first["digit_shift"] or result["images"] != first["images"]:
            raise ValueError(
                f"{experiment}: other test images than {experiments[0]} (digits moved by {result['digit_shift']} "
                f"over {result['images']} images, against {first['digit_shift']} over {first['images']})"
            )
    combined: dict[str, object] = {
        key: first[key]
        for key in ("images", "digit_shift", "base_saliency_com", "base_mean_map_com_px", "base_canvas", "moved_canvas")
    }
    for key in SHIFT_KEYS:
        values = np.asarray([r[key] for r in results], dtype=np.float64)
        combined[key] = values.mean(axis=0).tolist()
        combined[f"{key}_sd"] = (values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])).tolist()
    combined["saliency_shift_per_image_sd"] = np.mean(
        [r["saliency_shift_per_image_sd"] for r in results], axis=0
    ).tolist()
    combined["trainings"] = [
        {"seed": seed, "experiment": experiment, **result}
        for seed, experiment, result in zip(seeds, experiments, results, strict=True)
    ]
    return combined
