"""Rule measure_translation_shift: sanity check 2, over every training of the translated model -> translation.json."""

import numpy as np

from aemap.checks.translation import combine_trainings, paired_maps, translation_shift
from aemap.io import load_npz, write_json
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
base = load_npz(sm.input.base)
per_training = []
for path, seed, experiment in zip(sm.input.moved, sm.params.seeds, sm.params.experiments, strict=True):
    result = translation_shift(*paired_maps(base, load_npz(path), f"{sm.input.base} vs {path}"))
    log.info(
        "%s (seed %s): saliency core moved by %s (mean map), the whole map by %s; digits by %s",
        experiment,
        seed,
        np.round(result["saliency_top10_shift_mean_map"], 2).tolist(),
        np.round(result["saliency_shift_mean_map"], 2).tolist(),
        np.round(result["digit_shift"], 2).tolist(),
    )
    per_training.append(result)
combined = combine_trainings(per_training, list(sm.params.seeds), list(sm.params.experiments))
write_json(sm.output.json, combined)
log.info(
    "over %d training(s): saliency core moved by %s +- %s, the whole map by %s +- %s (mean +- sd over trainings)",
    len(per_training),
    np.round(combined["saliency_top10_shift_mean_map"], 2).tolist(),
    np.round(combined["saliency_top10_shift_mean_map_sd"], 2).tolist(),
    np.round(combined["saliency_shift_mean_map"], 2).tolist(),
    np.round(combined["saliency_shift_mean_map_sd"], 2).tolist(),
)
