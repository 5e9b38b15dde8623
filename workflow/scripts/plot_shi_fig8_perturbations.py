"""Rule plot_shi_fig8_perturbations: input, attribution map and every perturbation's visualisation."""

from aemap.attribution.tables import figure_items, row_labels, shown_visualisation
from aemap.io import load_npz
from aemap.plots.attribution import plot_perturbation_grid
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
attr = load_npz(sm.input.attributions)
shown, corr = {}, {}
for name, path in zip(sm.params.perturbations, sm.input.visualisations, strict=True):
    vis = load_npz(path)
    first = figure_items(vis)
    shown[name], corr[name] = shown_visualisation(vis)[first], vis["correlation"][first]
plot_perturbation_grid(
    attr["images"],
    attr["heatmap"],
    shown,
    corr,
    row_labels(attr),
    sm.output.png,
    title=f"{sm.wildcards.experiment}, layer {sm.wildcards.layer}: M*X* per perturbation, first initialisation; "
    "r = visualisation correlation (cf. Shi et al. Figs. 6-8)",
    dpi=sm.params.dpi,
    origin=sm.params.origin,
    display=sm.params.display,
)
