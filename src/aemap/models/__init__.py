"""Models of the papers: one class per family (a dense autoencoder with any
layer list, a CNN classifier), built from config; a deterministic trainer;
and the import of weights trained elsewhere."""

from aemap.models.factory import ModelConfigError, build_model, load_checkpoint, load_weights, save_checkpoint
from aemap.models.networks import ConvClassifier, DenseAutoencoder
from aemap.models.train import TrainConfig, import_experiment, train_experiment

__all__ = [
    "ConvClassifier",
    "DenseAutoencoder",
    "ModelConfigError",
    "build_model",
    "TrainConfig",
    "import_experiment",
    "load_checkpoint",
    "load_weights",
    "save_checkpoint",
    "train_experiment",
]
