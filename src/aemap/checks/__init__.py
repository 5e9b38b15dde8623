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

from aemap.checks.corruption import SOURCES, corruption_runs, importance_sources, rank_pixels, summarise_corruption
from aemap.checks.derived import SanityConfigError, add_derived_entries, check_classifiers, derived_entries
from aemap.checks.single_class import class_mean_images, correlation_table, map_image_correlations
from aemap.checks.translation import centre_of_mass, paired_maps, translation_shift

__all__ = [
    "SOURCES",
    "SanityConfigError",
    "add_derived_entries",
    "centre_of_mass",
    "check_classifiers",
    "class_mean_images",
    "correlation_table",
    "corruption_runs",
    "derived_entries",
    "importance_sources",
    "map_image_correlations",
    "paired_maps",
    "rank_pixels",
    "summarise_corruption",
    "translation_shift",
]
