"""Rule plot_inglis_fig11_umap."""

from aemap.io import load_npz
from aemap.plots.importance import plot_umap
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
data = load_npz(sm.input.npz)
plot_umap(
    data["embedding"],
    data["y"],
    [str(c) for c in data["classes"]],
    sm.output.png,
    title=f"{sm.wildcards.experiment}: UMAP of the test encodings (cf. Inglis et al. Fig. 11)",
    dpi=sm.params.dpi,
)
