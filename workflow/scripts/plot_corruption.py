"""Rules plot_fig10_corrupted_examples and plot_fig11_corruption."""

import pandas as pd

from aemap.io import load_npz
from aemap.plots.sanity import plot_corrupted_examples, plot_corruption_curves
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
name = sm.wildcards.experiment
if "examples" in sm.input.keys():
    ex = load_npz(sm.input.examples)
    plot_corrupted_examples(
        ex["originals"], ex["most"], ex["least"], [float(f) for f in ex["fractions"]], sm.output.png,
        title=f"{name}: corrupted test images, ranked by {str(ex['source'])} (cf. Arumugam & Kiran Fig. 10)",
        dpi=sm.params.dpi,
    )
else:
    table = pd.read_csv(sm.input.csv)
    plot_corruption_curves(
        table, sm.output.png, reported=sm.params.reported,
        title=f"{name}: accuracy of {sm.params.classifier} on corrupted test images (cf. Arumugam & Kiran Fig. 11)",
        dpi=sm.params.dpi,
    )
