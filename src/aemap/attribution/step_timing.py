"""Where one optimisation step of a network goes, operation by operation.

``torch.profiler`` answers this too, but its own bookkeeping inflates what
it times: on this project's 2-core VM it put the zero fill of the first
max-pool's gradient (64 x 32 x 28 x 28 floats) at 3.7 ms a step, where the
whole max-pool backward, timed without it, took 1.3 ms. ``time_parts``
times with hooks only, and only around what it names:

* the forward pass of each leaf module (forward pre- and post-hooks);
* each node of the autograd graph as the backward pass runs it (node pre-
  and post-hooks), named after the module whose output it made
  (``features.3 (Conv2d) backward``) or, for operations outside modules
  (a functional ReLU, the objective), after the node's class. Leaves'
  gradient accumulation is not timed apart: its post-hook fired ~1 ms
  after its work (a leaf image's copy, tens of microseconds by the
  profiler), so it stays in the rest.

What no hook covers (functional operations' forward passes, the objective,
autograd's own bookkeeping) is the step's time less the parts'. Each part's
time is its median over the timed steps, with its floating-point rate where
its arithmetic is known (convolutions, linear layers: multiply-adds x 2).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Part:
    """One named operation of a step: its median seconds per step, and its
    floating-point operations per step where known (else None)."""

    name: str
    seconds: float
    flops: float | None = None

    @property
    def gflops_per_second(self) -> float | None:
        return None if self.flops is None or self.seconds <= 0 else self.flops / self.seconds / 1e9


@dataclass(frozen=True)
class StepTiming:
    """The parts of a step (slowest first), and the median step they came from."""

    parts: list[Part]
    step_seconds: float

    @property
    def rest_seconds(self) -> float:
        """The step's time that no part accounts for (never below 0)."""
        return max(0.0, self.step_seconds - sum(p.seconds for p in self.parts))


def _flops(module: nn.Module, output: torch.Tensor) -> float | None:
    """Multiply-adds x 2 of the module's forward pass for this output. One
    gradient (for the input, or for the weights) costs the same; a backward
    pass computing both does twice that, so its rate then reads half."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return 2.0 * output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return 2.0 * output.numel() * module.in_features
    return None


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(label, module) of each module without children: its dotted name and class."""
    return [
        (f"{name} ({type(m).__name__})" if name else type(m).__name__, m)
        for name, m in model.named_modules()
        if not list(m.children())
    ]


def time_parts(
    model: nn.Module, objective: Callable[[], torch.Tensor], steps: int, device: torch.device | str = "cpu"
) -> StepTiming:
    """Run ``steps`` steps of ``objective()`` (a scalar built through ``model``'s
    modules) and its ``backward()``, timing each part (module docstring).
    Gradients accumulate where the objective's inputs keep them: reset them
    inside ``objective`` if that matters."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    cuda = torch.device(device).type == "cuda"

    def now() -> float:
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    per_step: list[dict[str, float]] = []
    flops: dict[str, float] = {}
    made_by: dict[object, str] = {}  # autograd node -> the module whose output it made
    started: dict[str, float] = {}
    current: dict[str, float] = {}

    def add(name: str, seconds: float) -> None:
        current[name] = current.get(name, 0.0) + seconds

    def before_forward(name: str):
        def hook(_module, _inputs):
            started[name] = now()

        return hook

    def after_forward(name: str):
        def hook(module, _inputs, output):
            add(f"{name} forward", now() - started.pop(name))
            if isinstance(output, torch.Tensor):
                f = _flops(module, output)
                if f is not None:
                    flops[f"{name} forward"] = f
                    if output.grad_fn is not None:
                        flops[f"{name} backward"] = f
                if output.grad_fn is not None:
                    made_by[output.grad_fn] = name

        return hook

    def hook_graph(root: object) -> None:
        seen: set[int] = set()
        stack = [root]
        while stack:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            stack.extend(next_node for next_node, _ in node.next_functions)
            if type(node).__name__ == "AccumulateGrad":
                continue
            module = made_by.get(node)
            label = f"{module} backward" if module is not None else type(node).__name__
            box: list[float] = []

            def pre(_grad_outputs, box=box):
                box.append(now())

            def post(_grad_inputs, _grad_outputs, box=box, label=label):
                add(label, now() - box.pop())

            node.register_prehook(pre)
            node.register_hook(post)

    handles = []
    for name, module in _leaves(model):
        handles.append(module.register_forward_pre_hook(before_forward(name)))
        handles.append(module.register_forward_hook(after_forward(name)))
    step_seconds: list[float] = []
    try:
        for _ in range(steps):
            current.clear()
            made_by.clear()
            t0 = now()
            value = objective()
            if value.grad_fn is None:
                raise ValueError("the objective does not depend on anything that requires a gradient")
            hook_graph(value.grad_fn)
            value.backward()
            step_seconds.append(now() - t0)
            per_step.append(dict(current))
    finally:
        for handle in handles:
            handle.remove()
    names = {name for step in per_step for name in step}
    parts = [Part(name, statistics.median(step.get(name, 0.0) for step in per_step), flops.get(name)) for name in names]
    parts.sort(key=lambda p: (-p.seconds, p.name))
    return StepTiming(parts, statistics.median(step_seconds))
