"""Rule decode_latent_grid: a 2-unit code's test codes and the decoder's output
on a grid over the code plane -> latent/grid.npz."""

import numpy as np
import torch

from aemap.compute import batched
from aemap.explain.embedding import latent_grid, stratified_sample
from aemap.io import load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
model, _ = load_checkpoint(sm.input.model)
model.eval()
if model.latent_dim != 2:
    raise ValueError(f"{sm.input.model}: the decoded grid needs a 2-unit code, this one has {model.latent_dim}")
arrays = load_npz(sm.input.data)
rows = stratified_sample(arrays["y_test"], sm.params.sample["max_points"], sm.params.sample["seed"])
codes = batched(model.encoder, torch.as_tensor(arrays["x_test"][rows]), 2048).numpy()
axis1, axis2 = latent_grid(codes, sm.params.grid["n"], sm.params.grid["quantile"])
points = np.stack(np.meshgrid(axis1, axis2, indexing="ij"), axis=-1).reshape(-1, 2)
decoded = batched(model.decoder, torch.as_tensor(points, dtype=torch.float32), 1024).numpy()
log.info(
    "grid %d x %d over dim 1 [%.3g, %.3g], dim 2 [%.3g, %.3g]", len(axis1), len(axis2), *axis1[[0, -1]], *axis2[[0, -1]]
)
save_npz(
    sm.output.npz,
    codes=codes.astype(np.float32),
    y=arrays["y_test"][rows],
    classes=arrays["classes"],
    axis1=axis1,
    axis2=axis2,
    decoded=decoded.reshape(len(axis1), len(axis2), *decoded.shape[1:]).astype(np.float32),
    image_origin=arrays["image_origin"],
)
