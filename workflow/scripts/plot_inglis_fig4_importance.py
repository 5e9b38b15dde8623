"""Rule plot_inglis_fig4_importance: one figure per class."""

import re
from pathlib import Path

import pandas as pd

from aemap.io import load_npz
from aemap.plots.importance import plot_class_importance
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
pixel = load_npz(sm.input.pixel)
table = pd.read_csv(sm.input.latent, dtype={"class": str})
out = Path(sm.output.figures)
out.mkdir(parents=True, exist_ok=True)
for k, name in enumerate(pd.unique(table["class"])):
    safe = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
    plot_class_importance(
        pixel,
        table,
        name,
        out / f"class{k:02d}_{safe}.png",
        top_k=sm.params.top_k,
        filter_unused=sm.params.filter_unused,
        title=f"{sm.wildcards.experiment}: class {name}",
        dpi=sm.params.dpi,
    )
