"""Rule reconstruct_examples: a few test images per class through the trained autoencoder."""

from aemap.io import load_npz, save_npz
from aemap.models import load_checkpoint
from aemap.models.examples import reconstruction_examples
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
model, _ = load_checkpoint(sm.input.model)
examples = reconstruction_examples(
    model, load_npz(sm.input.data), sm.params.per_class, noise=sm.params.noise, seed=sm.params.seed
)
save_npz(sm.output.npz, **examples)
