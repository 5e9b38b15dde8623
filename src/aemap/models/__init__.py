"""Models of the papers: one class per family (a dense autoencoder with any
layer list, a CNN classifier), built from config; a deterministic trainer."""

from aemap.models.factory import ModelConfigError, build_model, load_checkpoint, save_checkpoint
from aemap.models.networks import ConvClassifier, DenseAutoencoder

__all__ = [
    "ConvClassifier",
    "DenseAutoencoder",
    "ModelConfigError",
    "build_model",
    "load_checkpoint",
    "save_checkpoint",
]
