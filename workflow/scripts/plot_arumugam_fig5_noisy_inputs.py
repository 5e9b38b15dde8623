"""Rule plot_arumugam_fig5_noisy_inputs."""

from aemap.io import load_npz
from aemap.plots.training import plot_noisy_inputs
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
plot_noisy_inputs(
    load_npz(sm.input.npz),
    sm.output.png,
    title=f"{sm.wildcards.experiment}: inputs before and after noise (cf. Arumugam & Kiran Fig. 5)",
    dpi=sm.params.dpi,
    display=sm.params.display,
)
