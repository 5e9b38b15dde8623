"""The papers' algorithms, literally, as yardsticks for tests and benchmarks;
never used by the workflow.

* Inglis et al. Algorithm 1 (``aim``'s vimp_input / vimp_encoded): one full
  re-encode (or re-decode) per feature and permutation, with the same
  permutation indices as the fast implementation in ``permutation.py``.
* Arumugam & Kiran's complex step: one complex forward pass per pixel.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from aemap.explain.permutation import PIXEL_STREAM, feature_permutation, latent_stream
from aemap.explain.saliency import ComplexEncoder, encoder_layers


@torch.no_grad()
def pixel_latent_importance_reference(
    encoder: nn.Module, x: np.ndarray, n_permutations: int = 4, metric: str = "mse", seed: int = 0
) -> np.ndarray:
    """(permutations, features, latent) per-permutation importances."""
    encoder.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    n, shape = len(xt), tuple(xt.shape[1:])
    flat = xt.reshape(n, -1)
    z = encoder(xt).reshape(n, -1)
    out = np.zeros((n_permutations, flat.shape[1], z.shape[1]))
    for r in range(n_permutations):
        for j in range(flat.shape[1]):
            permuted = flat.clone()
            permuted[:, j] = flat[feature_permutation(seed, PIXEL_STREAM, r, j, n), j]
            zp = encoder(permuted.view(n, *shape)).reshape(n, -1)
            mse = ((zp - z) ** 2).double().mean(0)
            out[r, j] = (mse.sqrt() if metric == "rmse" else mse).numpy()
    return out


@torch.no_grad()
def latent_importance_reference(
    encoder: nn.Module,
    decoder: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    n_permutations: int = 4,
    against: str = "reconstruction",
    seed: int = 0,
) -> np.ndarray:
    """(permutations, classes, latent) per-permutation importances."""
    encoder.eval()
    decoder.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    z_all = encoder(xt).reshape(len(xt), -1)
    out = np.zeros((n_permutations, n_classes, z_all.shape[1]))
    for c in range(n_classes):
        members = np.nonzero(np.asarray(y) == c)[0]
        if len(members) < 2:
            continue
        z = z_all[members]
        target = xt[members].reshape(len(members), -1)
        recon = decoder(z).reshape(len(members), -1)
        for r in range(n_permutations):
            for d in range(z.shape[1]):
                zp = z.clone()
                zp[:, d] = z[feature_permutation(seed, latent_stream(c), r, d, len(members)), d]
                rp = decoder(zp).reshape(len(members), -1)
                if against == "reconstruction":
                    value = ((rp - recon) ** 2).double().mean()
                else:
                    value = ((rp - target) ** 2).double().mean() - ((recon - target) ** 2).double().mean()
                out[r, c, d] = float(value)
    return out


@torch.no_grad()
def csda_jacobian_loop(encoder: nn.Module, x: np.ndarray | torch.Tensor, h: float = 1e-16) -> torch.Tensor:
    """The paper's procedure: one complex forward pass per pixel (all images of
    ``x`` at once, pixel by pixel). (B, latent, pixels)."""
    forward = ComplexEncoder(encoder_layers(encoder))
    x = torch.as_tensor(x, dtype=torch.float64).reshape(len(x), -1)
    columns = []
    for k in range(x.shape[1]):
        imag = torch.zeros_like(x)
        imag[:, k] = h  # x + i h e_k
        columns.append(forward(x, imag)[1] / h)
    return torch.stack(columns, dim=2)
