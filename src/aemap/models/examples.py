"""Reconstructions of a few test images per class, for the figures."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from aemap.models.train import corrupt


def example_indices(y: np.ndarray, n_classes: int, per_class: int) -> np.ndarray:
    """The first ``per_class`` test rows of every class, class by class."""
    picks = [np.nonzero(y == c)[0][:per_class] for c in range(n_classes)]
    return np.concatenate(picks).astype(np.int64)


@torch.no_grad()
def reconstruction_examples(
    model: nn.Module, arrays: dict[str, np.ndarray], per_class: int, noise: float = 0.0, seed: int = 0
) -> dict[str, np.ndarray]:
    """Clean images, the inputs the model saw (noisy for a denoising AE) and its reconstructions."""
    n_classes = len(arrays["classes"])
    if per_class <= 0:
        per_class = max(1, 10 // n_classes)
    idx = example_indices(arrays["y_test"], n_classes, per_class)
    clean = torch.as_tensor(arrays["x_test"][idx])
    inputs = corrupt(clean, noise, torch.Generator().manual_seed(seed))
    model.eval()
    return {
        "index": idx,
        "y": arrays["y_test"][idx],
        "classes": arrays["classes"],
        "image_origin": arrays["image_origin"],
        "clean": clean.numpy(),
        "input": inputs.numpy(),
        "reconstruction": model(inputs).numpy(),
        "noise": np.float64(noise),
    }
