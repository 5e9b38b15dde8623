"""Rule plot_shi_fig9_ablation: both metrics for every perturbation x layer."""

import pandas as pd

from aemap.plots.attribution import plot_ablation
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
plot_ablation(
    pd.read_csv(sm.input.ablation),
    sm.params.top_k,
    sm.output.png,
    title=f"{sm.wildcards.experiment}: perturbation ablation (cf. Shi et al. Figs. 9-10)",
    dpi=sm.params.dpi,
)
