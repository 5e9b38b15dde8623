"""Rule plot_inglis_fig9_spectrograms: one example spectrogram per class."""

from aemap.io import load_npz
from aemap.plots.data import plot_spectrogram_examples
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
plot_spectrogram_examples(
    load_npz(sm.input.npz),
    sm.output.png,
    title=f"{sm.wildcards.dataset}: one spectrogram per digit (cf. Inglis et al. Fig. 9)",
    dpi=sm.params.dpi,
)
