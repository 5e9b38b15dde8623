"""Rule collect_attribution_metrics: every visualisation's metrics -> metrics.csv, and the ablation table."""

import pandas as pd

from aemap.attribution.tables import ablation_table, metrics_rows
from aemap.io import atomic_path, load_npz
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
frames = []
for (layer, perturbation), path in zip(sm.params.pairs, sm.input.visualisations, strict=True):
    vis = load_npz(path)
    frames.append(metrics_rows(sm.wildcards.experiment, layer, perturbation, vis, vis["rows"], vis["beta"]))
metrics = pd.concat(frames, ignore_index=True)
ablation = ablation_table(metrics)
log.info("ablation:\n%s", ablation.to_string())
with atomic_path(sm.output.metrics) as tmp:
    metrics.to_csv(tmp, index=False, float_format="%.6g")
with atomic_path(sm.output.ablation) as tmp:
    ablation.to_csv(tmp, index=False, float_format="%.6g")
