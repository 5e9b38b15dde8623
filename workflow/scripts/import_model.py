"""Rule import_model: an experiment's own weights (no training) -> model.pt, metrics.json."""

import torch

from aemap import __version__
from aemap.compute import resolve_device
from aemap.io import load_npz, write_json
from aemap.models import import_experiment, save_checkpoint
from aemap.provenance import describe_input, setup_logging, versions

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
name = sm.wildcards.experiment
arrays = load_npz(sm.input.data)
experiment = {"model": sm.params.model, "weights": sm.input.weights}
model, metrics = import_experiment(name, experiment, arrays, resolve_device(sm.params.device))
save_checkpoint(
    sm.output.model,
    model,
    experiment=name,
    model_spec=sm.params.model,
    weights=str(sm.input.weights),
    input_shape=list(arrays["x_train"].shape[1:]),
    n_classes=len(arrays["classes"]),
    classes=[str(c) for c in arrays["classes"]],
    aemap_version=__version__,
)
write_json(
    sm.output.metrics,
    {
        **metrics,
        "experiment": name,
        "versions": versions(),
        "aemap_code": sm.params.code,
        "data": describe_input(sm.input.data),
    },
)
log.info("imported %s from %s: %s", name, sm.input.weights, metrics)
