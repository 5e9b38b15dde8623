"""Sanity check 1 (Arumugam & Kiran Fig. 8): an autoencoder trained on one
class only should have saliency maps shaped like that class.

Quantified here (the paper only shows the maps): the Pearson correlation of
each single-class model's mean saliency map with every class's mean image.
A model whose map correlates best with its own class passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def map_image_correlations(mean_maps: np.ndarray, class_means: np.ndarray) -> np.ndarray:
    """(models, classes) Pearson r between flattened maps and class mean images."""
    a = mean_maps.reshape(len(mean_maps), -1).astype(np.float64)
    b = class_means.reshape(len(class_means), -1).astype(np.float64)
    a = (a - a.mean(1, keepdims=True)) / np.linalg.norm(a - a.mean(1, keepdims=True), axis=1, keepdims=True)
    b = (b - b.mean(1, keepdims=True)) / np.linalg.norm(b - b.mean(1, keepdims=True), axis=1, keepdims=True)
    return a @ b.T


def correlation_table(correlations: np.ndarray, model_classes: list[str], image_classes: list[str]) -> pd.DataFrame:
    """Long table: model_class, image_class, r, and whether the model's own class ranks first."""
    best = [image_classes[i] for i in correlations.argmax(axis=1)]
    rows = [
        (m, c, float(correlations[i, j]), best[i] == m)
        for i, m in enumerate(model_classes)
        for j, c in enumerate(image_classes)
    ]
    return pd.DataFrame(rows, columns=["model_class", "image_class", "r", "own_class_best"])


def class_mean_images(x: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, H, W) mean image of each class: what a map "shaped like the digit" looks like."""
    missing = [c for c in range(n_classes) if not np.any(y == c)]
    if missing:
        raise ValueError(f"classes {missing} have no image to average")
    return np.stack([x[y == c].mean(axis=0) for c in range(n_classes)])
