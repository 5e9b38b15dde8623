"""Rule plot_shi_fig16_layers: attribution map and visualisation in every layer."""

from aemap.attribution.tables import figure_items, row_labels, shown_visualisation
from aemap.io import load_npz
from aemap.plots.attribution import plot_layer_grid
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
heat, shown = {}, {}
for layer, attr_path, vis_path in zip(sm.params.layers, sm.input.attributions, sm.input.visualisations, strict=True):
    attr, vis = load_npz(attr_path), load_npz(vis_path)
    heat[layer], shown[layer] = attr["heatmap"], shown_visualisation(vis)[figure_items(vis)]
plot_layer_grid(
    attr["images"],
    heat,
    shown,
    row_labels(attr),
    sm.output.png,
    title=f"{sm.wildcards.experiment}: layer by layer, perturbation {sm.params.perturbation} (cf. Shi et al. Fig. 16)",
    dpi=sm.params.dpi,
    origin=sm.params.origin,
    display=sm.params.display,
)
