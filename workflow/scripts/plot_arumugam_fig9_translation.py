"""Rule plot_arumugam_fig9_translation: a moved digit, each moved model's map, the original model's map."""

import json
from pathlib import Path

from aemap.io import load_npz
from aemap.plots.sanity import plot_translation, translation_title
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
base = load_npz(sm.input.base)
moved = [load_npz(path) for path in sm.input.moved]
result = json.loads(Path(sm.input.json).read_text())
plot_translation(
    moved[0]["images"][0],
    [
        (f"seed {t['seed']}", maps["mean_map"], tuple(t["moved_mean_map_com_px"]))
        for t, maps in zip(result["trainings"], moved, strict=True)
    ],
    base["mean_map"],
    tuple(result["base_mean_map_com_px"]),
    sm.output.png,
    title=translation_title(sm.wildcards.experiment, result),
    dpi=sm.params.dpi,
    origin=sm.params.origin,
    display=sm.params.display,
)
