"""Rule compute_saliency_maps: saliency maps of test images -> saliency/maps.npz."""

import numpy as np
import torch

from aemap.explain.saliency import saliency_maps
from aemap.io import load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
cfg = {**sm.params.saliency, "images_per_pass": int(sm.resources.images_per_pass)}  # sizing: a resource
model, _ = load_checkpoint(sm.input.model)
data = load_npz(sm.input.data)
n = len(data["x_test"]) if cfg["images"] is None else min(cfg["images"], len(data["x_test"]))
index = np.arange(n)  # the first n test images: the same images for every method and rerun
result = saliency_maps(model.encoder, data["x_test"][index], cfg["method"], cfg["h"], cfg["images_per_pass"])
log.info(
    "%d maps by %s; CSDA vs autograd max relative difference %.3g",
    n,
    cfg["method"],
    float(result["csda_vs_autograd_rel"]),
)
save_npz(
    sm.output.npz,
    index=index,
    y=data["y_test"][index],
    images=data["x_test"][index],
    classes=data["classes"],
    h=np.float64(cfg["h"]),
    **result,
)
