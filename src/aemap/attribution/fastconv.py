"""The image gradient of a one-input-channel convolution, fast on the CPU.

Every visualisation step back-propagates to the image through the network's
first convolution, which maps one channel to many. oneDNN's kernels for that
backward pass (many channels summed into one) run at a sixth of its usual
speed on an AVX2 core: 4-5 ms for a batch of 64 28x28 images through 32
3x3 filters, 15-25 % of a whole step. Written as one matrix product,

    cols[n, y, x, tap] = sum_c grad[n, c, y, x] w[c, tap]    (taps padded to 16: a shape BLAS runs well)

followed by one shifted add per tap (col2im), it takes about half as long
from a batch of 8 images up (a single image: PyTorch's own kernel is faster).

Only the image's gradient is computed: inside ``visualise`` the weights are
frozen. Modules it cannot serve (several input channels, stride, dilation,
groups, non-zero padding modes, trainable weights) are left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

# Below this batch size PyTorch's kernel is the faster one (one AVX2 core,
# 32 3x3 filters on 28x28: 0.19 against 0.34 ms for one image, 0.74 against
# 0.57 ms for 8, 3.9 against 1.9 ms for 64).
MIN_BATCH = 8


class _SingleChannelConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: tuple[int, int]):
        ctx.save_for_backward(weight)
        ctx.padding, ctx.in_size, ctx.in_dtype = padding, tuple(x.shape[-2:]), x.dtype
        return F.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        (weight,) = ctx.saved_tensors
        # Under autocast the convolution ran in lower precision and its gradient
        # arrives so; the product runs in the weights' precision (a small one:
        # the image has one channel) and the image's gradient is in the image's.
        grad_x = image_gradient(grad.to(weight.dtype), weight, ctx.padding, ctx.in_size)
        return grad_x.to(ctx.in_dtype), None, None, None


def image_gradient(
    grad: torch.Tensor, weight: torch.Tensor, padding: tuple[int, int], in_size: tuple[int, int]
) -> torch.Tensor:
    """d(sum(grad * conv2d(x, weight)))/dx for one-channel ``x`` (N, 1, H, W),
    stride 1, zero ``padding``: (N, 1, H, W)."""
    n, c_out, oh, ow = grad.shape
    kh, kw = weight.shape[-2:]
    taps = kh * kw
    width = -(-taps // 16) * 16
    w = weight.new_zeros((c_out, width))
    w[:, :taps] = weight.reshape(c_out, taps)
    # Free for channels-last ``grad``; one copy otherwise.
    cols = (grad.permute(0, 2, 3, 1).reshape(n * oh * ow, c_out) @ w).view(n, oh, ow, width)
    # Output pixel (y, x) read input (y + i - ph, x + j - pw) through tap (i, j).
    full = grad.new_zeros((n, oh + kh - 1, ow + kw - 1))
    for i in range(kh):
        for j in range(kw):
            full[:, i : i + oh, j : j + ow] += cols[..., i * kw + j]
    ph, pw = padding
    h, w_in = in_size
    return full[:, ph : ph + h, pw : pw + w_in].unsqueeze(1)


def servable(module: nn.Module) -> bool:
    """Whether ``module`` is a convolution ``image_gradient`` computes exactly."""
    return (
        isinstance(module, nn.Conv2d)
        and type(module).forward is nn.Conv2d.forward  # a subclass may compute something else
        and module.in_channels == 1
        and module.groups == 1
        and module.stride == (1, 1)
        and module.dilation == (1, 1)
        and module.padding_mode == "zeros"
        and not isinstance(module.padding, str)
        and all(0 <= p < k for p, k in zip(module.padding, module.kernel_size, strict=True))
        and not module.weight.requires_grad
        and (module.bias is None or not module.bias.requires_grad)
    )


@contextlib.contextmanager
def single_channel_convs(module: object, enabled: bool) -> Iterator[int]:
    """Inside, the servable convolutions of ``module`` back-propagate to
    their input through ``image_gradient``; yields how many. Their forward
    pass is PyTorch's own; hooks still fire (only ``forward`` is swapped)."""
    swapped: list[nn.Conv2d] = []
    if enabled and isinstance(module, nn.Module):
        for m in module.modules():
            if servable(m) and "forward" not in vars(m):
                m.forward = _forward_of(m)  # type: ignore[method-assign]
                swapped.append(m)
    try:
        yield len(swapped)
    finally:
        for m in swapped:
            del m.forward


def _forward_of(conv: nn.Conv2d):
    padding = (int(conv.padding[0]), int(conv.padding[1]))

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or len(x) < MIN_BATCH:  # PyTorch's own path
            return nn.Conv2d.forward(conv, x)
        return _SingleChannelConv2d.apply(x, conv.weight, conv.bias, padding)

    return forward
