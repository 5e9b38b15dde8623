"""Rule plot_arumugam_fig11_corruption: classifier accuracy against the share of corrupted pixels."""

import pandas as pd

from aemap.plots.sanity import plot_corruption_curves
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
plot_corruption_curves(
    pd.read_csv(sm.input.csv),
    sm.output.png,
    reported=sm.params.reported,
    title=f"{sm.wildcards.experiment}: accuracy of {sm.params.classifier} on corrupted test images "
    "(cf. Arumugam & Kiran Fig. 11)",
    dpi=sm.params.dpi,
)
