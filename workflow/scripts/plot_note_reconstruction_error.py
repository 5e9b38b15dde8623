"""Rule plot_note_reconstruction_error: original / reconstruction / |difference|."""

from aemap.io import load_npz
from aemap.plots.note import plot_reconstruction_error_examples
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
data = load_npz(sm.input.npz)
classes = [str(c) for c in data["classes"]]
index = data["example_index"]
metric = str(data["metric"])
plot_reconstruction_error_examples(
    data["originals"],
    data["reconstructions"],
    data["errors"][index],
    [classes[c] for c in data["y"][index]],
    str(data["image_origin"]),
    sm.output.png,
    metric=metric,
    title=f"{sm.wildcards.experiment}: reconstruction error of test images (per-image {metric} below)",
    dpi=sm.params.dpi,
    display=sm.params.display,
)
