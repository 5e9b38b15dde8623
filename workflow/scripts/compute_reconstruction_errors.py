"""Rule compute_reconstruction_errors: per-image reconstruction error of the test
set, a few examples of every class -> reconstruction/errors.npz + errors_by_class.csv."""

import numpy as np
import torch

from aemap.explain.reconstruction import errors_by_class, examples_per_class, reconstruction_errors
from aemap.io import atomic_path, load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
cfg = sm.params.error
model, _ = load_checkpoint(sm.input.model)
arrays = load_npz(sm.input.data)
x, y, classes = arrays["x_test"], arrays["y_test"], [str(c) for c in arrays["classes"]]
errors, recon = reconstruction_errors(model, x, cfg["metric"])
shown = examples_per_class(y, cfg["examples_per_class"])
table = errors_by_class(errors, y, classes)
with atomic_path(sm.output.csv) as tmp:
    table.to_csv(tmp, index=False, float_format="%.6g")
log.info("%s per class:\n%s", cfg["metric"], table.to_string(index=False))
save_npz(
    sm.output.npz,
    errors=errors,
    y=y,
    classes=arrays["classes"],
    metric=np.array(cfg["metric"]),
    example_index=shown,
    originals=x[shown],
    reconstructions=recon[shown],
    image_origin=arrays["image_origin"],
)
