"""Rule compute_neuron_attributions: IG attributions of one layer, heatmaps and beta -> attributions.npz."""

import numpy as np
import torch

from aemap.attribution.settings import resolve
from aemap.attribution.stage import attribute, choose_items
from aemap.compute import resolve_device
from aemap.io import load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
device = resolve_device(sm.params.device)
model, _ = load_checkpoint(sm.input.model, device)
model.eval()
data = load_npz(sm.input.data)
importance = load_npz(sm.input.importance) if "importance" in sm.input.keys() else None
# IG's points per pass size the work (a resource: changing it reruns nothing).
cfg = {**sm.params.attribution}
cfg["ig"] = {**cfg["ig"], "internal_batch_size": int(sm.resources.internal_batch_size)}
items = choose_items(model, data, cfg, device, importance, log)
rows = items["rows"]
result = attribute(model, sm.wildcards.layer, data["x_test"][rows], items["targets"], resolve(cfg), device, log)
log.info(
    "%s %s: %d items; completeness gap max %.3g (output differences %.3g..%.3g); beta %.3f..%.3f",
    sm.wildcards.experiment,
    sm.wildcards.layer,
    len(rows),
    result["completeness_gap"].max(),
    np.min(result["output"] - result["baseline_output"]),
    np.max(result["output"] - result["baseline_output"]),
    result["beta"].min(),
    result["beta"].max(),
)
save_npz(
    sm.output.npz,
    **items,
    **result,
    images=data["x_test"][rows],
    y=data["y_test"][rows],
    classes=data["classes"],
    image_origin=data["image_origin"],  # how the explorer orients the images (spectrograms: 'lower')
    layer=np.asarray(sm.wildcards.layer),
    baseline=np.asarray(sm.params.attribution["baseline"]["kind"]),
)
