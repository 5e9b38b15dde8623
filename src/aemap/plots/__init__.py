"""Figures, one module per figure family, one shared style. Plots read
precomputed results only: a colour change never reruns a computation.

Each function takes arrays and an output path and writes one PNG atomically.
"""

from aemap.plots.attribution import plot_ablation, plot_latent_dims, plot_layer_grid, plot_perturbation_grid
from aemap.plots.data import plot_dataset_samples, plot_spectrogram_examples
from aemap.plots.importance import plot_class_importance, plot_umap
from aemap.plots.note import (
    plot_anomaly_roc,
    plot_encoder_weights,
    plot_error_by_class,
    plot_latent_grid,
    plot_latent_views,
    plot_reconstruction_error_examples,
)
from aemap.plots.saliency import plot_saliency_contours
from aemap.plots.sanity import plot_corrupted_examples, plot_corruption_curves, plot_single_class_grid, plot_translation
from aemap.plots.training import plot_noisy_inputs, plot_reconstructions, plot_training_curves

__all__ = [
    "plot_ablation",
    "plot_anomaly_roc",
    "plot_encoder_weights",
    "plot_error_by_class",
    "plot_latent_grid",
    "plot_latent_views",
    "plot_reconstruction_error_examples",
    "plot_class_importance",
    "plot_corrupted_examples",
    "plot_corruption_curves",
    "plot_dataset_samples",
    "plot_latent_dims",
    "plot_layer_grid",
    "plot_noisy_inputs",
    "plot_perturbation_grid",
    "plot_reconstructions",
    "plot_saliency_contours",
    "plot_single_class_grid",
    "plot_spectrogram_examples",
    "plot_training_curves",
    "plot_translation",
    "plot_umap",
]
