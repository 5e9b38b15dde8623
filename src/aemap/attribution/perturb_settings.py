"""The perturbations' names and settings (config ``attribution.perturbation``).

Apart from the composites themselves (``aemap.attribution.perturb``, in
torch) so that the workflow can check the config when it reads it without
importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

PERTURBATIONS = ("none", "blur", "constant", "gaussian", "fractal", "pyramid")


@dataclass(frozen=True)
class PerturbationSettings:
    constant: float = 0.5
    centre: float = 0.5  # grey level the noises are centred on
    gaussian_sd: float = 1.0  # the paper: standard normal
    fractal_p: float = 2.0
    fractal_sd: float = 0.2
    pyramid_levels: int = 6  # D + 1
    blur_sigma_max_px: float = 2.0
    blur_kernel: int = 5
    blur_levels: int = 8
    # (x, y): the blur's pixels are these many of the image's pixels along each
    # axis (1 for the images the values were chosen for); the kernel grows with it.
    px_scale: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if self.blur_kernel % 2 != 1:
            raise ValueError(
                f"attribution.perturbation.blur_kernel: {self.blur_kernel} is even; a blur kernel is "
                "centred on its pixel, so its size is odd"
            )

    def blur_kernel_size(self) -> tuple[int, int]:
        """(rows, columns) of the blur kernel: ``blur_kernel`` with its radius
        scaled by ``px_scale`` (rounded; at least the centre pixel)."""
        radius = self.blur_kernel // 2
        sx, sy = self.px_scale
        return (2 * round(radius * sy) + 1, 2 * round(radius * sx) + 1)
