"""Transformation robustness (Shi et al. Sec. 3.2, Eq. 4), differentiable.

The paper's chain on 224-px images: pad 12 (reflection), jitter 9, scale
0.9-1.3, rotate +-12 deg, shear +-4 deg, jitter 4, crop back. All of it is one
random affine map per image, applied with one ``grid_sample`` over the batch:
translations compose with the scale / rotation / shear into a single matrix,
and padding by reflection then cropping back is the same as sampling with
reflection at the border. Pixel amounts are floats (sub-pixel shifts are
bilinear), so the 224-px values scale to 28 px exactly (x 28/224).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TransformSettings:
    jitter1_px: float = 9 * 28 / 224
    scale: tuple[float, float] = (0.9, 1.3)
    rotate_deg: float = 12.0
    shear_deg: float = 4.0
    jitter2_px: float = 4 * 28 / 224
    enabled: bool = True


def random_affine(
    n: int,
    size: tuple[int, int],
    s: TransformSettings,
    generator: torch.Generator | None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(n, 2, 3) matrices for ``affine_grid``: each maps output to input
    coordinates (normalised [-1, 1]) of one random transformation."""
    h, w = size

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator, device=device, dtype=torch.float64)

    # Pixel shifts in normalised units (2 / size per pixel).
    unit = torch.tensor([2.0 / w, 2.0 / h], dtype=torch.float64, device=device)
    t1 = torch.stack([uniform(-s.jitter1_px, s.jitter1_px), uniform(-s.jitter1_px, s.jitter1_px)], 1) * unit
    t2 = torch.stack([uniform(-s.jitter2_px, s.jitter2_px), uniform(-s.jitter2_px, s.jitter2_px)], 1) * unit
    k = uniform(*s.scale)
    a = uniform(-s.rotate_deg, s.rotate_deg) * math.pi / 180
    sh = torch.tan(uniform(-s.shear_deg, s.shear_deg) * math.pi / 180)
    zero, one = torch.zeros_like(k), torch.ones_like(k)
    scale = torch.stack([torch.stack([k, zero], 1), torch.stack([zero, k], 1)], 1)
    rot = torch.stack([torch.stack([a.cos(), -a.sin()], 1), torch.stack([a.sin(), a.cos()], 1)], 1)
    shear = torch.stack([torch.stack([one, sh], 1), torch.stack([zero, one], 1)], 1)
    linear = shear @ rot @ scale  # forward map: p' = L (p + t1) + t2
    inverse = torch.linalg.inv(linear)  # input point of output p': L^-1 (p' - t2) - t1
    offset = -(inverse @ t2[:, :, None])[:, :, 0] - t1
    return torch.cat([inverse, offset[:, :, None]], 2)


def apply_transforms(images: torch.Tensor, s: TransformSettings, generator: torch.Generator | None) -> torch.Tensor:
    """Randomly transform (N, C, H, W) images; identity when disabled."""
    if not s.enabled:
        return images
    n, _, h, w = images.shape
    theta = random_affine(n, (h, w), s, generator, images.device).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
