"""Rule plot_training_curves."""

import pandas as pd

from aemap.plots.training import plot_training_curves
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
plot_training_curves(
    pd.read_csv(sm.input.history),
    sm.output.png,
    title=f"{sm.wildcards.experiment}: training",
    reported=sm.params.reported,
    loss=sm.params.loss,
    dpi=sm.params.dpi,
)
