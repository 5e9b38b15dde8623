"""Fractal (1/f^p) noise and the fractal noise pyramid (Shi et al. Sec. 3.4).

A noise image is drawn in the frequency domain: complex Gaussian
coefficients, amplitude scaled by ``F^(-p/2)`` (so the power spectrum falls
as ``F^-p``), inverse FFT. ``F`` is the radial frequency in cycles per pixel;
the constant (F = 0) term is zero, so noise is centred on 0. The coefficients
are drawn as the real FFT of white N(0, 1) pixel noise: the same complex
Gaussian law with the Hermitian symmetry a real image needs, from half the
random numbers. The paper's scale alpha is chosen here so that each image's
expected pixel standard deviation is exactly ``sd``: white noise has
E|W_f|^2 = N for N pixels, so Var = sum(s_f^2) / N for per-frequency scale
``s_f``.

The pyramid has ``levels = D + 1`` images, level ``d`` with ``p = 3 - d/D``
and ``sd = 0.2 - d/(20 D)``: level 0 (smooth, strong) perturbs where the mask
is 0, level D (rough, weak) where it is 1 (Eq. 14).
"""

from __future__ import annotations

import math

import torch

from aemap.attribution.streams import Random, random_tensor


def radial_frequency(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    fy = torch.fft.fftfreq(height, device=device, dtype=torch.float64)
    fx = torch.fft.fftfreq(width, device=device, dtype=torch.float64)
    return torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def spectral_scale(height: int, width: int, p: float, sd: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """Per-frequency amplitude (H, W) giving power ~ F^-p and pixel sd ``sd``."""
    f = radial_frequency(height, width, device)
    s = torch.zeros_like(f)
    nonzero = f > 0
    s[nonzero] = f[nonzero] ** (-p / 2)
    n = height * width
    s *= sd * math.sqrt(n) / torch.sqrt((s**2).sum())
    return s


def pyramid_parameters(levels: int = 6) -> list[tuple[float, float]]:
    """(p, sd) of each level d = 0 .. D, D = levels - 1 (the paper: D = 5)."""
    if levels < 2:
        raise ValueError(f"pyramid: needs at least 2 levels, got {levels}")
    depth = levels - 1
    return [(3.0 - d / depth, 0.2 - d / (20.0 * depth)) for d in range(levels)]


class FractalNoise:
    """Draws batches of noise images with fixed (p, sd) per level.

    ``scales`` is (L, H, W); ``draw(n)`` returns (n, L, H, W) float32."""

    def __init__(self, shape: tuple[int, int], params: list[tuple[float, float]], device: torch.device | str = "cpu"):
        h, w = shape
        self.shape = (h, w)
        self.params = list(params)
        self.scales = torch.stack([spectral_scale(h, w, p, sd, device) for p, sd in params]).float()
        self._half = self.scales[..., : w // 2 + 1].contiguous()  # the scales of the real FFT's columns

    @classmethod
    def pyramid(cls, shape: tuple[int, int], levels: int = 6, device: torch.device | str = "cpu") -> FractalNoise:
        return cls(shape, pyramid_parameters(levels), device)

    def draw(self, n: int, generator: Random = None, channels: int = 1) -> torch.Tensor:
        """(n, L, H, W); with ``channels`` C, (n C, L, H, W), image i's channel c
        at row i C + c, independent. The random numbers are drawn per image
        (n, C L, H, W), so per-item streams see n items and C = 1 draws what it always did."""
        levels, h, w = self.scales.shape
        white = random_tensor(generator, torch.randn, (n, channels * levels, h, w), device=self.scales.device)
        spectrum = torch.fft.rfft2(white.reshape(n * channels, levels, h, w)) * self._half
        return torch.fft.irfft2(spectrum, s=(h, w))


def spectral_slope(images: torch.Tensor) -> float:
    """Least-squares slope of log power against log radial frequency, from the
    mean power spectrum of ``images`` (..., H, W); the F = 0 term is left out."""
    h, w = images.shape[-2:]
    power = (torch.fft.fft2(images.double()).abs() ** 2).reshape(-1, h, w).mean(0)
    f = radial_frequency(h, w)
    keep = f > 0
    x, y = torch.log(f[keep]), torch.log(power[keep])
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def expected_sd(scale: torch.Tensor) -> float:
    """Expected pixel sd of noise with per-frequency amplitude ``scale``."""
    n = scale.shape[-1] * scale.shape[-2]
    return math.sqrt(float((scale.double() ** 2).sum()) / n)
