"""Rule plot_arumugam_fig9_translation: a moved digit, the moved model's map, the original model's map."""

import json
from pathlib import Path

from aemap.io import load_npz
from aemap.plots.sanity import plot_translation
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
base, moved = load_npz(sm.input.base), load_npz(sm.input.moved)
result = json.loads(Path(sm.input.json).read_text())
plot_translation(
    moved["images"][0],
    moved["mean_map"],
    base["mean_map"],
    tuple(result["moved_mean_map_com_px"]),
    tuple(result["base_mean_map_com_px"]),
    sm.output.png,
    title=f"{sm.wildcards.experiment}: digits moved by {[round(v, 1) for v in result['digit_shift']]} px, "
    f"saliency centre of mass by {[round(v, 1) for v in result['saliency_shift_mean_map']]} px\n"
    "(+: centre of mass, x: canvas centre; cf. Arumugam & Kiran Fig. 9)",
    dpi=sm.params.dpi,
)
