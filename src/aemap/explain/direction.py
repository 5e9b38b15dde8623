"""Direction of each (input feature, latent dimension) relation: the slope of
a simple linear regression of the latent value on the feature over the test
set (Inglis et al.; ``aim``'s vimp_direction), all pairs in one matrix product.

Rules for "neutral" (sign 0):
* ``aim`` (default): only a constant feature (its regression is undefined).
  ``aim``'s own threshold is applied after ``sign()`` and so never acts.
* ``significance``: also when the slope is not significant at level ``alpha``
  (two-sided t-test of the regression slope, N - 2 degrees of freedom).
* ``effect``: also when the correlation |r| is below ``min_abs_r``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Direction:
    slope: np.ndarray  # (features, latent)
    r: np.ndarray  # (features, latent) Pearson correlation
    sign: np.ndarray  # (features, latent) int8 in {-1, 0, 1}
    rule: str


def regression_direction(
    x: np.ndarray, z: np.ndarray, rule: str = "aim", alpha: float = 0.05, min_abs_r: float = 0.1
) -> Direction:
    """Slopes of ``z[:, l] ~ x[:, j]`` for every pair, and their signs under ``rule``."""
    if rule not in ("aim", "significance", "effect"):
        raise ValueError(f"direction rule must be aim, significance or effect, got {rule!r}")
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    n = len(x)
    xc, zc = x - x.mean(0), z - z.mean(0)
    sxx, szz = (xc**2).sum(0), (zc**2).sum(0)
    sxz = xc.T @ zc
    varies = (sxx > 0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(varies, sxz / sxx[:, None], 0.0)
        r = np.where(varies & (szz > 0)[None, :], sxz / np.sqrt(np.outer(sxx, szz)), 0.0)
    sign = np.sign(slope).astype(np.int8)
    sign[~np.broadcast_to(varies, sign.shape)] = 0
    if rule == "significance" and n > 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = r * np.sqrt((n - 2) / np.maximum(1 - r**2, 1e-300))
        p = 2 * stats.t.sf(np.abs(t), n - 2)
        sign[p > alpha] = 0
    elif rule == "effect":
        sign[np.abs(r) < min_abs_r] = 0
    return Direction(slope=slope, r=r, sign=sign, rule=rule)
