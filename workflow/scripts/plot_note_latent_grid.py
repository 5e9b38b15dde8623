"""Rule plot_note_latent_grid: a 2-D code's scatter beside its decoded grid."""

from aemap.io import load_npz
from aemap.plots.note import plot_latent_grid
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
grid = load_npz(sm.input.npz)
plot_latent_grid(
    grid["codes"],
    grid["y"],
    [str(c) for c in grid["classes"]],
    grid["axis1"],
    grid["axis2"],
    grid["decoded"],
    str(grid["image_origin"]),
    sm.output.png,
    title=f"{sm.wildcards.experiment}: the 2-D latent space and what the decoder makes of it",
    dpi=sm.params.dpi,
    display=sm.params.display,
)
