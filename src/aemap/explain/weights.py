"""The first layer's weights of a dense autoencoder as input-shaped images (the
visualisation note's heatmaps): which input pixels drive each hidden unit."""

from __future__ import annotations

import numpy as np
from torch import nn


def first_layer_weights(model: nn.Module) -> np.ndarray:
    """Weights (units, *input_shape) of the encoder's first linear layer."""
    encoder = getattr(model, "encoder", None)
    linear = next((m for m in encoder.modules() if isinstance(m, nn.Linear)), None) if encoder is not None else None
    if linear is None:
        raise ValueError(f"{type(model).__name__} has no encoder with a linear layer (a dense autoencoder is needed)")
    weights = linear.weight.detach().cpu().numpy()
    shape = tuple(getattr(model, "input_shape", (weights.shape[1],)))
    if int(np.prod(shape)) != weights.shape[1]:
        raise ValueError(f"the first layer takes {weights.shape[1]} inputs, not the input shape {shape}")
    return weights.reshape(weights.shape[0], *shape)


def top_units(weights: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` units with the largest L2 norm of incoming weights,
    largest first (ties: the lower index); all units, in order, when k covers them."""
    n = len(weights)
    if k >= n:
        return np.arange(n)
    norms = np.sqrt((np.asarray(weights, dtype=np.float64).reshape(n, -1) ** 2).sum(axis=1))
    return np.argsort(-norms, kind="stable")[:k]
