"""Rule plot_reconstructions."""

from aemap.io import load_npz
from aemap.plots.training import plot_reconstructions
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
plot_reconstructions(
    load_npz(sm.input.npz),
    sm.output.png,
    title=f"{sm.wildcards.experiment}: test images",
    dpi=sm.params.dpi,
    display=sm.params.display,
)
