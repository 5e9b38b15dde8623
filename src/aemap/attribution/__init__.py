"""Shi, Li & Yamaguchi's attribution visualisation, in torch.

* ``layers``: named hidden layers; a model split at one (trunk / head);
* ``neurons``: integrated-gradients neuron attributions (zero or optimised
  activation baseline), the channel filter, the attribution map;
* ``otsu``: the mask's area target beta;
* ``noise``: fractal noise and the fractal noise pyramid;
* ``perturb``: the composites C(X, M, P) for every perturbation;
* ``transforms``: differentiable transformation robustness;
* ``visualise``: the batched, chunked, seeded optimisation of X and M
  (``aemap.attribution.visualise.visualise``);
* ``metrics``: visualisation correlation and classification consistency;
* ``stage``: the workflow's steps on arrays;
* ``tables``: the tidy metrics, the ablation and what the figures show (no torch).
"""

from aemap.lazy import lazy_exports

# name -> the submodule that defines it, imported on first use (aemap.lazy).
_LAZY_EXPORTS = {
    "named_layers": "layers",
    "resolve_layer": "layers",
    "neuron_attributions": "neurons",
    "otsu_beta": "otsu",
    "PERTURBATIONS": "perturb",
    "Perturbation": "perturb",
    "OptimiseSettings": "visualise",
}
__all__ = sorted(_LAZY_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
