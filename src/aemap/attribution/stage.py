"""The attribution stage as the workflow runs it: which images and targets,
their neuron attributions and beta, the visualisations under one
perturbation, and the tidy metrics. Each function reads and returns plain
arrays, so scripts stay thin and users can call them directly."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from aemap.attribution.layers import check_split, resolve_layer, target_function, trunk
from aemap.attribution.metrics import in_top_k, pearson_rows, standardised_codes
from aemap.attribution.neurons import neuron_attributions
from aemap.attribution.otsu import FlatMapError, otsu_beta
from aemap.attribution.settings import AttributionSettings
from aemap.attribution.tables import ablation_table as ablation_table
from aemap.attribution.tables import compare_with_importance as compare_with_importance
from aemap.attribution.tables import figure_items as figure_items
from aemap.attribution.tables import inglis_maps as inglis_maps
from aemap.attribution.tables import metrics_rows as metrics_rows
from aemap.attribution.tables import row_labels as row_labels
from aemap.attribution.tables import shown_visualisation as shown_visualisation
from aemap.attribution.visualise import visualise
from aemap.compute import at_inference
from aemap.models.networks import DenseAutoencoder

_log = logging.getLogger(__name__)


def is_autoencoder(model: nn.Module) -> bool:
    return isinstance(model, DenseAutoencoder)


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, size: int = 1024) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[i : i + size]) for i in range(0, len(x), size)])


def select_classifier_items(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Test-set rows: the first ``per_class`` images of each class, class by class."""
    rows = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.concatenate(rows).astype(np.int64)


def warn_short_classes(labels: np.ndarray, per_class: int, class_names: Sequence[str] | None, log: Any) -> None:
    """Say which classes have fewer test images than ``images_per_class``
    asks for (or none at all): the stage explains what there is, and the
    ablation's means then weigh the classes unequally."""
    labels = np.asarray(labels).astype(np.int64)
    given = [] if class_names is None else [str(c) for c in class_names]
    n_classes = max(len(given), int(labels.max()) + 1 if labels.size else 0)
    names = given + [str(c) for c in range(len(given), n_classes)]
    counts = np.bincount(labels, minlength=n_classes)
    short = [(names[c], int(counts[c])) for c in range(n_classes) if counts[c] < per_class]
    if short:
        log.warning(
            "attribution.images_per_class %d: %d of %d classes have fewer test images (%s); explaining those there are",
            per_class,
            len(short),
            n_classes,
            ", ".join(f"{name!r}: {count}" for name, count in short),
        )


def latent_dim_ranking(importance: np.ndarray) -> np.ndarray:
    """Latent dims (0-based) by their total pixel importance (Inglis et al.), largest first."""
    total = np.asarray(importance, dtype=np.float64).sum(0)
    return np.argsort(-total, kind="stable")


def live_dims(ranking: np.ndarray, importance: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The dims of ``ranking`` (in its order) that are alive: their code varies
    over the test set and some pixel's permutation moves them. A dead dim (a
    ReLU unit that never fires) has nothing to attribute or visualise."""
    total = np.asarray(importance, dtype=np.float64).sum(0)
    spread = np.asarray(codes, dtype=np.float64).std(0)
    alive = [int(d) for d in ranking if total[d] > 0 and spread[d] > 0]
    if not alive:
        raise ValueError(
            f"no latent dim of this autoencoder varies over the test set ({len(spread)} dims, all constant): "
            "nothing to attribute; check its training"
        )
    return np.asarray(alive, dtype=np.int64)


def select_autoencoder_items(codes: np.ndarray, dims: np.ndarray, per_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """For each dim, the ``per_dim`` test images that drive it hardest (largest code value)."""
    rows, targets = [], []
    for d in dims:
        order = np.argsort(-codes[:, d], kind="stable")[:per_dim]
        rows.append(order)
        targets.append(np.full(len(order), d))
    return np.concatenate(rows).astype(np.int64), np.concatenate(targets).astype(np.int64)


def choose_items(
    model: nn.Module,
    data: dict[str, np.ndarray],
    cfg: dict[str, Any],
    device: torch.device,
    importance: dict[str, np.ndarray] | None = None,
    log: Any = None,
) -> dict[str, np.ndarray]:
    """Which test images are explained, for which target.

    Classifiers: the first ``images_per_class`` test images of each class,
    target = the label (or the prediction). Autoencoders: the top
    ``latent_dims`` live dims by Inglis et al.'s importance (summed over
    pixels; fewer, with a warning, if fewer are alive), each with the
    ``images_per_dim`` test images that drive it hardest; the test
    encodings' mean and sd per dim are kept for the consistency metric."""
    x_test = torch.as_tensor(data["x_test"], dtype=torch.float32, device=device)
    if is_autoencoder(model):
        if importance is None:
            raise ValueError("autoencoder targets need Inglis et al.'s importance (importance/pixel_latent.npz)")
        codes = _batched(model.encoder, x_test).cpu().double().numpy()
        ranking = latent_dim_ranking(importance["importance"])
        dims = live_dims(ranking, importance["importance"], codes)[: cfg["latent_dims"]]
        if len(dims) < cfg["latent_dims"] and log is not None:
            log.warning(
                "attribution.latent_dims %d: the code has %d dims, %d of them vary over the test set "
                "and move the code under permutation; visualising those %d",
                cfg["latent_dims"],
                codes.shape[1],
                len(dims),
                len(dims),
            )
        rows, targets = select_autoencoder_items(codes, dims, cfg["images_per_dim"])
        return {
            "rows": rows,
            "targets": targets,
            "code_mean": codes.mean(0),
            "code_sd": codes.std(0),
            "dim_ranking": ranking,
            "target_kind": np.asarray("latent"),
        }
    rows = select_classifier_items(data["y_test"], cfg["images_per_class"])
    warn_short_classes(data["y_test"], cfg["images_per_class"], data.get("classes"), log or _log)
    targets = data["y_test"][rows].astype(np.int64)
    if cfg.get("target", "label") == "predicted":
        targets = _batched(model, x_test[rows]).argmax(1).cpu().numpy().astype(np.int64)
    return {"rows": rows, "targets": targets, "target_kind": np.asarray("class")}


def attribute(
    model: nn.Module,
    layer_name: str,
    images: np.ndarray,
    targets: np.ndarray,
    settings: AttributionSettings,
    device: torch.device,
    log: Any = None,
) -> dict[str, np.ndarray]:
    """Neuron attributions of ``layer_name`` for each (image, target), the
    attribution map and beta."""
    log = log or _log
    targets = integer_targets(targets)
    forward = target_function(model)
    layer = resolve_layer(model, layer_name, "attribution layer")
    warn_outside_unit_range(images, log)
    x = torch.as_tensor(images, dtype=torch.float32, device=device)
    if len(x) == 0 or len(x) != len(targets):
        raise ValueError(
            f"attribute: {len(x)} images and {len(targets)} targets; give one target per image, at least one"
        )
    with at_inference(model):  # dropout off, batch norm frozen: explaining never changes the model
        check_split(forward, layer, x[:1], layer_name, targets)
        t = torch.as_tensor(targets, dtype=torch.long, device=device)
        result = neuron_attributions(
            forward,
            layer,
            x,
            t,
            settings.ig,
            settings.baseline,
            settings.clamp_negative,
            settings.channel_filter,
            classifier=not is_autoencoder(model),
        )
    betas, thresholds, sources = [], [], []
    # Latent dims are numbered from 1 in messages, as in the figures and Inglis et al.
    target_name = (lambda t: f"latent dim {t + 1}") if is_autoencoder(model) else (lambda t: f"class index {t}")
    for i, heat in enumerate(result.heatmap):
        item = f"item {i} ({target_name(int(targets[i]))}, layer {layer_name})"
        try:
            b = otsu_beta(heat, settings.beta_bins, settings.beta_fraction, settings.beta_fallback)
        except FlatMapError as err:
            raise FlatMapError(
                f"{item}: {err}; set attribution.beta.fallback to visualise it with a fixed beta"
            ) from None
        if b.source != "otsu":
            log.warning("%s: flat attribution map, beta = fallback %.3g", item, b.value)
        if not np.any(result.attributions[i]):
            # Nothing to maximise: the visualisation only meets the area target and
            # its correlation with R_l is undefined (NaN), so the means leave it out.
            log.warning(
                "%s: every neuron's attribution is %s, so R_l is zero: its visualisations have no attribution "
                "term and no correlation",
                item,
                "<= 0 (negatives are clamped)" if settings.clamp_negative else "0",
            )
        betas.append(b.value)
        thresholds.append(b.threshold)
        sources.append(b.source)
    return {
        "attributions": result.attributions,
        "activations": result.activations,
        "heatmap": result.heatmap,
        "output": result.output,
        "baseline_output": result.baseline_output,
        "raw_sum": result.raw_sum,
        "completeness_gap": result.completeness_gap,
        "beta": np.asarray(betas),
        "otsu_threshold": np.asarray(thresholds),
        "beta_source": np.asarray(sources),
    }


def integer_targets(targets: Sequence[int] | np.ndarray) -> np.ndarray:
    """``targets`` as int64 indices (whole-valued floats accepted, as labels often come)."""
    t = np.asarray(targets)
    if t.ndim != 1:
        raise ValueError(f"targets: one index per image, (N,); got shape {t.shape}")
    if t.dtype.kind in "iu":
        return t.astype(np.int64)
    if t.dtype.kind == "f" and np.all(np.isfinite(t)) and np.all(t == np.round(t)):
        return t.astype(np.int64)
    raise ValueError(f"targets: output indices must be whole numbers; got {t[:5].tolist()} ({t.dtype})")


def warn_outside_unit_range(images: np.ndarray | torch.Tensor, log: Any) -> None:
    """The visualisations are images in [0, 1] (a sigmoid): images on another
    scale (0-255, standardised) mean the model never saw inputs like them."""
    x = torch.as_tensor(images)
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        log.warning(
            "images range over [%.3g, %.3g], but the visualisations are images in [0, 1]: the model will be "
            "probed on inputs unlike those it saw. Give the model inputs in [0, 1] (put any scaling or "
            "normalisation inside it)",
            lo,
            hi,
        )


def lambda_reference(kind: str, attributions: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """Per image, what lambda is proportional to: ``attributions``, the sum of
    R (the paper); ``objective``, the attribution term at the explained image,
    sum(R * f_l(x)), which has the objective's units whatever the scale of the
    layer's activations."""
    r = np.asarray(attributions, dtype=np.float64).reshape(len(attributions), -1)
    if kind == "attributions":
        return r.sum(1)
    if kind == "objective":
        return np.abs((r * np.asarray(activations, dtype=np.float64).reshape(len(r), -1)).sum(1))
    raise ValueError(f"attribution.optimise.lambda_reference: unknown {kind!r}; known: attributions, objective")


def model_input_shape(model: nn.Module, input_shape: Sequence[int] | None = None) -> tuple[int, ...]:
    """The shape of one input: ``input_shape`` if given, else the model's
    own attribute. The visualisations are images, so it must be (H, W) or
    (C, H, W): channels first, as PyTorch's convolutions take them."""
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ValueError(
                f"input_shape: a {type(model).__name__} has no `input_shape` attribute; pass the shape of one "
                "input, e.g. (1, 28, 28)"
            )
    shape = tuple(int(s) for s in input_shape)
    if len(shape) < 2 or math.prod(shape[:-3]) != 1:
        raise ValueError(
            f"input_shape {shape}: attribution visualises images, so one input must be (H, W) or (C, H, W)"
        )
    if len(shape) >= 3 and shape[-1] in (3, 4) and shape[-3] > 4:
        _log.warning(
            "input_shape %s: the last axis looks like colour channels; the visualisations take (C, H, W), "
            "channels first, as PyTorch's convolutions do",
            shape,
        )
    return shape


def visualise_and_score(
    model: nn.Module,
    layer_name: str,
    attributions: np.ndarray,
    activations: np.ndarray,
    beta: np.ndarray,
    targets: np.ndarray,
    perturbation: str,
    settings: AttributionSettings,
    device: torch.device,
    code_stats: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[int], None] | None = None,
    input_shape: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Visualise every (image, initialisation) under ``perturbation``; score
    each visualisation. Items are image-major: item = image * inits + init.
    ``input_shape``: the shape of one input of ``model``, e.g. (28, 28) or
    (1, 28, 28); by default the model's ``input_shape`` (aemap's networks
    have one)."""
    input_shape = model_input_shape(model, input_shape)
    targets = integer_targets(targets)
    forward = target_function(model)
    layer = resolve_layer(model, layer_name, "attribution layer")
    with at_inference(model):  # dropout off, batch norm frozen: explaining never changes the model
        check_split(forward, layer, torch.zeros((1, *input_shape), device=device), layer_name, targets)
        inits = settings.inits
        n_images = len(attributions)
        r = torch.as_tensor(np.repeat(attributions, inits, axis=0), dtype=torch.float32, device=device)
        b = torch.as_tensor(np.repeat(beta, inits), dtype=torch.float32, device=device)
        ref = np.repeat(lambda_reference(settings.lambda_reference, attributions, activations), inits)
        vis = visualise(
            forward,
            layer,
            input_shape,
            r,
            b,
            perturbation,
            settings.optimise,
            progress,
            torch.as_tensor(ref, dtype=torch.float32, device=device),
        )
        shown = vis.composite if settings.forward == "composite" else vis.x
        xs = torch.as_tensor(shown, device=device).reshape((len(shown), *input_shape))
        acts = _batched(lambda v: trunk(forward, layer, v), xs).reshape(len(xs), -1).cpu().numpy()
        outputs = _batched(forward, xs).cpu().numpy()
    item_targets = np.repeat(targets, inits)
    scores = outputs if code_stats is None else standardised_codes(outputs, *code_stats)
    correlation = pearson_rows(acts, r.reshape(len(r), -1).cpu().numpy())
    undefined = int(np.isnan(correlation).sum())
    if undefined:
        _log.warning(
            "%s %s: %d of %d visualisations have no correlation (NaN): the layer's activations for them, or "
            "their R_l, are constant (e.g. all zero). Means over visualisations leave them out; "
            "ablation.csv counts them (correlation_undefined)",
            layer_name,
            perturbation,
            undefined,
            len(correlation),
        )
    return {
        "x": vis.x,
        "mask": vis.mask,
        "composite": vis.composite,
        "objective": vis.objective,
        "mask_mean": vis.mask_mean,
        "image": np.repeat(np.arange(n_images), inits),
        "init": np.tile(np.arange(inits), n_images),
        "target": item_targets,
        "correlation": correlation,
        "top1": in_top_k(scores, item_targets, 1),
        "topk": in_top_k(scores, item_targets, settings.top_k),
        # What the target is ranked among (the classes, or the live latent dims):
        # where it is at most k, top-k consistency is 1 whatever the visualisation.
        "n_ranked": np.isfinite(scores).sum(1).astype(np.int64),
        "target_output": outputs[np.arange(len(outputs)), item_targets],
    }


def attribute_and_visualise(
    model: nn.Module,
    layer_name: str,
    images: np.ndarray,
    targets: np.ndarray,
    perturbation: str,
    settings: AttributionSettings,
    device: torch.device,
    code_stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One layer and perturbation in memory: the attribution job's result
    (``attribute``) and the visualisation job's (``visualise_and_score``),
    for a notebook or a check. ``code_stats``: an autoencoder's code mean and
    sd, as the workflow's item choice gives them. Any model works whose
    inputs are images shaped as ``images[0]``, (H, W) or (C, H, W) (one
    channel or several, e.g. RGB: X* then has C channels, M* one), its layer named
    by its dotted module path (each activation its own module); for an
    autoencoder, pass its encoder (the targets are then latent dims)."""
    attr = attribute(model, layer_name, images, targets, settings, device)
    vis = visualise_and_score(
        model,
        layer_name,
        attr["attributions"],
        attr["activations"],
        attr["beta"],
        targets,
        perturbation,
        settings,
        device,
        code_stats,
        input_shape=getattr(model, "input_shape", None) or np.shape(images)[1:],
    )
    return attr, vis
