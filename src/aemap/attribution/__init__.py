"""Shi, Li & Yamaguchi's attribution visualisation, in torch.

* ``layers``: named hidden layers; a model split at one (trunk / head);
* ``neurons``: integrated-gradients neuron attributions (zero or optimised
  activation baseline), the channel filter, the attribution map;
* ``otsu``: the mask's area target beta;
* ``noise``: fractal noise and the fractal noise pyramid;
* ``perturb``: the composites C(X, M, P) for every perturbation;
* ``transforms``: differentiable transformation robustness;
* ``visualise``: the batched, chunked, seeded optimisation of X and M;
* ``metrics``: visualisation correlation and classification consistency;
* ``stage``: the workflow's steps on arrays.
"""

from aemap.attribution.layers import named_layers, resolve_layer
from aemap.attribution.neurons import neuron_attributions
from aemap.attribution.otsu import otsu_beta
from aemap.attribution.perturb import PERTURBATIONS, Perturbation
from aemap.attribution.visualise import OptimiseSettings, visualise

__all__ = [
    "PERTURBATIONS",
    "OptimiseSettings",
    "Perturbation",
    "named_layers",
    "neuron_attributions",
    "otsu_beta",
    "resolve_layer",
    "visualise",
]
