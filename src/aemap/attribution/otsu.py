"""The mask's area target beta from the attribution map (Shi et al. Eqs. 6-8).

beta is the share of the (input-sized) attribution intensity map above its
Otsu threshold, computed with 200 bins spanning the map's own range. The
authors' code then halves it; ``fraction`` chooses (1.0: the paper, 0.5: the
code). A map without contrast (all values equal, e.g. a target nothing
contributes to) has no Otsu threshold: that is reported, never turned into a
silent beta of 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class FlatMapError(ValueError):
    """The attribution map is constant: Otsu's threshold is undefined."""


@dataclass(frozen=True)
class Beta:
    value: float
    threshold: float
    source: str  # "otsu" or "fallback"


def otsu_threshold(values: np.ndarray, bins: int = 200) -> float:
    """Otsu's threshold of ``values`` on ``bins`` bins over [min, max]."""
    from skimage.filters import threshold_otsu

    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("attribution map has non-finite values")
    lo, hi = float(values.min()), float(values.max())
    if not hi - lo > 1e-12 * max(1.0, abs(hi)):
        raise FlatMapError(f"attribution map is constant ({lo:g}): no Otsu threshold")
    return float(threshold_otsu(values, nbins=bins))


def otsu_beta(heatmap: np.ndarray, bins: int = 200, fraction: float = 1.0, fallback: float | None = None) -> Beta:
    """beta = ``fraction`` x the share of pixels of ``heatmap`` above Otsu's threshold.

    With ``fallback`` set, a constant map gives ``Beta(fallback, nan, "fallback")``;
    without, it raises :class:`FlatMapError`."""
    try:
        t = otsu_threshold(heatmap, bins)
    except FlatMapError:
        if fallback is None:
            raise
        return Beta(float(fallback), float("nan"), "fallback")
    share = float(np.mean(np.asarray(heatmap) > t))
    return Beta(fraction * share, t, "otsu")
