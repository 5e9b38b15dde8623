"""Rule plot_note_latent_views: the 2-D views of the codes side by side."""

from aemap.io import load_npz
from aemap.plots.note import plot_latent_views
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
views = [load_npz(path) for path in sm.input.views]
plot_latent_views(
    views,
    [str(c) for c in views[0]["classes"]],
    sm.output.png,
    title=f"{sm.wildcards.experiment}: {len(views[0]['y'])} test codes in 2-D",
    dpi=sm.params.dpi,
)
