"""Rule plot_note_error_by_class: the per-image error's distribution per class."""

from aemap.io import load_npz
from aemap.plots.note import plot_error_by_class
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
data = load_npz(sm.input.npz)
metric = str(data["metric"])
plot_error_by_class(
    data["errors"],
    data["y"],
    [str(c) for c in data["classes"]],
    sm.output.png,
    metric=metric,
    title=f"{sm.wildcards.experiment}: reconstruction error of the test images by class",
    dpi=sm.params.dpi,
)
