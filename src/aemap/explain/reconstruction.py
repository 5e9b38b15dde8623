"""Reconstruction error per image, and as an anomaly score (the visualisation note).

An autoencoder reconstructs what it was trained on better than what it never
saw, so its per-image reconstruction error is an anomaly score: the ROC curve
and its area (AUC) say how well the error alone tells unseen classes from the
test images of the trained ones. ``roc_curve`` and ``roc_auc`` are exact (the
AUC is the Mann-Whitney statistic, ties counting one half), with no library
behind them, and are checked against hand-worked cases in the tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from aemap.compute import batched

ERROR_METRICS = ("mse", "mae", "bce")


def reconstruction_errors(
    model: nn.Module, x: np.ndarray, metric: str = "mse", batch: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """(per-image error (N,) float64, reconstructions (N, ...) float32) of ``model``
    on clean inputs ``x``: the mean over pixels of the squared or absolute
    difference, or of the binary cross-entropy (inputs in [0, 1])."""
    if metric not in ERROR_METRICS:
        raise ValueError(f"unknown reconstruction error {metric!r}; known: {', '.join(ERROR_METRICS)}")
    inputs = torch.as_tensor(np.asarray(x, dtype=np.float32))
    model.eval()
    with torch.no_grad():
        recon = batched(model, inputs, batch)
    a, b = inputs.double().flatten(1), recon.double().flatten(1)
    if metric == "mse":
        err = ((a - b) ** 2).mean(dim=1)
    elif metric == "mae":
        err = (a - b).abs().mean(dim=1)
    else:
        eps = 1e-7  # Keras' clip: a saturated sigmoid must not give an infinite error
        p = b.clamp(eps, 1 - eps)
        err = -(a * p.log() + (1 - a) * (1 - p).log()).mean(dim=1)
    return err.numpy(), recon.numpy()


def _check_scores(normal: np.ndarray, anomalous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    normal, anomalous = np.asarray(normal, dtype=np.float64).ravel(), np.asarray(anomalous, dtype=np.float64).ravel()
    if len(normal) == 0 or len(anomalous) == 0:
        raise ValueError(f"a ROC needs scores of both groups, got {len(normal)} normal and {len(anomalous)} anomalous")
    if not (np.isfinite(normal).all() and np.isfinite(anomalous).all()):
        raise ValueError("anomaly scores must be finite")
    return normal, anomalous


def roc_auc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """P(score of an anomalous item > score of a normal one) + P(tie) / 2: the area
    under the ROC curve, by ranks (Mann-Whitney U / (n_normal n_anomalous))."""
    normal, anomalous = _check_scores(normal, anomalous)
    scores = np.concatenate([normal, anomalous])
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2  # mean of the 1-based ranks s+1 .. e
    n0, n1 = len(normal), len(anomalous)
    u = ranks[n0:].sum() - n1 * (n1 + 1) / 2
    return float(u / (n0 * n1))


def roc_curve(normal: np.ndarray, anomalous: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, thresholds) of the rule "anomalous
    when score >= threshold", one point per distinct score from the highest down,
    starting at (0, 0) with threshold +inf and ending at (1, 1)."""
    normal, anomalous = _check_scores(normal, anomalous)
    thresholds = np.unique(np.concatenate([normal, anomalous]))[::-1]
    normal_sorted, anomalous_sorted = np.sort(normal), np.sort(anomalous)
    # Counts of scores >= each threshold.
    fp = len(normal) - np.searchsorted(normal_sorted, thresholds, side="left")
    tp = len(anomalous) - np.searchsorted(anomalous_sorted, thresholds, side="left")
    fpr = np.r_[0.0, fp / len(normal)]
    tpr = np.r_[0.0, tp / len(anomalous)]
    return fpr, tpr, np.r_[np.inf, thresholds]


def examples_per_class(y: np.ndarray, n: int) -> np.ndarray:
    """Row indices of the first ``n`` items of each class, class by class (labels
    in ascending order): the same images on every rerun."""
    y = np.asarray(y)
    return np.concatenate([np.flatnonzero(y == c)[:n] for c in np.unique(y)]).astype(np.int64)


def unseen_rows(trained_classes: list[str], classes: list[str], y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Rows of ``y`` (labels indexing ``classes``) whose class name is not among
    ``trained_classes``, and the names of those unseen classes present."""
    trained = {str(c) for c in trained_classes}
    unseen_codes = [i for i, name in enumerate(classes) if str(name) not in trained]
    rows = np.flatnonzero(np.isin(np.asarray(y), unseen_codes))
    present = sorted({int(c) for c in np.asarray(y)[rows]})
    return rows, [str(classes[i]) for i in present]


def anomaly_summary(
    normal: np.ndarray, unseen: np.ndarray, unseen_names: np.ndarray, order: list[str] | None = None
) -> dict[str, object]:
    """The ROC of the error as a score (unseen = positive) over all unseen items,
    and the AUC of each unseen class against the same normal items, the classes
    in ``order`` (their label order, as ``unseen_rows`` gives it; else sorted)."""
    fpr, tpr, thresholds = roc_curve(normal, unseen)
    unseen_names = np.asarray(unseen_names)
    names = order if order is not None else sorted(set(unseen_names.tolist()))
    per_class = {str(c): roc_auc(normal, unseen[unseen_names == c]) for c in names}
    return {
        "auc": roc_auc(normal, unseen),
        "per_class_auc": per_class,
        "fpr": fpr,
        "tpr": tpr,
        "thresholds": thresholds,
    }


def errors_by_class(errors: np.ndarray, y: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """Per class present: n, mean, sd, median and 90th percentile of the per-image error."""
    errors, y = np.asarray(errors), np.asarray(y)
    rows = []
    for c, name in enumerate(classes):
        e = errors[y == c]
        if len(e):
            rows.append(
                {
                    "class": name,
                    "n": len(e),
                    "mean": e.mean(),
                    "sd": e.std(),
                    "median": np.median(e),
                    "q90": np.quantile(e, 0.9),
                }
            )
    return pd.DataFrame(rows)
