"""The attribution stage's tables and the choices its figures make, on
plain arrays: the tidy metrics, the ablation, what a figure shows of a
visualisation, and the autoencoders' comparison with Inglis et al. NumPy and
pandas only (no torch), so the jobs that only tabulate or draw start fast;
``aemap.attribution.stage`` re-exports them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aemap.attribution.metrics import pearson_rows


def metrics_rows(
    experiment: str, layer: str, perturbation: str, vis: dict[str, np.ndarray], test_rows: np.ndarray, beta: np.ndarray
) -> pd.DataFrame:
    """Tidy rows: one per visualisation."""
    image = vis["image"]
    return pd.DataFrame(
        {
            "experiment": experiment,
            "layer": layer,
            "perturbation": perturbation,
            "image": test_rows[image],
            "init": vis["init"],
            "target": vis["target"],
            "correlation": vis["correlation"],
            "top1": vis["top1"].astype(int),
            "topk": vis["topk"].astype(int),
            "n_ranked": vis["n_ranked"],
            "beta": beta[image],
            "mask_mean": vis["mask_mean"][:, -1],
            "target_output": vis["target_output"],
        }
    )


def ablation_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of both metrics per layer x perturbation (the paper's Figs. 9-10)."""
    grouped = metrics.groupby(["experiment", "layer", "perturbation"], sort=False)
    table = grouped.agg(
        n=("correlation", "size"),
        correlation=("correlation", "mean"),
        correlation_sd=("correlation", "std"),
        correlation_undefined=("correlation", lambda c: int(c.isna().sum())),
        top1=("top1", "mean"),
        topk=("topk", "mean"),
        n_ranked=("n_ranked", "min"),
        mask_mean=("mask_mean", "mean"),
        beta=("beta", "mean"),
    )
    return table.reset_index()


def shown_visualisation(vis: dict[str, np.ndarray]) -> np.ndarray:
    """What a figure shows of each visualisation: X* where the mask keeps it
    (M* X*; the one mask over every channel of a colour image)."""
    mask, x = vis["mask"], vis["x"]
    return (mask[:, None] if x.ndim > mask.ndim else mask) * x


def compare_with_importance(
    importance: dict[str, np.ndarray],
    attributions: dict[str, dict[str, np.ndarray]],
    visualisations: list[tuple[str, str, dict[str, np.ndarray]]],
) -> pd.DataFrame:
    """Pearson r of each latent-dim visualisation (M* X*) and of its attribution
    map with Inglis et al.'s signed pixel heatmap of the same dim."""
    frames = []
    for layer, perturbation, vis in visualisations:
        attr = attributions[layer]
        dims = vis["target"]
        inglis = inglis_maps(importance, dims)
        heat = attr["heatmap"][vis["image"]]
        frames.append(
            pd.DataFrame(
                {
                    "layer": layer,
                    "perturbation": perturbation,
                    "image": attr["rows"][vis["image"]],
                    "init": vis["init"],
                    "dim": dims + 1,  # numbered from 1 as in Inglis et al.
                    "r_visualisation": pearson_rows(shown_visualisation(vis), inglis),
                    "r_heatmap": pearson_rows(heat, inglis),
                    "top1": vis["top1"].astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def figure_items(vis: dict[str, np.ndarray]) -> np.ndarray:
    """Item indices of the first initialisation of each image, in image order."""
    return np.flatnonzero(vis["init"] == 0)


def row_labels(attr: dict[str, np.ndarray]) -> list[str]:
    """'class <name>' for a classifier's items, 'dim <k>' (from 1) for an autoencoder's."""
    if str(attr["target_kind"]) == "latent":
        return [f"dim {int(t) + 1}" for t in attr["targets"]]
    classes = [str(c) for c in attr["classes"]]
    return [f"class {classes[int(t)]}" for t in attr["targets"]]


def inglis_maps(importance: dict[str, np.ndarray], dims: np.ndarray) -> np.ndarray:
    """Inglis et al.'s signed pixel heatmaps of latent ``dims`` (0-based), as images."""
    shape = tuple(int(s) for s in importance["image_shape"])
    return np.asarray(importance["signed"])[:, dims].T.reshape(len(dims), *shape)
