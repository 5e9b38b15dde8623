"""Rule compute_corruption_accuracy: sanity check 3 -> sanity/corruption.csv (mean over the
classifiers' runs), sanity/corruption_runs.csv (every run) (+ Fig. 10 examples)."""

import numpy as np
import torch

from aemap.checks.corruption import (
    corrupted_examples,
    corruption_runs,
    importance_sources,
    label_predictor,
    rank_pixels,
    summarise_corruption,
)
from aemap.io import atomic_path, load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
cfg = sm.params.corruption
classifiers = {
    name: label_predictor(load_checkpoint(path)[0])
    for name, path in zip(cfg["classifiers"], sm.input.classifiers, strict=True)
}
log.info("scored by %d classifier(s): %s", len(classifiers), ", ".join(classifiers))
data = load_npz(sm.input.data)
x, y = data["x_test"], data["y_test"]
saved = load_npz(sm.input.maps)

# Every test image's own map: the saliency stage keeps all of them for an experiment with the sanity analysis.
per_image = saved["maps"]
if len(per_image) != len(x) or not np.array_equal(saved["index"], np.arange(len(x))):
    raise ValueError(
        f"{sm.input.maps}: holds maps of {len(per_image)} images, not of all {len(x)} test images; "
        "rerun compute_saliency_maps for this experiment"
    )
local = int(np.random.default_rng(cfg["local_seed"]).integers(len(saved["maps"])))
log.info("csda_local: the map of test image %d (label %s)", int(saved["index"][local]), saved["y"][local])
permutation = load_npz(sm.input.importance)["importance"].sum(axis=1) if "permutation" in cfg["sources"] else None
scores = importance_sources(per_image, x, saved["maps"][local], saved["mean_map"], permutation, data["x_train"])
scores = {name: scores[name] for name in cfg["sources"] if name != "random"}
seeds = tuple(cfg["random_seeds"]) if "random" in cfg["sources"] else ()
runs = corruption_runs(
    classifiers,
    x,
    y,
    scores,
    tuple(cfg["fractions"]),
    seeds,
    cfg["tie_seed"],
    cfg["threshold"],
    progress=lambda what: log.info("corrupting: %s", what),
)
table = summarise_corruption(runs)
with atomic_path(sm.output.runs) as tmp:
    runs.to_csv(tmp, index=False, float_format="%.6g")
with atomic_path(sm.output.csv) as tmp:
    table.to_csv(tmp, index=False, float_format="%.6g")
log.info("\n%s", table.to_string(index=False))

# Fig. 10: the paper's source (one local map) on the first few test images.
first = np.arange(min(cfg["examples"], len(x)))
examples = corrupted_examples(
    x[first],
    rank_pixels(scores.get("csda_local", saved["mean_map"].reshape(-1)), cfg["tie_seed"]),
    tuple(cfg["fractions"]),
    cfg["threshold"],
)
save_npz(
    sm.output.examples,
    originals=x[first],
    fractions=np.asarray(cfg["fractions"]),
    source=np.array("csda_local" if "csda_local" in scores else "csda_mean"),
    **examples,
)
