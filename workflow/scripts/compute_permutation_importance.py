"""Rule compute_permutation_importance: pixel_latent.npz and latent_by_class.csv."""

import torch

from aemap.compute import resolve_device
from aemap.explain.importance import ImportanceConfig, compute_importance
from aemap.io import atomic_path, load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
device = resolve_device(sm.params.device)
model, _ = load_checkpoint(sm.input.model, device)
# The memory budget sizes the row blocks (a resource: changing it reruns nothing).
cfg = ImportanceConfig.from_config({**sm.params.importance, "memory_budget_mb": float(sm.resources.memory_budget_mb)})
log.info("permutation importance of %s on %s: %s", sm.wildcards.experiment, device, cfg)
pixel, table = compute_importance(model, load_npz(sm.input.data), cfg)
save_npz(sm.output.pixel, **pixel)
with atomic_path(sm.output.latent) as tmp:
    table.to_csv(tmp, index=False, float_format="%.6g")
