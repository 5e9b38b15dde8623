"""How the masked-out region is filled: the composite C(X, M, P) (Shi et al.
Sec. 3.4, Eqs. 9-14). ``M`` = 1 keeps the visualisation X, ``M`` = 0 replaces
it by the perturbation.

* ``none``: no mask, C = X (classic feature visualisation);
* ``constant``: C = M X + (1 - M) c (Eq. 10; the paper's c = 0.5);
* ``gaussian``: the constant replaced by clip(centre + sd N(0, 1)) (Eq. 11);
* ``fractal``: one fractal noise image with fixed (p, sd), centred, clipped;
* ``pyramid``: the fractal noise pyramid (Eq. 14): the mask value m picks the
  level at position m D and interpolates linearly between its two nearest
  levels (level 0 where m = 0);
* ``blur``: each pixel blurred with sigma = sigma_max (1 - M) (Eq. 9), built as
  a stack of blurs of X at evenly spaced sigmas, interpolated per pixel.

Noise is drawn afresh every step from the caller's generator. Images of
several channels (RGB) share one mask: each channel is blurred on its own
and gets noise of its own (colour noise), drawn as one channel per image
would be, channel after channel, so a one-channel image draws what it
always did.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aemap.attribution.noise import FractalNoise
from aemap.attribution.perturb_settings import PERTURBATIONS, PerturbationSettings
from aemap.attribution.streams import Random, random_tensor


def _gaussian_1d(sigma: float, size: int) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    if sigma <= 0:
        return (r == 0).double()
    return torch.exp(-(r**2) / (2 * sigma**2))


def gaussian_kernel(sigma: tuple[float, float], size: tuple[int, int]) -> torch.Tensor:
    """Normalised 2-D Gaussian kernel of (rows, columns) ``size`` with
    per-axis ``sigma`` (rows, columns); sigma 0 is the identity along that axis."""
    sy, sx = sigma
    ny, nx = size
    k = _gaussian_1d(sy, ny)[:, None] * _gaussian_1d(sx, nx)[None, :]
    return k / k.sum()


class Perturbation:
    """Composites for one perturbation kind on (N, C, H, W) images with (N, 1, H, W) masks."""

    def __init__(
        self,
        kind: str,
        shape: tuple[int, int],
        s: PerturbationSettings = PerturbationSettings(),
        device: torch.device | str = "cpu",
    ):
        if kind not in PERTURBATIONS:
            raise ValueError(f"perturbation: unknown kind {kind!r}; known: {', '.join(PERTURBATIONS)}")
        self.kind, self.s, self.shape = kind, s, shape
        self.uses_mask = kind != "none"
        if kind == "pyramid":
            self.noise = FractalNoise.pyramid(shape, s.pyramid_levels, device)
        elif kind == "fractal":
            self.noise = FractalNoise(shape, [(s.fractal_p, s.fractal_sd)], device)
        if kind == "blur":
            size = s.blur_kernel_size()
            sigmas = [s.blur_sigma_max_px * i / (s.blur_levels - 1) for i in range(s.blur_levels)]
            sx, sy = s.px_scale
            self.kernels = (
                torch.stack([gaussian_kernel((sg * sy, sg * sx), size) for sg in sigmas])[:, None].float().to(device)
            )
            self.padding = (size[1] // 2, size[1] // 2, size[0] // 2, size[0] // 2)

    def noise_images(self, n: int, generator: Random, device: torch.device | str, channels: int = 1) -> torch.Tensor:
        """(n C, L, H, W) perturbation images in [0, 1] for n images of C
        channels (L levels; 1 but for the pyramid): image i's channel c is row
        i C + c, each channel's noise its own."""
        if self.kind == "gaussian":
            z = random_tensor(generator, torch.randn, (n, channels, *self.shape), device=device)
            return (self.s.centre + self.s.gaussian_sd * z).clamp(0, 1).reshape(n * channels, 1, *self.shape)
        if self.kind in ("fractal", "pyramid"):
            return (self.s.centre + self.noise.draw(n, generator, channels)).clamp(0, 1)
        raise ValueError(f"{self.kind} draws no noise")

    def composite(self, x: torch.Tensor, m: torch.Tensor | None, generator: Random) -> torch.Tensor:
        """C(X, M, P) for (N, C, H, W) ``x`` and (N, 1, H, W) ``m`` (``m`` ignored for none)."""
        if self.kind == "none":
            return x
        assert m is not None
        if self.kind == "constant":
            return m * x + (1 - m) * self.s.constant
        if self.kind == "blur":
            return self._blur(x, m)
        n, channels, h, w = x.shape
        noise = self.noise_images(n, generator, x.device, channels)
        if self.kind == "pyramid":
            noise = select_level(noise, _per_channel(m[:, 0], channels))
        return m * x + (1 - m) * noise.reshape(n, channels, h, w)

    def _blur(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        n, channels, h, w = x.shape
        padded = F.pad(x.reshape(n * channels, 1, h, w), self.padding, mode="reflect")
        stack = F.conv2d(padded, self.kernels)  # (N C, levels, H, W): each channel blurred at each sigma
        # sigma = sigma_max (1 - M): level 0 (sharp) where M = 1, the last (sigma_max) where M = 0.
        return select_level(stack, _per_channel(1 - m[:, 0], channels)).reshape(n, channels, h, w)


def _per_channel(m: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, H, W) masks as (N C, H, W), image i's repeated for each of its channels."""
    return m if channels == 1 else m.repeat_interleave(channels, 0)


def select_level(levels: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per pixel, the level at position m (L - 1), linearly interpolated.

    ``levels`` (N, L, H, W); ``m`` (N, H, W) in [0, 1]. m = 0 -> level 0,
    m = 1 -> level L - 1."""
    n_levels = levels.shape[1]
    pos = m.clamp(0, 1) * (n_levels - 1)
    lower = pos.detach().floor().clamp(max=n_levels - 2).long()
    frac = pos - lower
    lo = levels.gather(1, lower[:, None])[:, 0]
    hi = levels.gather(1, (lower + 1)[:, None])[:, 0]
    return lo + frac * (hi - lo)
