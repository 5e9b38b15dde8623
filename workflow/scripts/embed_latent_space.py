"""Rule embed_latent_space: one 2-D view (pca, tsne, umap, std) of a stratified
sample of the test codes -> latent/{view}.npz."""

import numpy as np
import torch

from aemap.compute import batched
from aemap.explain.embedding import VIEW_TITLES, latent_view, stratified_sample
from aemap.io import load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
view, params = sm.wildcards.view, sm.params.latent
model, _ = load_checkpoint(sm.input.model)
model.eval()
arrays = load_npz(sm.input.data)
# The same rows for every view of this experiment: the sample depends on the labels,
# the cap and the seed only.
rows = stratified_sample(arrays["y_test"], params["max_points"], params["seed"])
codes = batched(model.encoder, torch.as_tensor(arrays["x_test"][rows]), 2048).numpy()
log.info("%s of %d of %d test codes (%d dims)", view, len(rows), len(arrays["y_test"]), codes.shape[1])
result = latent_view(view, codes, params)
save_npz(
    sm.output.npz,
    embedding=result.embedding,
    rows=rows,
    y=arrays["y_test"][rows],
    classes=arrays["classes"],
    view=np.array(view),
    title=np.array(VIEW_TITLES[view]),
    x_label=np.array(result.x_label),
    y_label=np.array(result.y_label),
)
