"""Rule train_model: train one experiment -> model.pt, history.csv, metrics.json."""

import pandas as pd
import torch

from aemap import __version__
from aemap.compute import resolve_device
from aemap.io import atomic_path, load_npz, write_json
from aemap.models import save_checkpoint, train_experiment
from aemap.provenance import describe_input, setup_logging, versions

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
name = sm.wildcards.experiment
arrays = load_npz(sm.input.data)
experiment = {"model": sm.params.model, "train": sm.params.train}
device = resolve_device(sm.params.device)
log.info("training %s on %s with %d thread(s)", name, device, sm.threads)
model, result = train_experiment(name, experiment, arrays, device)
save_checkpoint(
    sm.output.model,
    model,
    experiment=name,
    model_spec=sm.params.model,
    train_spec=sm.params.train,
    input_shape=list(arrays["x_train"].shape[1:]),
    n_classes=len(arrays["classes"]),
    classes=[str(c) for c in arrays["classes"]],
    aemap_version=__version__,
)
with atomic_path(sm.output.history) as tmp:
    pd.DataFrame(result.history).to_csv(tmp, index=False, float_format="%.6g")
write_json(
    sm.output.metrics,
    {
        **result.metrics,
        "experiment": name,
        "versions": versions(),
        "aemap_code": sm.params.code,
        "data": describe_input(sm.input.data),
    },
)
log.info("final metrics: %s", result.metrics)
# Wall-clock times vary from run to run: they go to the log (and the rule's benchmark), not the results.
log.info("timing: %.1f s in all, %.2f s per epoch", result.timing["wall_seconds"], result.timing["seconds_per_epoch"])
