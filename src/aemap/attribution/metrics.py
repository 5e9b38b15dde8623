"""The two metrics of Shi et al. Sec. 4.2, and their autoencoder analogue.

* Visualisation correlation: Pearson r, over the neurons of the layer, between
  the activations of the forwarded visualisation and the attributions R_l.
* Classification consistency: whether the target is among the model's top-k
  outputs for the forwarded visualisation (the paper: top-5; with ten classes
  top-1 says more).
* For an autoencoder the target is a latent dimension. Re-encoding the
  visualisation should raise that dimension the most: each dimension is
  standardised by its mean and sd over the test encodings, and top-k asks
  whether the target's standardised value is among the k largest (dimensions
  that never vary are left out).
"""

from __future__ import annotations

import numpy as np


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of (n, ...) arrays; nan where a row is constant."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1), np.nan)


def target_rank(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each row's target among its scores (a tie counts against it)."""
    scores = np.asarray(scores, dtype=np.float64)
    t = scores[np.arange(len(scores)), np.asarray(targets)][:, None]
    return 1 + (scores > t).sum(1) + ((scores == t).sum(1) - 1)


def in_top_k(scores: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """Whether each row's target is among its k largest scores (a tie counts against it)."""
    return target_rank(scores, targets) <= k


def standardised_codes(codes: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Codes in units of each dimension's test-set sd; dead dimensions -> -inf."""
    codes = np.asarray(codes, dtype=np.float64)
    alive = np.asarray(sd) > 0
    out = np.full(codes.shape, -np.inf)
    out[:, alive] = (codes[:, alive] - mean[alive]) / sd[alive]
    return out
