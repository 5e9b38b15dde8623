"""Rule embed_latent_umap: UMAP of the test encodings."""

import numpy as np
import torch

from aemap.explain.embedding import umap_embedding
from aemap.io import load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
model, _ = load_checkpoint(sm.input.model)
arrays = load_npz(sm.input.data)
with torch.no_grad():
    z = model.encoder(torch.as_tensor(arrays["x_test"])).numpy()
u = sm.params.umap
embedding, rows = umap_embedding(z, u["n_neighbors"], u["min_dist"], u["seed"], u["max_points"])
save_npz(
    sm.output.npz,
    embedding=embedding,
    rows=rows,
    y=arrays["y_test"][rows],
    classes=arrays["classes"],
    encodings=z[rows].astype(np.float32),
)
