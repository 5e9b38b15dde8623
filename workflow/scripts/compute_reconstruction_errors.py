"""Rule compute_reconstruction_errors: per-image reconstruction error of the test
set, a few examples of every class -> reconstruction/errors.npz + errors_by_class.csv."""

import numpy as np
import pandas as pd
import torch

from aemap.explain.reconstruction import examples_per_class, reconstruction_errors
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
table = pd.DataFrame(
    [
        {
            "class": name,
            "n": int((y == c).sum()),
            "mean": errors[y == c].mean(),
            "sd": errors[y == c].std(),
            "median": np.median(errors[y == c]),
            "q90": np.quantile(errors[y == c], 0.9),
        }
        for c, name in enumerate(classes)
        if (y == c).any()
    ]
)
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
