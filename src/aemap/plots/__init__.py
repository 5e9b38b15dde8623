"""Figures, one module per figure family, one shared style. Plots read
precomputed results only: a colour change never reruns a computation.

Each function takes arrays and an output path and writes one PNG atomically.
"""

from aemap.lazy import lazy_exports

# name -> the submodule that defines it, imported on first use (aemap.lazy).
_LAZY_EXPORTS = {
    "plot_ablation": "attribution",
    "plot_latent_dims": "attribution",
    "plot_layer_grid": "attribution",
    "plot_perturbation_grid": "attribution",
    "plot_dataset_samples": "data",
    "plot_spectrogram_examples": "data",
    "plot_class_importance": "importance",
    "plot_umap": "importance",
    "plot_anomaly_roc": "note",
    "plot_encoder_weights": "note",
    "plot_error_by_class": "note",
    "plot_latent_grid": "note",
    "plot_latent_views": "note",
    "plot_reconstruction_error_examples": "note",
    "plot_saliency_contours": "saliency",
    "plot_corrupted_examples": "sanity",
    "plot_corruption_curves": "sanity",
    "plot_single_class_grid": "sanity",
    "plot_translation": "sanity",
    "plot_noisy_inputs": "training",
    "plot_reconstructions": "training",
    "plot_training_curves": "training",
}
__all__ = sorted(_LAZY_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
