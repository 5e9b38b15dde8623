"""Transformation robustness (Shi et al. Sec. 3.2, Eq. 4), differentiable.

The paper's chain on 224-px images: pad 12 (reflection), jitter 9, scale
0.9-1.3, rotate +-12 deg, shear +-4 deg, jitter 4, crop back. All of it is one
random affine map per image, applied with one ``grid_sample`` over the batch:
translations compose with the scale / rotation / shear into a single matrix,
and padding by reflection then cropping back is the same as sampling with
reflection at the border. Pixel amounts are floats (sub-pixel shifts are
bilinear), so the 224-px values scale to 28 px exactly (x 28/224); for
images of another size ``px_scale`` scales them again (x side / 28, see
``aemap.attribution.visualise.at_image_size``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aemap.attribution.streams import Random, random_tensor


@dataclass(frozen=True)
class TransformSettings:
    jitter1_px: float = 9 * 28 / 224
    scale: tuple[float, float] = (0.9, 1.3)
    rotate_deg: float = 12.0
    shear_deg: float = 4.0
    jitter2_px: float = 4 * 28 / 224
    enabled: bool = True
    # (x, y): the jitters' pixels are these many of the image's pixels along
    # each axis (1 for the images the values were chosen for).
    px_scale: tuple[float, float] = (1.0, 1.0)


def random_affine(
    n: int,
    size: tuple[int, int],
    s: TransformSettings,
    generator: Random,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(n, 2, 3) matrices for ``affine_grid``: each maps output to input
    coordinates (normalised [-1, 1]) of one random transformation.

    The forward map is p' = L (p + t1) + t2 with L = shear . rotate . scale;
    its inverse, p = L^-1 (p' - t2) - t1, is written out in closed form
    (shear and rotation have determinant 1, so L^-1 = R(-a) Sh^-1 / k):
    a handful of elementwise operations instead of batched 2x2 products and
    an inverse, whose per-call overhead cost more than a whole forward pass
    of a one-image step."""
    h, w = size
    # One draw, row by row: jitter1 (x, y), jitter2 (x, y), scale, angle, shear angle.
    j1, j2, rot, shear = s.jitter1_px, s.jitter2_px, s.rotate_deg, s.shear_deg
    bounds = [(-j1, j1), (-j1, j1), (-j2, j2), (-j2, j2), tuple(s.scale), (-rot, rot), (-shear, shear)]
    lo, hi = torch.tensor(bounds, dtype=torch.float64, device=device).T[:, :, None]
    u = lo + (hi - lo) * random_tensor(generator, torch.rand, (7, n), 1, device=device, dtype=torch.float64)
    # Pixel shifts in normalised units (2 / size per pixel).
    px, py = 2.0 * s.px_scale[0] / w, 2.0 * s.px_scale[1] / h
    t1x, t1y = u[0] * px, u[1] * py
    t2x, t2y = u[2] * px, u[3] * py
    k = u[4]
    a = u[5] * (math.pi / 180)
    sh = torch.tan(u[6] * (math.pi / 180))
    c, si = a.cos() / k, a.sin() / k
    # L^-1 = (1/k) [[cos, sin], [-sin, cos]] [[1, -sh], [0, 1]]
    i00, i01 = c, si - c * sh
    i10, i11 = -si, c + si * sh
    ox = -(i00 * t2x + i01 * t2y) - t1x
    oy = -(i10 * t2x + i11 * t2y) - t1y
    return torch.stack([torch.stack([i00, i01, ox], 1), torch.stack([i10, i11, oy], 1)], 1)


def affine_grid(theta: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.affine_grid(theta, (n, c, h, w), align_corners=False)`` by
    broadcasting: the same sampling points, without the batched (h w, 3) x
    (3, 2) product, which costs ~20x more than these few elementwise
    operations for a batch of 28x28 images on the CPU."""
    h, w = size
    xs = (torch.arange(w, device=theta.device, dtype=theta.dtype) * 2 + 1) / w - 1  # pixel centres
    ys = (torch.arange(h, device=theta.device, dtype=theta.dtype) * 2 + 1) / h - 1
    t = theta[:, :, :, None, None]  # (n, 2, 3, 1, 1)
    grid = t[:, :, 0] * xs[None, None, None, :] + t[:, :, 1] * ys[None, None, :, None] + t[:, :, 2]
    return grid.permute(0, 2, 3, 1)  # (n, h, w, 2): x then y, as grid_sample reads it


def apply_transforms(images: torch.Tensor, s: TransformSettings, generator: Random) -> torch.Tensor:
    """Randomly transform (N, C, H, W) images; identity when disabled."""
    if not s.enabled:
        return images
    n, _, h, w = images.shape
    theta = random_affine(n, (h, w), s, generator, images.device).to(images.dtype)
    grid = affine_grid(theta, (h, w))
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
