"""Rule plot_dataset_samples: example grid of one prepared dataset."""

from aemap.io import load_npz
from aemap.plots.data import plot_dataset_samples
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
plot_dataset_samples(
    load_npz(sm.input.npz),
    sm.output.png,
    per_class=sm.params.per_class,
    seed=sm.params.seed,
    title=sm.wildcards.name,
    dpi=sm.params.dpi,
    display=sm.params.display,
)
