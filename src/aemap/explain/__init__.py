"""Explanation methods of the autoencoder papers.

* Inglis et al.: permutation importance of pixels for each latent dimension
  and of latent dimensions for each class (``permutation``, as batched tensor
  programs; ``reference`` holds the plain loops they are tested against), the
  sign of each pixel's effect (``direction``), the stage on arrays
  (``importance``), and the UMAP of the codes (``embedding``).
* Arumugam & Kiran: gradient saliency of an encoder by the complex step or
  by autograd (``saliency``).
"""

from aemap.explain.direction import Direction, regression_direction
from aemap.explain.embedding import umap_embedding
from aemap.explain.importance import ImportanceConfig, compute_importance, latent_table, summary_markdown
from aemap.explain.permutation import latent_importance_by_class, pixel_latent_importance
from aemap.explain.saliency import autograd_jacobian, csda_jacobian, saliency_maps

__all__ = [
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
    "umap_embedding",
]
