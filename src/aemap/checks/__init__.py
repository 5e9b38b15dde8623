"""Arumugam & Kiran's three sanity checks of saliency maps (Sec. 7).

* :mod:`aemap.checks.derived`: the check models as ordinary experiments
  (one autoencoder per class; one on images moved to a corner of a canvas);
* :mod:`aemap.checks.single_class`: check 1, how well each single-class
  model's map matches its class's mean image;
* :mod:`aemap.checks.translation`: check 2, the maps' centre of mass;
* :mod:`aemap.checks.corruption`: check 3, corrupting the most / least
  important pixels under several importance sources, scored by a classifier.
"""
