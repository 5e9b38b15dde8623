"""Attribution visualisation (Shi et al. Secs. 3.2-3.4): optimise an image X
and a mask M together to

    maximise  sum(f_l(T(C(X, M, P))) * R_l)  -  lambda (mean(M) - beta)^2

where C composites X where M is 1 with the perturbation P elsewhere and T is
a random robustness transformation. lambda starts at ``lambda_scale`` x the
sum of R_l (the paper's reference; or any other per-item reference the caller
passes) and is multiplied by ``lambda_growth`` every tenth of the run (the
paper: x1; x1.2. The authors' code: x20; x1.23); the learning rate likewise by
``lr_decay`` (the paper leaves it open; the code: x0.8).

Every item (image x initialisation x target) is independent, so a whole chunk
runs as one batched tensor program: one forward and backward per step for
all items; Adam's update is elementwise, so items never mix. Chunks are
sized to a memory budget, in whole blocks of ``random_block`` items.
Randomness (initial parameters, noise, transformations) comes from one
generator per block (``aemap.attribution.streams``), so a rerun with the
same settings is byte-identical on the CPU, and a visualisation's random
numbers do not depend on how a job is split into chunks.

``precision`` runs the network (only) under autocast, e.g. in bfloat16: the
images, the objective and Adam stay in float32.

X has the input's channels (one for grey images, three for RGB) and M one,
each channel parametrised either in the Fourier domain (lucid's scheme:
coefficients scaled by 1/frequency, inverse real FFT, then a sigmoid) or per
pixel (a sigmoid of free logits). The mask is the last channel, as in the
authors' code (RGB + mask).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from aemap.attribution.fastconv import single_channel_convs
from aemap.attribution.layers import trunk
from aemap.attribution.perturb import Perturbation, PerturbationSettings
from aemap.attribution.streams import ItemStreams, Random, random_tensor
from aemap.attribution.transforms import TransformSettings, apply_transforms
from aemap.compute import cpu_has_fast_bfloat16
from aemap.models.layout import channels_last, layout_hint, pool_before_relu, uses_channels_last

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptimiseSettings:
    steps: int = 512
    lr: float = 0.05
    lr_decay: float = 1.0
    lambda_scale: float = 1.0
    lambda_growth: float = 1.2
    parametrisation: str = "fft"  # fft | pixel
    init_sd: float = 0.01
    seed: int = 0
    memory_budget_mb: float = 256.0
    max_batch: int = 256
    random_block: int = 32  # items per random stream; chunks are whole blocks
    memory_format: str = "auto"  # auto (channels-last on the CPU) | channels_last | contiguous
    pool_before_relu: bool = True  # ReLU -> max-pool pairs run pool first: same values, less work
    precision: str = "float32"  # float32 | bfloat16: the network's forward pass (and so its backward) under autocast
    # The image side (px) the pixel amounts of the transforms and the blur are
    # given for; other sizes scale them (``at_image_size``). None: as given.
    pixel_reference: float | None = 28.0
    transforms: TransformSettings = field(default_factory=TransformSettings)
    perturbation: PerturbationSettings = field(default_factory=PerturbationSettings)


def image_channels(input_shape: tuple[int, ...]) -> int:
    """The channels of one input: C of (C, H, W), 1 of (H, W)."""
    return int(input_shape[-3]) if len(input_shape) >= 3 else 1


class ImageParam:
    """Unconstrained parameters of (n, C + 1, H, W) images in [0, 1]: channels
    0..C-1 are X, channel C the mask M."""

    def __init__(
        self,
        n: int,
        shape: tuple[int, int],
        kind: str,
        init_sd: float,
        generator: Random,
        device: torch.device | str,
        channels: int = 1,
    ):
        h, w = shape
        self.kind, self.shape = kind, shape
        if kind == "fft":
            fy = torch.fft.fftfreq(h)[:, None]
            fx = torch.fft.rfftfreq(w)[None, :]
            freq = torch.sqrt(fy**2 + fx**2)
            # lucid's fft_image: amplitude ~ 1/f (f floored at one cycle per image), x sqrt(pixels)
            self.scale = (1.0 / freq.clamp_min(1.0 / max(h, w)) * math.sqrt(h * w)).to(device)
            shape_p = (n, channels + 1, h, w // 2 + 1, 2)
        elif kind == "pixel":
            shape_p = (n, channels + 1, h, w)
        else:
            raise ValueError(f"parametrisation: unknown kind {kind!r}; known: fft, pixel")
        init = random_tensor(generator, torch.randn, shape_p, device=device) * init_sd
        self.param = init.requires_grad_(True)

    def images(self) -> torch.Tensor:
        if self.kind == "fft":
            spectrum = torch.view_as_complex(self.param) * self.scale
            logits = torch.fft.irfft2(spectrum, s=self.shape) / 4.0  # lucid's 'magic' 4
        else:
            logits = self.param
        return torch.sigmoid(logits)


@dataclass
class Visualisations:
    x: np.ndarray  # (n, H, W) X*; (n, C, H, W) for images of C > 1 channels
    mask: np.ndarray  # (n, H, W) M* (ones for `none`)
    composite: np.ndarray  # like x: C(X*, M*, P) with a fresh perturbation, untransformed
    objective: np.ndarray  # (n, 11) attribution term at the start and after each tenth
    mask_mean: np.ndarray  # (n, 11) mean(M) likewise


def bytes_per_item(
    forward: Callable[[torch.Tensor], torch.Tensor],
    layer: nn.Module,
    input_shape: tuple[int, ...],
    device: torch.device | str,
    precision: str = "float32",
) -> int:
    """A conservative estimate of one item's memory for a step: every tensor
    the trunk creates, in the type it has at ``precision``, x4 (forward
    values, gradients, autograd buffers), plus the float32 images, noise and
    parameters."""
    trunk_bytes: list[int] = []
    handles = []
    model_modules = getattr(forward, "modules", None)

    def count(_module, _inputs, output) -> None:
        if isinstance(output, torch.Tensor):
            trunk_bytes.append(output.numel() * output.element_size())

    if model_modules is not None:
        for m in model_modules():
            if not list(m.children()):
                handles.append(m.register_forward_hook(count))
    try:
        with torch.no_grad(), network_precision(device, precision):
            trunk(forward, layer, torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
    pixels = math.prod(input_shape)
    return 4 * sum(trunk_bytes) + 4 * 40 * pixels


@contextlib.contextmanager
def frozen(module: object) -> Iterator[None]:
    """No weight gradients inside (only the image's are needed: a third less
    work per backward pass); the flags are restored afterwards."""
    params = list(module.parameters()) if isinstance(module, nn.Module) else []
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


def network_precision(device: torch.device | str, precision: str) -> torch.autocast:
    """The context the network runs in at ``attribution.optimise.precision``:
    autocast to its type, or (float32) autocast off."""
    if precision not in PRECISIONS:
        raise ValueError(f"attribution.optimise.precision: unknown {precision!r}; known: {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    return torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None)


@contextlib.contextmanager
def network_for_visualisation(
    forward: object, layer: nn.Module, device: torch.device | str, fast_layout: bool, pool_first: bool
) -> Iterator[tuple[int, int]]:
    """The network as the optimisation runs it: weights frozen, channels-last
    feature maps where ``fast_layout``, the CPU's image-gradient kernel of the
    first convolution replaced, ReLU -> max-pool pairs run pool first where
    ``pool_first``. Yields (convolutions swapped, pairs reordered); all is
    restored afterwards."""
    with (
        frozen(forward),
        channels_last(forward, fast_layout),
        # The CPU's slow kernel for the first convolution's image gradient, replaced
        # (measured on the CPU only: a GPU keeps its own).
        single_channel_convs(forward, fast_layout and torch.device(device).type == "cpu") as swapped,
        pool_before_relu(forward, layer, pool_first) as fused,
        layout_hint(fast_layout, "attribution.optimise.memory_format"),
    ):
        yield swapped, fused


def chunk_size(per_item: int, s: OptimiseSettings) -> int:
    """Items per chunk: as many whole random blocks as ``memory_budget_mb``
    and ``max_batch`` allow, and at least one block (a block cannot be split
    without changing what its items draw)."""
    if s.random_block < 1 or s.max_batch < s.random_block:
        raise ValueError(
            f"attribution.optimise: max_batch ({s.max_batch}) must be at least random_block ({s.random_block}, >= 1): "
            "chunks are whole blocks of items sharing a random stream"
        )
    fits = min(s.max_batch, int(s.memory_budget_mb * 2**20 // max(per_item, 1)))
    return max(1, fits // s.random_block) * s.random_block


def at_image_size(s: OptimiseSettings, size: tuple[int, int]) -> OptimiseSettings:
    """``s`` for images of ``size`` (H, W): the transforms' jitters and the
    blur's sigma and kernel, given in pixels of ``pixel_reference``-px images,
    scaled along each axis by side / ``pixel_reference``, so that a 56-px
    image is jittered and blurred by the same share of its width as a 28-px
    one (and the normalised affine maps are the same). Unchanged for images
    of the reference size, or when ``pixel_reference`` is None."""
    if s.pixel_reference is None:
        return s
    h, w = size
    scale = (w / s.pixel_reference, h / s.pixel_reference)
    return replace(
        s,
        transforms=replace(s.transforms, px_scale=scale),
        perturbation=replace(s.perturbation, px_scale=scale),
    )


def visualise(
    forward: Callable[[torch.Tensor], torch.Tensor],
    layer: nn.Module,
    input_shape: tuple[int, ...],
    attributions: torch.Tensor,
    beta: torch.Tensor,
    kind: str,
    s: OptimiseSettings,
    progress: Callable[[int], None] | None = None,
    lambda_reference: torch.Tensor | None = None,
) -> Visualisations:
    """Optimise one visualisation per row of ``attributions`` (n, *layer),
    with area targets ``beta`` (n,), under perturbation ``kind``.

    lambda starts at ``lambda_scale`` x ``lambda_reference`` (n,); by default
    the sum of each row's attributions (the paper)."""
    if lambda_reference is None:
        lambda_reference = attributions.reshape(len(attributions), -1).sum(1)
    s = at_image_size(s, tuple(input_shape[-2:]))
    if s.transforms.px_scale != (1.0, 1.0):
        log.info(
            "images of %dx%d px: the transforms' jitters and the blur scaled by %.3g x %.3g (x, y) from their "
            "values for %g-px images (attribution.optimise.pixel_reference)",
            input_shape[-2],
            input_shape[-1],
            *s.transforms.px_scale,
            s.pixel_reference,
        )
    device = attributions.device
    if s.precision == "bfloat16" and device.type == "cpu" and cpu_has_fast_bfloat16() is False:
        log.warning(
            "attribution.optimise.precision is bfloat16, but this CPU has no native bfloat16 kernels "
            "(%s; PyTorch emulates them): on an AVX2 CPU that was 11-14x slower than float32. "
            "float32 is the faster choice here",
            torch.backends.cpu.get_cpu_capability(),
        )
    n = len(attributions)
    per_item = bytes_per_item(forward, layer, input_shape, device, s.precision)
    size = chunk_size(per_item, s)
    parts = []
    fast_layout = uses_channels_last(forward, device, s.memory_format)
    largest = min(n, size)
    if largest > 1 and largest * per_item > s.memory_budget_mb * 2**20:
        log.warning(
            "a chunk of %d visualisations (one random block) needs ~%.0f MB, over memory_budget_mb %g: it runs "
            "whole. A smaller attribution.optimise.random_block lowers the peak (and changes the noise drawn)",
            largest,
            largest * per_item / 2**20,
            s.memory_budget_mb,
        )
    if n > size:
        log.info(
            "%d visualisations in %d chunks of up to %d (memory_budget_mb %g, max_batch %d; whole blocks of %d "
            "items with their own random streams, so the split leaves the random draws alone)",
            n,
            -(-n // size),
            size,
            s.memory_budget_mb,
            s.max_batch,
            s.random_block,
        )
    with network_for_visualisation(forward, layer, device, fast_layout, s.pool_before_relu) as (swapped, fused):
        log.info(
            "feature maps %s; %d first convolution(s) with the CPU image-gradient kernel; "
            "%d ReLU -> max-pool pair(s) set to run pool first",
            "channels-last" if fast_layout else "in PyTorch's layout",
            swapped,
            fused,
        )
        for start in range(0, n, size):
            sl = slice(start, min(n, start + size))
            parts.append(
                _visualise_chunk(
                    forward,
                    layer,
                    input_shape,
                    attributions[sl],
                    beta[sl],
                    lambda_reference[sl],
                    kind,
                    s,
                    ItemStreams(s.seed, start, sl.stop - start, s.random_block, device),
                    progress,
                    fast_layout,
                )
            )
    return Visualisations(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Visualisations.__dataclass_fields__)
    )


def _visualise_chunk(
    forward,
    layer,
    input_shape,
    attributions,
    beta,
    reference,
    kind,
    s: OptimiseSettings,
    generator,
    progress,
    fast_layout: bool = False,
):
    device = attributions.device
    n = len(attributions)
    h, w = input_shape[-2:]
    channels = image_channels(input_shape)
    perturbation = Perturbation(kind, (h, w), s.perturbation, device)
    param = ImageParam(n, (h, w), s.parametrisation, s.init_sd, generator, device, channels)
    opt = torch.optim.Adam([param.param], lr=s.lr)
    # R_l in the activations' own layout (channels-last feature maps when
    # fast_layout): its product's gradient then flows back without copies.
    r = attributions
    if fast_layout and r.dim() == 4:
        r = r.to(memory_format=torch.channels_last)
    item_dims = tuple(range(1, r.dim()))
    lam = s.lambda_scale * reference.to(r.dtype)
    tenth = max(1, s.steps // 10)
    objective = np.zeros((n, 11))
    mask_mean = np.zeros((n, 11))
    beta = beta.to(torch.float32)

    def model_input(images: torch.Tensor) -> torch.Tensor:
        batch = images.reshape((n, *input_shape))
        if fast_layout and batch.dim() == 4:
            batch = batch.to(memory_format=torch.channels_last)
        return batch

    for step in range(s.steps + 1):
        images = param.images()
        x, m = images[:, :channels], images[:, channels:]
        composite = perturbation.composite(x, m if perturbation.uses_mask else None, generator)
        transformed = apply_transforms(composite, s.transforms, generator)
        # Only the network runs in lower precision (where its convolutions spend the
        # time); the images, the objective and Adam stay in float32.
        with network_precision(device, s.precision):
            act = trunk(forward, layer, model_input(transformed))
        act = act.to(r.dtype).reshape(r.shape)
        attr_term = (act * r).sum(item_dims)
        mean_m = m.flatten(1).mean(1)
        if step % tenth == 0 and step // tenth <= 10:
            objective[:, step // tenth] = attr_term.detach().cpu().numpy()
            mask_mean[:, step // tenth] = mean_m.detach().cpu().numpy()
        if step == s.steps:
            break
        loss = -attr_term
        if perturbation.uses_mask:
            loss = loss + lam * (mean_m - beta) ** 2
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        if (step + 1) % tenth == 0:
            lam = lam * s.lambda_growth
            for group in opt.param_groups:
                group["lr"] *= s.lr_decay
        if progress is not None:
            progress(n)
    with torch.no_grad():
        images = param.images()
        x, m = images[:, :channels], images[:, channels:]
        if not perturbation.uses_mask:
            m = torch.ones_like(m)
        composite = perturbation.composite(x, m, generator)
    # One-channel images as (n, H, W), as the figures and the tables have them.
    as_images = (lambda t: t[:, 0]) if channels == 1 else (lambda t: t)
    return Visualisations(
        x=as_images(x).detach().cpu().numpy(),
        mask=m[:, 0].detach().cpu().numpy(),
        composite=as_images(composite).detach().cpu().numpy(),
        objective=objective,
        mask_mean=mask_mean,
    )
