"""Explanation methods of the autoencoder papers.

* Inglis et al.: permutation importance of pixels for each latent dimension
  and of latent dimensions for each class (``permutation``, as batched tensor
  programs; ``reference`` holds the plain loops they are tested against), the
  sign of each pixel's effect (``direction``), the stage on arrays
  (``importance``; its text summary, ``summary``).
* Arumugam & Kiran: gradient saliency of an encoder by the complex step or
  by autograd (``saliency``).
* The visualisation note: 2-D views of the codes (PCA, t-SNE, UMAP, aim's STD
  view) and the decoded grid of a 2-D code (``embedding``); reconstruction
  error per image and as an anomaly score with its ROC (``reconstruction``);
  the first layer's weights as images (``weights``).
"""

from aemap.lazy import lazy_exports

# name -> the submodule that defines it, imported on first use (aemap.lazy).
_LAZY_EXPORTS = {
    "Direction": "direction",
    "regression_direction": "direction",
    "LATENT_VIEWS": "embedding",
    "latent_grid": "embedding",
    "latent_view": "embedding",
    "stratified_sample": "embedding",
    "ImportanceConfig": "importance",
    "compute_importance": "importance",
    "latent_table": "importance",
    "summary_markdown": "summary",
    "latent_importance_by_class": "permutation",
    "pixel_latent_importance": "permutation",
    "reconstruction_errors": "reconstruction",
    "roc_auc": "reconstruction",
    "roc_curve": "reconstruction",
    "autograd_jacobian": "saliency",
    "csda_jacobian": "saliency",
    "saliency_maps": "saliency",
    "first_layer_weights": "weights",
    "top_units": "weights",
}
__all__ = sorted(_LAZY_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
