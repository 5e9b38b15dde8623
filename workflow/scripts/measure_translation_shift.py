"""Rule measure_translation_shift: sanity check 2 -> translation.json."""

import numpy as np

from aemap.checks.translation import paired_maps, translation_shift
from aemap.io import load_npz, write_json
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
base, moved = load_npz(sm.input.base), load_npz(sm.input.moved)
result = translation_shift(*paired_maps(base, moved, f"{sm.input.base} vs {sm.input.moved}"))
write_json(sm.output.json, result)
log.info(
    "digits moved by %s; saliency centre of mass by %s (mean map), %s +- %s per image",
    np.round(result["digit_shift"], 2).tolist(),
    np.round(result["saliency_shift_mean_map"], 2).tolist(),
    np.round(result["saliency_shift_per_image_mean"], 2).tolist(),
    np.round(result["saliency_shift_per_image_sd"], 2).tolist(),
)
