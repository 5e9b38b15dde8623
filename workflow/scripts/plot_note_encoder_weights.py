"""Rule plot_note_encoder_weights: the first layer's weights as input-shaped images."""

from aemap.explain.weights import first_layer_weights, top_units
from aemap.models import load_checkpoint
from aemap.plots.note import plot_encoder_weights
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
model, _ = load_checkpoint(sm.input.model)
weights = first_layer_weights(model)
units = top_units(weights, sm.params.max_units)
shown = "all" if len(units) == len(weights) else f"the {len(units)} of largest weight norm of"
plot_encoder_weights(
    weights,
    units,
    sm.params.origin,
    sm.output.png,
    title=f"{sm.wildcards.experiment}: first-layer weights of {shown} {len(weights)} units",
    dpi=sm.params.dpi,
)
