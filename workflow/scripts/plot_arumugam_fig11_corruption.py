"""Rule plot_arumugam_fig11_corruption: classifier accuracy against the share of corrupted pixels."""

import pandas as pd

from aemap.plots.sanity import plot_corruption_curves
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
table = pd.read_csv(sm.input.csv)
trainings = int(table["classifiers"].max())
spread = f"mean ± sd of {trainings} trainings of it; " if trainings > 1 else ""
plot_corruption_curves(
    table,
    sm.output.png,
    reported=sm.params.reported,
    title=f"{sm.wildcards.experiment}: accuracy of {sm.params.classifier} on corrupted test images\n"
    f"({spread}cf. Arumugam & Kiran Fig. 11)",
    dpi=sm.params.dpi,
)
