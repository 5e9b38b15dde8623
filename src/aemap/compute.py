"""Where and how models run: the device from config, and batched evaluation.

Neutral ground for every stage (training, importance, saliency, attribution).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn


def resolve_device(name: str = "auto") -> torch.device:
    """Config ``compute.device``: ``auto`` is CUDA when available, else CPU; a
    CUDA device on a machine without one is an error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"compute.device is {name!r} but no CUDA device is available")
    return device


def cuda_config_error(name: str) -> str | None:
    """The error of config ``compute.device`` on this machine, or None: checked when
    the config is read (where jobs run locally), not when the first job starts."""
    if name == "auto" or not name.startswith("cuda"):
        return None
    if not torch.cuda.is_available():
        return f"compute.device: {name!r} but this machine has no CUDA device (use 'auto' or 'cpu')"
    index = torch.device(name).index
    if index is not None and index >= torch.cuda.device_count():
        return f"compute.device: {name!r} but this machine has {torch.cuda.device_count()} CUDA device(s)"
    return None


@contextlib.contextmanager
def at_inference(*models: object) -> Iterator[None]:
    """Inside, every given ``nn.Module`` in eval mode: dropout off, batch norm
    using (not updating) its running statistics, so explaining a model never
    changes it. Afterwards each submodule's own mode is restored (a model in
    training mode is handed back in training mode). Other callables pass."""
    modules = [m for m in models if isinstance(m, nn.Module)]
    modes = [(sub, sub.training) for m in modules for sub in m.modules()]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for sub, mode in modes:
            sub.training = mode


# What torch's modules raise for an input of the wrong shape.
SHAPE_ERRORS = (RuntimeError, ValueError)


def call_model(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, what: str, note: str = "") -> torch.Tensor:
    """``fn(x)``; where the model rejects the inputs' shape, an error naming
    ``what`` and the shape of one input (``note`` after it) instead of
    torch's own."""
    try:
        return fn(x)
    except SHAPE_ERRORS as err:
        raise ValueError(f"{what}: the model cannot run on inputs shaped {tuple(x.shape[1:])}{note}: {err}") from err


def check_finite(x: object, what: str) -> None:
    """A ``what`` error where ``x`` (array or tensor) has no rows or holds NaN or infinite values."""
    t = torch.as_tensor(x)
    if len(t) == 0:
        raise ValueError(f"{what}: no images in images shaped {tuple(t.shape)}")
    bad = int((~torch.isfinite(t)).sum()) if t.is_floating_point() else 0
    if bad:
        raise ValueError(f"{what}: {bad} values are NaN or infinite in images shaped {tuple(t.shape)}")


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int) -> torch.Tensor:
    """``fn`` over ``x`` in slices of ``batch`` rows, concatenated (no autograd)."""
    return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)]) if len(x) else fn(x)


def cpu_has_fast_bfloat16() -> bool | None:
    """Whether PyTorch's CPU kernels (oneDNN) run bfloat16 natively here (AVX-512
    or AVX2-VNNI-2 on x86); None where this torch does not say. Without them,
    bfloat16 convolutions are emulated: on an AVX2 CPU, 11-14x slower than
    float32 (docs/results.md)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return None
