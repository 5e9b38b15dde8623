"""Gradient saliency of an encoder's latent variables with respect to its
input pixels (Arumugam & Kiran, Secs. 4-5).

* Complex-step derivative approximation (CSDA): run the encoder in
  complex128 on ``x + i h e_k``; then d z / d x_k = Im(z) / h, free of
  subtractive cancellation, so h can be tiny (1e-16). PyTorch defines no
  complex ReLU: as in the paper's Eq. 6 it gates on the real part,
  ``relu(z) = z * (Re z > 0)``.
* The paper's procedure, one complex pass per pixel, is
  ``aemap.explain.reference.csda_jacobian_loop`` (tests and benchmarks only).
* The batched CSDA never builds the F perturbed copies of an image: for a
  dense first layer, ``(x + i h e_k) W^T + b = (x W^T + b) + i h W[:, k]``, so
  the first layer's imaginary part for every pixel is just ``h W^T``.
* Autograd (``torch.func.jacrev`` in float64) is the independent cross-check
  and the fast default.
* Both run where the encoder's parameters lie (CPU or GPU) and return their
  Jacobian on the CPU.

Saliency of a pixel = L2 norm of its column of the Jacobian (over latents).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from aemap.compute import at_inference, check_finite

_ELEMENTWISE = {nn.Sigmoid: torch.sigmoid, nn.Tanh: torch.tanh}


def encoder_layers(encoder: nn.Module) -> list[nn.Module]:
    layers = list(encoder) if isinstance(encoder, nn.Sequential) else [encoder]
    for m in layers:
        if isinstance(m, nn.Dropout) and m.training:
            raise ValueError("complex-step forward: Dropout in training mode is random; call encoder.eval() first")
        if not isinstance(m, (nn.Flatten, nn.Linear, nn.ReLU, nn.Identity, nn.Dropout, *_ELEMENTWISE)):
            raise ValueError(
                f"complex-step forward: unsupported layer {type(m).__name__} (dense encoders: "
                "Flatten, Linear, ReLU, Sigmoid, Tanh, Identity, Dropout); use method='autograd'"
            )
    return layers


def csda_supported(encoder: nn.Module) -> bool:
    """Whether the complex step can run ``encoder`` (``encoder_layers`` accepts it)."""
    try:
        encoder_layers(encoder)
    except ValueError:
        return False
    return True


class ComplexEncoder:
    """The encoder on complex input, carried as (real, imaginary) float64 pairs.

    With real weights a Linear layer maps real and imaginary parts separately,
    and Eq. 6's ReLU gates both by the real part, so these layers need no
    complex products: two real ones, and the real part may be shared (shape
    broadcast) by every perturbed copy of an image. Sigmoid and tanh use true
    complex arithmetic.
    """

    def __init__(self, layers: Sequence[nn.Module]):
        self.steps: list[tuple[str, object]] = []
        for m in layers:
            if isinstance(m, nn.Flatten):
                self.steps.append(("flatten", m.start_dim))
            elif isinstance(m, nn.Linear):
                bias = m.bias.detach().double() if m.bias is not None else None
                self.steps.append(("linear", (m.weight.detach().double().t().contiguous(), bias)))
            elif isinstance(m, nn.ReLU):
                self.steps.append(("relu", None))
            elif type(m) in _ELEMENTWISE:
                self.steps.append(("map", _ELEMENTWISE[type(m)]))
            # Identity, and Dropout at inference (encoder_layers refuses it in training): no step.

    def __call__(self, real: torch.Tensor, imag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for kind, arg in self.steps:
            if kind == "flatten":
                real, imag = real.flatten(arg), imag.flatten(arg)
            elif kind == "linear":
                weight_t, bias = arg
                real = real @ weight_t if bias is None else real @ weight_t + bias
                imag = imag @ weight_t
            elif kind == "relu":
                gate = real > 0
                real, imag = real * gate, imag * gate
            else:
                z = arg(torch.complex(*torch.broadcast_tensors(real, imag)))
                real, imag = z.real, z.imag
        return real, imag


@torch.no_grad()
def csda_jacobian(
    encoder: nn.Module, x: np.ndarray | torch.Tensor, h: float = 1e-16, images_per_pass: int = 8
) -> torch.Tensor:
    """Batched complex step: every pixel of ``images_per_pass`` images in one pass. (B, latent, pixels)."""
    device = _device_of(encoder)
    layers = encoder_layers(encoder)
    while layers and isinstance(layers[0], nn.Flatten):
        layers = layers[1:]
    first = layers[0] if layers and isinstance(layers[0], nn.Linear) else None
    rest = ComplexEncoder(layers[1:] if first is not None else layers)
    x = torch.as_tensor(x, dtype=torch.float64).reshape(len(x), -1).to(device)
    n_pixels = x.shape[1]
    out = []
    for start in range(0, len(x), images_per_pass):
        xb = x[start : start + images_per_pass]
        if first is not None:
            w = first.weight.detach().double()
            real = xb @ w.t() + (first.bias.detach().double() if first.bias is not None else 0)
            # Every pixel's copy shares the real part (B, 1, hidden); its imaginary part is h W[:, k].
            _, imag = rest(real[:, None, :], (h * w.t())[None].expand(len(xb), -1, -1))
        else:
            eye = torch.eye(n_pixels, dtype=torch.float64, device=device)
            _, imag = rest(xb[:, None, :], h * eye[None].expand(len(xb), -1, -1))
        out.append((imag / h).transpose(1, 2).cpu())
    return torch.cat(out)


def autograd_jacobian(encoder: nn.Module, x: np.ndarray | torch.Tensor, images_per_pass: int = 64) -> torch.Tensor:
    """Reverse-mode Jacobian in float64 (``torch.func.jacrev``, vmapped). (B, latent, pixels)."""
    from torch.func import jacrev, vmap

    enc64 = _float64_copy(encoder)
    x = torch.as_tensor(x, dtype=torch.float64).to(_device_of(encoder))
    shape = x.shape[1:]

    def f(image: torch.Tensor) -> torch.Tensor:
        return enc64(image.reshape(1, *shape)).reshape(-1)

    jac = vmap(jacrev(f))
    parts = [
        jac(x[i : i + images_per_pass].reshape(-1, int(np.prod(shape)))).detach().cpu()
        for i in range(0, len(x), images_per_pass)
    ]
    return torch.cat(parts)


def _device_of(module: nn.Module) -> torch.device:
    """Where the module's parameters lie (the CPU for one without any)."""
    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _float64_copy(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module).double().eval().requires_grad_(False)


def saliency_from_jacobian(jacobian: torch.Tensor) -> np.ndarray:
    """(B, pixels): the L2 norm over latent variables of each pixel's derivatives."""
    return jacobian.pow(2).sum(dim=1).sqrt().numpy()


def saliency_maps(
    encoder: nn.Module,
    x: np.ndarray,
    method: str = "autograd",
    h: float = 1e-16,
    images_per_pass: int = 32,
    check_images: int = 8,
) -> dict[str, np.ndarray]:
    """Per-image saliency maps of ``x`` (N, H, W), their mean, and the largest
    relative difference between the complex step and autograd on the first
    ``check_images`` images (the cross-check is recorded with every result;
    NaN for an encoder the complex step cannot run, e.g. a convolutional one,
    whose maps come from autograd alone). Runs where ``encoder`` lies, in
    eval mode; the encoder is left where and in the mode it was."""
    if method not in ("autograd", "csda"):
        raise ValueError(f"saliency method must be 'autograd' or 'csda', got {method!r}")
    check_finite(x, "saliency")
    with at_inference(encoder):
        if method == "autograd":
            jac = autograd_jacobian(encoder, x, images_per_pass=max(images_per_pass, 64))
        else:
            jac = csda_jacobian(encoder, x, h=h, images_per_pass=images_per_pass)
        k = min(check_images, len(x))
        rel = np.float64("nan")
        if method == "csda" or csda_supported(encoder):
            other = csda_jacobian(encoder, x[:k], h=h) if method == "autograd" else autograd_jacobian(encoder, x[:k])
            scale = float(jac[:k].abs().max()) or 1.0
            rel = np.float64(float((other - jac[:k]).abs().max()) / scale)
    maps = saliency_from_jacobian(jac).reshape(x.shape).astype(np.float32)
    return {
        "maps": maps,
        "mean_map": maps.mean(axis=0),
        "csda_vs_autograd_rel": rel,
        "method": np.array(method),
    }
