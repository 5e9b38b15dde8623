"""Rule plot_attribution_latent_dims: latent-dim visualisations beside Inglis et al.'s heatmaps."""

import pandas as pd

from aemap.attribution.tables import figure_items, inglis_maps, row_labels, shown_visualisation
from aemap.io import load_npz
from aemap.plots.attribution import plot_latent_dims
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
comparison = pd.read_csv(sm.input.comparison)
shown, r_values = {}, {}
for layer, attr_path, vis_path in zip(sm.params.layers, sm.input.attributions, sm.input.visualisations, strict=True):
    attr, vis = load_npz(attr_path), load_npz(vis_path)
    first = figure_items(vis)
    shown[layer] = shown_visualisation(vis)[first]
    rows = comparison[
        (comparison.layer == layer) & (comparison.perturbation == sm.params.perturbation) & (comparison.init == 0)
    ]
    r_values[layer] = rows["r_visualisation"].to_numpy()
plot_latent_dims(
    attr["images"],
    inglis_maps(load_npz(sm.input.importance), attr["targets"]),
    attr["heatmap"],
    shown,
    r_values,
    row_labels(attr),
    sm.output.png,
    title=f"{sm.wildcards.experiment}: what drives each top latent dim (perturbation {sm.params.perturbation}); "
    "r = Pearson r of M*X* with Inglis et al.'s signed heatmap",
    dpi=sm.params.dpi,
    origin=sm.params.origin,
    display=sm.params.display,
)
