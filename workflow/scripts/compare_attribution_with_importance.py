"""Rule compare_attribution_with_importance: each latent-dim visualisation against Inglis et al.'s signed heatmap."""

from aemap.attribution.tables import compare_with_importance
from aemap.io import atomic_path, load_npz
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
importance = load_npz(sm.input.importance)
attributions = {layer: load_npz(p) for layer, p in zip(sm.params.layers, sm.input.attributions, strict=True)}
visualisations = [
    (layer, pert, load_npz(p)) for (layer, pert), p in zip(sm.params.pairs, sm.input.visualisations, strict=True)
]
table = compare_with_importance(importance, attributions, visualisations)
log.info(
    "Pearson r with the Inglis heatmap, mean by layer and perturbation:\n%s",
    table.groupby(["layer", "perturbation"])[["r_visualisation", "r_heatmap"]].mean().to_string(),
)
with atomic_path(sm.output.csv) as tmp:
    table.to_csv(tmp, index=False, float_format="%.6g")
