"""aemap.attribution.step_timing: a step's time, operation by operation,
checked on operations whose least time is known (they sleep) and on
convolutions whose arithmetic is counted by hand."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from aemap.attribution.step_timing import time_parts

torch.set_num_threads(1)

FORWARD_SLEEP, BACKWARD_SLEEP = 0.02, 0.03


class SlowForward(nn.Module):
    """The identity, taking at least FORWARD_SLEEP seconds."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(FORWARD_SLEEP)
        return x * 1.0


class _SlowBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        time.sleep(BACKWARD_SLEEP)
        return grad


class SlowBackward(nn.Module):
    """The identity, whose gradient takes at least BACKWARD_SLEEP seconds."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SlowBackward.apply(x)


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 5, 3, padding=1), SlowForward(), SlowBackward(), nn.Flatten(), nn.Linear(5 * 6 * 4, 3)
    )


def _objective(net: nn.Module, x: torch.Tensor):
    def objective() -> torch.Tensor:
        x.grad = None
        return torch.tanh(net(x)).sum()  # tanh: an operation outside the modules

    return objective


def test_parts_are_named_timed_and_counted():
    net = _net()
    x = torch.rand(7, 2, 6, 4, requires_grad=True)
    timing = time_parts(net, _objective(net, x), steps=3)
    parts = {p.name: p for p in timing.parts}
    assert {"0 (Conv2d) forward", "0 (Conv2d) backward", "4 (Linear) forward", "4 (Linear) backward"} <= set(parts)
    assert "TanhBackward0" in parts and "SumBackward0" in parts  # named by their autograd node
    # The sleeps are timed where they happen, and nowhere else.
    assert parts["1 (SlowForward) forward"].seconds >= FORWARD_SLEEP
    assert parts["2 (SlowBackward) backward"].seconds >= BACKWARD_SLEEP
    others = [
        p.seconds for name, p in parts.items() if name not in ("1 (SlowForward) forward", "2 (SlowBackward) backward")
    ]
    assert max(others) < FORWARD_SLEEP
    assert [p.name for p in timing.parts[:2]] == ["2 (SlowBackward) backward", "1 (SlowForward) forward"]
    # Multiply-adds x 2, by hand: each of 7 x 5 x 6 x 4 outputs sums 2 x 3 x 3 products.
    assert parts["0 (Conv2d) forward"].flops == parts["0 (Conv2d) backward"].flops == 2 * (7 * 5 * 6 * 4) * 2 * 9
    assert parts["4 (Linear) forward"].flops == 2 * (7 * 3) * 120
    assert parts["SumBackward0"].flops is None and parts["SumBackward0"].gflops_per_second is None
    assert parts["0 (Conv2d) forward"].gflops_per_second > 0
    # The parts lie inside the step.
    assert sum(p.seconds for p in timing.parts) <= timing.step_seconds + 1e-6
    assert timing.step_seconds >= FORWARD_SLEEP + BACKWARD_SLEEP and timing.rest_seconds >= 0
    assert x.grad is not None  # the backward pass ran


def test_hooks_are_removed_and_values_unchanged():
    net = _net()
    x = torch.rand(3, 2, 6, 4, requires_grad=True)
    expected = torch.autograd.grad(torch.tanh(net(x)).sum(), x)[0]
    time_parts(net, _objective(net, x), steps=1)
    assert torch.equal(x.grad, expected)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())

    def failing() -> torch.Tensor:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        time_parts(net, failing, steps=1)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_bad_arguments_say_what_is_wrong():
    net = _net()
    x = torch.rand(3, 2, 6, 4, requires_grad=True)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        time_parts(net, _objective(net, x), steps=0)
    frozen = torch.rand(3, 2, 6, 4)
    net.requires_grad_(False)
    with pytest.raises(ValueError, match="does not depend on anything that requires a gradient"):
        time_parts(net, lambda: net(frozen).sum(), steps=1)
