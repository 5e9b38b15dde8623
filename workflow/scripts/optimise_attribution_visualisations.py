"""Rule optimise_attribution_visualisations: X*, M* and both metrics for one layer and perturbation."""

import numpy as np
import torch

from aemap.allocator import keep_freed_memory
from aemap.attribution.settings import resolve
from aemap.attribution.stage import visualise_and_score
from aemap.compute import resolve_device
from aemap.io import load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.progress import logging_beside, progress_bar
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
if sm.resources.keep_freed_memory:  # a resource (compute.keep_freed_memory): where memory comes from, not values
    log.info(keep_freed_memory())
device = resolve_device(sm.params.device)
model, _ = load_checkpoint(sm.input.model, device)
model.eval()
attr = load_npz(sm.input.attributions)
# Chunk sizing comes as resources (a change reruns nothing; the draws do not depend on it).
sizing = {"memory_budget_mb": float(sm.resources.memory_budget_mb), "max_batch": int(sm.resources.max_batch)}
settings = resolve({**sm.params.attribution, "optimise": {**sm.params.attribution["optimise"], **sizing}})
code_stats = (attr["code_mean"], attr["code_sd"]) if "code_mean" in attr else None
n_items = len(attr["rows"]) * settings.inits
log.info(
    "%s %s %s: %d visualisations x %d steps on %s, the network in %s (memory_budget_mb %g, max_batch %d)",
    sm.wildcards.experiment,
    sm.wildcards.layer,
    sm.wildcards.perturbation,
    n_items,
    settings.optimise.steps,
    device,
    settings.optimise.precision,
    settings.optimise.memory_budget_mb,
    settings.optimise.max_batch,
)
with (
    progress_bar(total=n_items * settings.optimise.steps, desc="optimise", unit="step", unit_scale=True) as bar,
    logging_beside(bar),
):
    vis = visualise_and_score(
        model,
        sm.wildcards.layer,
        attr["attributions"],
        attr["activations"],
        attr["beta"],
        attr["targets"],
        sm.wildcards.perturbation,
        settings,
        device,
        code_stats,
        bar.update,
    )
log.info(
    "correlation %.3f +- %.3f, top-1 %.2f, top-%d %.2f",
    np.nanmean(vis["correlation"]),
    np.nanstd(vis["correlation"]),
    vis["top1"].mean(),
    settings.top_k,
    vis["topk"].mean(),
)
save_npz(
    sm.output.npz,
    **vis,
    rows=attr["rows"],
    beta=attr["beta"],
    forward=np.asarray(settings.forward),
    top_k=np.int64(settings.top_k),
    steps=np.int64(settings.optimise.steps),
)
