"""Rule plot_arumugam_fig7_saliency: one contour map per digit and the mean map."""

import numpy as np

from aemap.io import load_npz
from aemap.plots.saliency import plot_saliency_contours
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
data = load_npz(sm.input.npz)
classes = [str(c) for c in data["classes"]]
first = [int(np.nonzero(data["y"] == c)[0][0]) for c in range(len(classes)) if (data["y"] == c).any()]
plot_saliency_contours(
    data["images"][first],
    data["maps"][first],
    [classes[data["y"][i]] for i in first],
    data["mean_map"],
    sm.output.png,
    title=f"{sm.wildcards.experiment}: saliency of the latent variables (cf. Arumugam & Kiran Fig. 7), "
    f"{str(data['method'])}, mean over {len(data['maps'])} test images",
    dpi=sm.params.dpi,
    origin=sm.params.origin,
    display=sm.params.display,
)
