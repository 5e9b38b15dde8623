"""Rule plot_arumugam_fig8_single_class: the single-class models' saliency maps in one grid."""

from aemap.io import load_npz
from aemap.plots.sanity import plot_single_class_grid
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
data = load_npz(sm.input.npz)
plot_single_class_grid(
    data["mean_maps"],
    [str(c) for c in data["classes"]],
    [float(r) for r in data["own_r"]],
    sm.output.png,
    title=f"{sm.wildcards.experiment}: one model per class, mean saliency over its test images "
    "(r: correlation with the class's mean image; cf. Arumugam & Kiran Fig. 8)",
    dpi=sm.params.dpi,
)
