"""Explanation methods of the autoencoder papers.

* Inglis et al.: permutation importance of pixels for each latent dimension
  and of latent dimensions for each class (``permutation``, as batched tensor
  programs; ``reference`` holds the plain loops they are tested against), the
  sign of each pixel's effect (``direction``), the stage on arrays
  (``importance``).
* Arumugam & Kiran: gradient saliency of an encoder by the complex step or
  by autograd (``saliency``).
* The visualisation note: 2-D views of the codes (PCA, t-SNE, UMAP, aim's STD
  view) and the decoded grid of a 2-D code (``embedding``); reconstruction
  error per image and as an anomaly score with its ROC (``reconstruction``);
  the first layer's weights as images (``weights``).
"""

from aemap.explain.direction import Direction, regression_direction
from aemap.explain.embedding import LATENT_VIEWS, latent_grid, latent_view, stratified_sample
from aemap.explain.importance import ImportanceConfig, compute_importance, latent_table, summary_markdown
from aemap.explain.permutation import latent_importance_by_class, pixel_latent_importance
from aemap.explain.reconstruction import reconstruction_errors, roc_auc, roc_curve
from aemap.explain.saliency import autograd_jacobian, csda_jacobian, saliency_maps
from aemap.explain.weights import first_layer_weights, top_units

__all__ = [
    "LATENT_VIEWS",
    "Direction",
    "ImportanceConfig",
    "autograd_jacobian",
    "compute_importance",
    "csda_jacobian",
    "latent_importance_by_class",
    "latent_table",
    "pixel_latent_importance",
    "regression_direction",
    "saliency_maps",
    "summary_markdown",
    "first_layer_weights",
    "latent_grid",
    "latent_view",
    "reconstruction_errors",
    "roc_auc",
    "roc_curve",
    "stratified_sample",
    "top_units",
]
