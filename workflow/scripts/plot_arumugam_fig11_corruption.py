"""Rule plot_arumugam_fig11_corruption: classifier accuracy against the share of corrupted pixels."""

import pandas as pd

from aemap.plots.sanity import plot_corruption_curves
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
table = pd.read_csv(sm.input.csv)
trainings = int(table["classifiers"].max()) if "classifiers" in table else 1
scored_by = sm.params.classifier if trainings == 1 else f"{sm.params.classifier} (mean ± sd of {trainings} trainings)"
plot_corruption_curves(
    table,
    sm.output.png,
    reported=sm.params.reported,
    title=f"{sm.wildcards.experiment}: accuracy of {scored_by} on corrupted test images (cf. Arumugam & Kiran Fig. 11)",
    dpi=sm.params.dpi,
)
