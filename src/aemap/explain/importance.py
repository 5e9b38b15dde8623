"""Inglis et al.'s three analyses of one trained autoencoder, as tables:
pixel -> latent importance with direction, latent -> reconstruction
importance per class, and a short text summary.

Latent dimensions are numbered from 1 in tables and figures, as in the paper
(R indexing); arrays are indexed from 0.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
import torch

from aemap.compute import batched
from aemap.explain.direction import regression_direction
from aemap.explain.permutation import DEFAULT_BUDGET_MB, latent_importance_by_class, pixel_latent_importance
from aemap.explain.summary import summary_markdown as summary_markdown


@dataclass(frozen=True)
class ImportanceConfig:
    """Config ``importance``."""

    n_permutations: int = 4
    metric: str = "mse"
    latent_against: str = "reconstruction"
    direction_rule: str = "aim"
    alpha: float = 0.05
    min_abs_r: float = 0.1
    seed: int = 0
    memory_budget_mb: float = DEFAULT_BUDGET_MB

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ImportanceConfig:
        """From config ``importance``; a key left out takes the default above (the
        schema's defaults are the same, which tests/test_config.py checks)."""
        direction = cfg.get("direction", {})
        given = {
            **{k: v for k, v in cfg.items() if k in _FIELDS},
            **{f"direction_{k}" if k == "rule" else k: v for k, v in direction.items()},
        }
        return cls(**{k: v for k, v in given.items() if k in _FIELDS})


_FIELDS = {f.name for f in fields(ImportanceConfig)}


def compute_importance(
    model: torch.nn.Module, arrays: dict[str, np.ndarray], cfg: ImportanceConfig, progress: bool = True
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """(pixel_latent arrays for ``pixel_latent.npz``, the ``latent_by_class`` table)."""
    x, y = arrays["x_test"], arrays["y_test"]
    classes = [str(c) for c in arrays["classes"]]
    pixel = pixel_latent_importance(
        model.encoder, x, cfg.n_permutations, cfg.metric, cfg.seed, cfg.memory_budget_mb, progress=progress
    )
    device = next(model.parameters()).device
    with torch.no_grad():
        z = batched(model.encoder, torch.as_tensor(x, device=device), 8192).cpu().numpy()
    direction = regression_direction(x, z, cfg.direction_rule, cfg.alpha, cfg.min_abs_r)
    latent = latent_importance_by_class(
        model.encoder,
        model.decoder,
        x,
        y,
        len(classes),
        cfg.n_permutations,
        cfg.latent_against,
        cfg.seed,
        cfg.memory_budget_mb,
        progress=progress,
    )
    pixel_arrays = {
        "importance": pixel.importance,
        "std": pixel.std,
        "per_permutation": pixel.per_permutation,
        "slope": direction.slope,
        "r": direction.r,
        "sign": direction.sign,
        "signed": direction.sign * pixel.importance,
        "image_shape": np.array(x.shape[1:], dtype=np.int64),
        "image_origin": np.array(str(arrays["image_origin"])),
        "metric": np.array(cfg.metric),
        "direction_rule": np.array(cfg.direction_rule),
        "latent_std": z.std(axis=0),
    }
    return pixel_arrays, latent_table(latent.importance, latent.std, classes)


def latent_table(importance: np.ndarray, std: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """Tidy table: one row per (class, dim); rank 1 = most important dim of the class."""
    rows = []
    for c, name in enumerate(classes):
        order = np.argsort(-importance[c], kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(1, len(order) + 1)
        for d in range(importance.shape[1]):
            rows.append(
                {"class": name, "dim": d + 1, "importance": importance[c, d], "std": std[c, d], "rank": int(rank[d])}
            )
    return pd.DataFrame(rows)
