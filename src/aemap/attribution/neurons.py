"""Neuron attributions of one hidden layer for one target output (Shi, Li &
Yamaguchi Sec. 3.1): integrated gradients, as the authors (right Riemann sum,
200 steps), through Captum.

Two baselines:

* ``zero``: a black input image. Captum's ``LayerIntegratedGradients``
  integrates the gradient at the layer along the straight path in *input*
  space; completeness then holds up to how far the layer's activations bend
  along that path (measured in ``completeness_gap``).
* ``optimised``: the authors' output-targeted baseline, found in *activation*
  space. Starting from the image's own activations ``a``, the baseline
  ``a0 = a * sigmoid(theta)`` is optimised to suppress the target output (for a
  classifier: its margin over the strongest competing classes) while keeping
  as much of ``a`` as possible. The attributions are then integrated
  gradients of the head network (layer -> output) on the straight path from
  ``a0`` to ``a``, so they sum to ``out(a) - out(a0)`` up to the Riemann error.

The spatial attribution map of a conv layer is the channel sum upsampled to
the input size (the paper's Eq. 6). A dense layer has no spatial layout: its
map is the input-pixel integrated gradients of the same target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aemap.attribution.layers import head, trunk


@dataclass(frozen=True)
class IGSettings:
    steps: int = 200
    method: str = "riemann_right"
    internal_batch_size: int = 512


@dataclass(frozen=True)
class BaselineSettings:
    kind: str = "zero"  # zero | optimised
    steps: int = 100
    lr: float = 0.1
    competitors: int = 4  # classifiers: top classes (other than the target) the target must fall below
    keep_weight: float = 1.0  # weight of the term that keeps a0 close to a


def zero_baseline_attributions(
    forward: Callable[[torch.Tensor], torch.Tensor],
    layer: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    ig: IGSettings,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(attributions at ``layer``, baseline output) with a zero input image."""
    from captum.attr import LayerIntegratedGradients

    lig = LayerIntegratedGradients(forward, layer)
    baseline = torch.zeros_like(x)
    attr = lig.attribute(
        x,
        baselines=baseline,
        target=targets,
        n_steps=ig.steps,
        method=ig.method,
        internal_batch_size=ig.internal_batch_size,
    )
    with torch.no_grad():
        out0 = forward(baseline).gather(1, targets[:, None])[:, 0]
    return attr.detach(), out0


def optimise_baseline(
    head_fn: Callable[[torch.Tensor], torch.Tensor],
    activations: torch.Tensor,
    targets: torch.Tensor,
    settings: BaselineSettings,
    classifier: bool,
) -> torch.Tensor:
    """The output-targeted baseline in activation space (see module doc).

    Deterministic: plain Adam from a fixed start, a fixed number of steps."""
    a = activations.detach()
    theta = torch.full_like(a, 3.0, requires_grad=True)  # sigmoid(3) = 0.95: start near the image
    opt = torch.optim.Adam([theta], lr=settings.lr)
    rows = torch.arange(len(a), device=a.device)
    for _ in range(settings.steps):
        opt.zero_grad(set_to_none=True)
        keep = torch.sigmoid(theta)
        out = head_fn(a * keep)
        score = out[rows, targets]
        if classifier and out.shape[1] > 1:
            others = out.detach().clone()
            others[rows, targets] = -torch.inf
            k = min(settings.competitors, out.shape[1] - 1)
            top = others.topk(k, dim=1).indices
            score = score - torch.logsumexp(out.gather(1, top), dim=1)
        loss = score.sum() + settings.keep_weight * (1 - keep).flatten(1).mean(1).sum()
        loss.backward()
        opt.step()
    return (a * torch.sigmoid(theta)).detach()


def optimised_baseline_attributions(
    forward: Callable[[torch.Tensor], torch.Tensor],
    layer: nn.Module,
    input_shape: Sequence[int],
    x: torch.Tensor,
    targets: torch.Tensor,
    ig: IGSettings,
    baseline: BaselineSettings,
    classifier: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(attributions, baseline output) with the optimised activation baseline."""
    from captum.attr import IntegratedGradients

    head_fn = head(forward, layer, input_shape)
    with torch.no_grad():
        a = trunk(forward, layer, x)
    a0 = optimise_baseline(head_fn, a, targets, baseline, classifier)
    attr = IntegratedGradients(head_fn).attribute(
        a,
        baselines=a0,
        target=targets,
        n_steps=ig.steps,
        method=ig.method,
        internal_batch_size=ig.internal_batch_size,
    )
    with torch.no_grad():
        out0 = head_fn(a0).gather(1, targets[:, None])[:, 0]
    return attr.detach(), out0


def pixel_attributions(
    forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, targets: torch.Tensor, ig: IGSettings
) -> torch.Tensor:
    """Integrated gradients of the input pixels (zero image baseline)."""
    from captum.attr import IntegratedGradients

    return (
        IntegratedGradients(forward)
        .attribute(
            x,
            baselines=torch.zeros_like(x),
            target=targets,
            n_steps=ig.steps,
            method=ig.method,
            internal_batch_size=ig.internal_batch_size,
        )
        .detach()
    )


def channel_filter(attr: torch.Tensor, keep: float) -> torch.Tensor:
    """The authors' filter: keep the channels whose largest |attribution|,
    taken from the largest down, make up ``keep`` of the total; zero the rest.

    ``attr`` is (N, C, ...); a dense layer's units count as channels."""
    if not 0 < keep <= 1:
        raise ValueError(f"channel_filter: keep must be in (0, 1], got {keep}")
    peak = attr.abs().flatten(2).amax(2) if attr.dim() > 2 else attr.abs()
    order = peak.argsort(dim=1, descending=True)
    sorted_peak = peak.gather(1, order)
    total = sorted_peak.sum(1, keepdim=True).clamp_min(torch.finfo(attr.dtype).tiny)
    before = (sorted_peak.cumsum(1) - sorted_peak) / total
    kept_sorted = before < keep  # a channel is kept while the share before it is still short of `keep`
    kept = torch.zeros_like(kept_sorted).scatter(1, order, kept_sorted)
    shape = (*kept.shape, *([1] * (attr.dim() - 2)))
    return attr * kept.reshape(shape).to(attr.dtype)


def spatial_map(attr: torch.Tensor, image_shape: Sequence[int]) -> torch.Tensor | None:
    """Channel-summed attributions of a conv layer, bilinearly resized to the
    input image (N, H, W); None for a layer without spatial layout."""
    if attr.dim() != 4:
        return None
    summed = attr.sum(1, keepdim=True)
    return F.interpolate(summed, size=tuple(image_shape[-2:]), mode="bilinear", align_corners=False)[:, 0]


@dataclass
class NeuronAttributions:
    attributions: np.ndarray  # (N, *layer) after clamping / filtering
    raw_sum: np.ndarray  # (N,) sum of the raw (signed, unfiltered) attributions
    activations: np.ndarray  # (N, *layer)
    output: np.ndarray  # (N,) target output at the image
    baseline_output: np.ndarray  # (N,) target output at the baseline
    heatmap: np.ndarray  # (N, H, W) attribution intensity map in image space

    @property
    def completeness_gap(self) -> np.ndarray:
        """|sum of attributions - (out(x) - out(baseline))|, per item."""
        return np.abs(self.raw_sum - (self.output - self.baseline_output))


def neuron_attributions(
    forward: Callable[[torch.Tensor], torch.Tensor],
    layer: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    ig: IGSettings = IGSettings(),
    baseline: BaselineSettings = BaselineSettings(),
    clamp_negative: bool = True,
    keep_channels: float | None = None,
    classifier: bool = True,
) -> NeuronAttributions:
    """Attributions of ``layer``'s neurons to ``forward(x)[:, target]``.

    ``forward`` is the model (logits) or its encoder (codes); ``x`` is
    (N, *input_shape) on the model's device; ``targets`` (N,) long."""
    input_shape = tuple(x.shape[1:])
    if baseline.kind == "zero":
        attr, out0 = zero_baseline_attributions(forward, layer, x, targets, ig)
    elif baseline.kind == "optimised":
        attr, out0 = optimised_baseline_attributions(forward, layer, input_shape, x, targets, ig, baseline, classifier)
    else:
        raise ValueError(f"baseline.kind: unknown baseline {baseline.kind!r}; known: zero, optimised")
    with torch.no_grad():
        out = forward(x).gather(1, targets[:, None])[:, 0]
        acts = trunk(forward, layer, x)
    raw_sum = attr.flatten(1).sum(1)
    if clamp_negative:
        attr = attr.clamp_min(0)
    if keep_channels is not None:
        attr = channel_filter(attr, keep_channels)
    heat = spatial_map(attr, input_shape)
    if heat is None:
        # The pixels' own attributions, summed over an image's channels (RGB) as a layer's are.
        heat = pixel_attributions(forward, x, targets, ig).reshape(len(x), -1, *input_shape[-2:]).sum(1)
        if clamp_negative:
            heat = heat.clamp_min(0)
    return NeuronAttributions(
        attributions=attr.cpu().numpy(),
        raw_sum=raw_sum.cpu().double().numpy(),
        activations=acts.cpu().numpy(),
        output=out.cpu().double().numpy(),
        baseline_output=out0.cpu().double().numpy(),
        heatmap=heat.cpu().numpy(),
    )
