"""Arumugam & Kiran's three sanity checks of saliency maps (Sec. 7).

* :mod:`aemap.checks.derived`: the check models as ordinary experiments
  (one autoencoder per class; one on images moved to a corner of a canvas);
* :mod:`aemap.checks.single_class`: check 1, how well each single-class
  model's map matches its class's mean image;
* :mod:`aemap.checks.translation`: check 2, the maps' centre of mass;
* :mod:`aemap.checks.corruption`: check 3, corrupting the most / least
  important pixels under several importance sources, scored by one or more
  trainings of a classifier.
"""

from aemap.lazy import lazy_exports

# name -> the submodule that defines it, imported on first use (aemap.lazy).
_LAZY_EXPORTS = {
    "SOURCES": "corruption",
    "corruption_runs": "corruption",
    "importance_sources": "corruption",
    "rank_pixels": "corruption",
    "summarise_corruption": "corruption",
    "SanityConfigError": "derived",
    "add_derived_entries": "derived",
    "check_classifiers": "derived",
    "derived_entries": "derived",
    "class_mean_images": "single_class",
    "correlation_table": "single_class",
    "map_image_correlations": "single_class",
    "centre_of_mass": "translation",
    "paired_maps": "translation",
    "translation_shift": "translation",
}
__all__ = sorted(_LAZY_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
