"""Rule summarise_importance: summary.md of the permutation importance."""

import pandas as pd

from aemap.explain.summary import summary_markdown
from aemap.io import atomic_path, load_npz
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
text = summary_markdown(
    sm.wildcards.experiment, pd.read_csv(sm.input.latent, dtype={"class": str}), load_npz(sm.input.pixel)
)
with atomic_path(sm.output.md) as tmp:
    tmp.write_text(text)
