"""Rule plot_arumugam_fig10_corrupted_examples: corrupted test images, most and least important pixels."""

from aemap.io import load_npz
from aemap.plots.sanity import plot_corrupted_examples
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
ex = load_npz(sm.input.examples)
plot_corrupted_examples(
    ex["originals"],
    ex["most"],
    ex["least"],
    [float(f) for f in ex["fractions"]],
    sm.output.png,
    title=f"{sm.wildcards.experiment}: corrupted test images, ranked by {str(ex['source'])} "
    "(cf. Arumugam & Kiran Fig. 10)",
    dpi=sm.params.dpi,
    origin=sm.params.origin,
    display=sm.params.display,
)
