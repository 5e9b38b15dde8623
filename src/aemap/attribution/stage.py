"""The attribution stage as the workflow runs it: which images and targets,
their neuron attributions and beta, the visualisations under one
perturbation, and the tidy metrics. Each function reads and returns plain
arrays, so scripts stay thin and users can call them directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from aemap.attribution.layers import resolve_layer, target_function, trunk
from aemap.attribution.metrics import in_top_k, pearson_rows, standardised_codes
from aemap.attribution.neurons import neuron_attributions
from aemap.attribution.otsu import FlatMapError, otsu_beta
from aemap.attribution.perturb import Perturbation
from aemap.attribution.settings import AttributionSettings
from aemap.attribution.visualise import visualise
from aemap.models.networks import DenseAutoencoder


def is_autoencoder(model: nn.Module) -> bool:
    return isinstance(model, DenseAutoencoder)


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, size: int = 1024) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[i:i + size]) for i in range(0, len(x), size)])


def select_classifier_items(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Test-set rows: the first ``per_class`` images of each class, class by class."""
    rows = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.concatenate(rows).astype(np.int64)


def latent_dim_ranking(importance: np.ndarray) -> np.ndarray:
    """Latent dims (0-based) by their total pixel importance (Inglis et al.), largest first."""
    total = np.asarray(importance, dtype=np.float64).sum(0)
    return np.argsort(-total, kind="stable")


def select_autoencoder_items(codes: np.ndarray, dims: np.ndarray, per_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """For each dim, the ``per_dim`` test images that drive it hardest (largest code value)."""
    rows, targets = [], []
    for d in dims:
        order = np.argsort(-codes[:, d], kind="stable")[:per_dim]
        rows.append(order)
        targets.append(np.full(len(order), d))
    return np.concatenate(rows).astype(np.int64), np.concatenate(targets).astype(np.int64)


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
    forward = target_function(model)
    layer = resolve_layer(model, layer_name, "attribution layer")
    x = torch.as_tensor(images, dtype=torch.float32, device=device)
    t = torch.as_tensor(targets, dtype=torch.long, device=device)
    result = neuron_attributions(
        model, forward, layer, x, t, settings.ig, settings.baseline, settings.clamp_negative,
        settings.channel_filter, classifier=not is_autoencoder(model),
    )
    betas, thresholds, sources = [], [], []
    for i, heat in enumerate(result.heatmap):
        try:
            b = otsu_beta(heat, settings.beta_bins, settings.beta_fraction, settings.beta_fallback)
        except FlatMapError as err:
            raise FlatMapError(f"image {i} (target {int(targets[i])}): {err}; set attribution.beta.fallback "
                               "to visualise it with a fixed beta") from None
        if b.source != "otsu" and log is not None:
            log.warning("image %d (target %d): flat attribution map, beta = fallback %.3g", i, targets[i], b.value)
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


def visualise_and_score(
    model: nn.Module,
    layer_name: str,
    attributions: np.ndarray,
    beta: np.ndarray,
    targets: np.ndarray,
    perturbation: str,
    settings: AttributionSettings,
    device: torch.device,
    code_stats: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Visualise every (image, initialisation) under ``perturbation``; score
    each visualisation. Items are image-major: item = image * inits + init."""
    forward = target_function(model)
    layer = resolve_layer(model, layer_name, "attribution layer")
    inits = settings.inits
    n_images = len(attributions)
    r = torch.as_tensor(np.repeat(attributions, inits, axis=0), dtype=torch.float32, device=device)
    b = torch.as_tensor(np.repeat(beta, inits), dtype=torch.float32, device=device)
    input_shape = tuple(int(s) for s in model.input_shape)
    vis = visualise(forward, layer, input_shape, r, b, perturbation, settings.optimise, progress)
    shown = vis.composite if settings.forward == "composite" else vis.x
    xs = torch.as_tensor(shown, device=device).reshape((len(shown), *input_shape))
    acts = _batched(lambda v: trunk(forward, layer, v), xs).reshape(len(xs), -1).cpu().numpy()
    outputs = _batched(forward, xs).cpu().numpy()
    item_targets = np.repeat(targets, inits)
    scores = outputs if code_stats is None else standardised_codes(outputs, *code_stats)
    return {
        "x": vis.x,
        "mask": vis.mask,
        "composite": vis.composite,
        "objective": vis.objective,
        "mask_mean": vis.mask_mean,
        "image": np.repeat(np.arange(n_images), inits),
        "init": np.tile(np.arange(inits), n_images),
        "target": item_targets,
        "correlation": pearson_rows(acts, r.reshape(len(r), -1).cpu().numpy()),
        "top1": in_top_k(scores, item_targets, 1),
        "topk": in_top_k(scores, item_targets, settings.top_k),
        "target_output": outputs[np.arange(len(outputs)), item_targets],
    }


def metrics_rows(experiment: str, layer: str, perturbation: str, vis: dict[str, np.ndarray],
                 test_rows: np.ndarray, beta: np.ndarray) -> pd.DataFrame:
    """Tidy rows: one per visualisation."""
    image = vis["image"]
    return pd.DataFrame({
        "experiment": experiment,
        "layer": layer,
        "perturbation": perturbation,
        "image": test_rows[image],
        "init": vis["init"],
        "target": vis["target"],
        "correlation": vis["correlation"],
        "top1": vis["top1"].astype(int),
        "topk": vis["topk"].astype(int),
        "beta": beta[image],
        "mask_mean": vis["mask_mean"][:, -1],
        "target_output": vis["target_output"],
    })


def perturbation_uses_mask(kind: str) -> bool:
    return Perturbation(kind, (2, 2)).uses_mask
