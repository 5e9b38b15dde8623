"""Faster ways to run a CNN: channels-last feature maps (the same values
to float rounding) and max-pool before ReLU (the same values exactly).

**Channels-last** (``memory_format``). Two of PyTorch's NCHW kernels are slow
on an AVX2 CPU: the 1-channel first convolution (2 GFLOP/s, 13x slower than
channels-last) and the 2x2 max-pool (10x). With a network's 4-D weights
stored channels-last, oneDNN runs every convolution in that layout. Values
agree to float rounding, not bit for bit (the kernels sum in another order),
so the layout is a setting of its own where it changes a result (training).
``auto`` takes it on the CPU for a network with 2-D convolutions; a GPU's
fp32 convolutions have no such gap.

**Max-pool before ReLU** (``pool_before_relu``). ReLU -> max-pool pairs run
as max-pool -> ReLU, with equal values and gradients and a quarter of the
ReLU's work under a 2x2 pool.

ReLU is non-decreasing, so max(relu(x)) over a window equals relu(max(x))
exactly (no rounding: both pick an element and clip it at 0). The gradient
is equal too: where the window's maximum is positive both orders pass the
gradient to the same element; where it is not, ReLU's derivative is 0 in
both. With max-pool first the ReLU and its backward pass touch the pooled
map only. Measured with a batch of 64 through the Table 3 CNN on one and on
two AVX2 cores (interleaved, best of 5), a visualisation step of ``conv2``
took 6-24 % less time, of ``conv3`` (two such pairs before it) 6-30 % less,
and the visualisations were byte-identical; training gave bit-identical
weights.

Only an ``nn.Sequential``'s own forward is rewritten, so a pair is fused
only where the ReLU's output can go nowhere but into the pool. A ReLU whose
output is read (the attributed layer, or any ReLU with hooks) is left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def _fusable(relu: nn.Module, pool: nn.Module, keep: nn.Module | None) -> bool:
    return (
        type(relu) is nn.ReLU
        and relu is not keep
        and not (relu._forward_hooks or relu._forward_pre_hooks or relu._backward_hooks)
        and type(pool) is nn.MaxPool2d
        and not pool.return_indices
    )


def _forward_of(seq: nn.Sequential, fused: frozenset[int]):
    """``seq``'s forward with ReLU i and max-pool i + 1 run as relu(pool(x)),
    for i in ``fused``; the pool is called as a module (its hooks fire)."""
    children = list(seq)

    def forward(x: torch.Tensor) -> torch.Tensor:
        i = 0
        while i < len(children):
            if i in fused:
                x = F.relu(children[i + 1](x))
                i += 2
            else:
                x = children[i](x)
                i += 1
        return x

    return forward


@contextlib.contextmanager
def pool_before_relu(module: object, keep: nn.Module | None, enabled: bool = True) -> Iterator[int]:
    """Inside, every ``nn.Sequential`` of ``module`` runs its ReLU -> max-pool
    pairs pool first (but the pair whose ReLU is ``keep``, the layer read);
    yields how many pairs. The Sequentials' own forward is restored after."""
    rewritten: list[nn.Sequential] = []
    pairs = 0
    if enabled and isinstance(module, nn.Module):
        for seq in module.modules():
            if type(seq) is not nn.Sequential or "forward" in vars(seq):
                continue
            children = list(seq)
            fused, i = set(), 0
            while i < len(children) - 1:
                if _fusable(children[i], children[i + 1], keep):
                    fused.add(i)
                    i += 2
                else:
                    i += 1
            if fused:
                seq.forward = _forward_of(seq, frozenset(fused))  # type: ignore[method-assign]
                rewritten.append(seq)
                pairs += len(fused)
    try:
        yield pairs
    finally:
        for seq in rewritten:
            del seq.forward


MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


def uses_channels_last(module: object, device: torch.device | str, memory_format: str) -> bool:
    """Whether to run a network's feature maps channels-last (``auto``: on
    the CPU, for a network with 2-D convolutions)."""
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f"memory_format: unknown {memory_format!r}; known: {', '.join(MEMORY_FORMATS)}")
    if memory_format == "contiguous" or not isinstance(module, nn.Module):
        return False
    has_conv = any(isinstance(m, nn.Conv2d) for m in module.modules())
    return has_conv and (memory_format == "channels_last" or torch.device(device).type == "cpu")


@contextlib.contextmanager
def channels_last(module: object, enabled: bool) -> Iterator[None]:
    """The 4-D weights of ``module`` stored channels-last inside (so oneDNN
    runs the whole network in that layout); afterwards their values, changed
    or not (training), go back into their own tensors and layout.

    ``Tensor.to(memory_format=...)``, not ``contiguous``: a 1-channel tensor
    counts as contiguous in both layouts, and only ``to`` gives it the
    channels-last strides oneDNN reads the layout from."""
    if not enabled or not isinstance(module, nn.Module):
        yield
        return
    params = [p for p in module.parameters() if p.dim() == 4]
    originals = [p.data for p in params]
    for p in params:
        p.data = p.data.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, data in zip(params, originals, strict=True):
                if p.data is not data:
                    data.copy_(p.data)
                p.data = data


@contextlib.contextmanager
def layout_hint(fast_layout: bool, key: str) -> Iterator[None]:
    """A network that calls ``Tensor.view`` on a feature map cannot take the
    channels-last layout: say which setting (``key``) avoids it."""
    try:
        yield
    except RuntimeError as err:
        if fast_layout and "view size is not compatible" in str(err):
            raise RuntimeError(
                f"{err}\nThe network reshapes a feature map with .view(), which the channels-last layout "
                f"does not allow: set {key}: contiguous (or use .reshape)."
            ) from err
        raise
