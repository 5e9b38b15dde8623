"""The layer names a model built from config ``model`` will have
(``aemap.attribution.layers`` names them on a built model).

Apart from ``layers`` (torch) so that the workflow can plan each
experiment's layers, and check the ones a config names, when it reads the
config without importing torch; only a dotted module path builds the model.
"""

from __future__ import annotations

import math


def layer_names_of_spec(spec: dict) -> list[str]:
    """The short layer names a model built from config ``model`` will have
    (checked against :func:`named_layers` in the tests)."""
    if spec.get("family") == "cnn":
        return [f"conv{i}" for i in range(1, len(spec["channels"]) + 1)] + [
            f"dense{i}" for i in range(1, len(spec.get("hidden", [128])) + 1)
        ]
    if spec.get("family") == "dense_ae":
        return [f"hidden{i}" for i in range(1, len(spec["encoder"]))] + ["latent"]
    return []


def module_paths_of_spec(spec: dict) -> list[str] | None:
    """The dotted module paths a model built from config ``model`` will have
    (``features.3``, ``encoder.1``, ...), or None if the spec does not build.
    Module names do not depend on the data, so the model is built on a
    nominal input large enough for any pooling, with two classes."""
    from aemap.models import ModelConfigError, build_model

    n_blocks = len(spec.get("channels") or []) if spec.get("family") == "cnn" else 0
    side = max(28, int(spec.get("pool", 2)) ** n_blocks)
    widest = max([1, *(spec.get("encoder") or [])])
    side = max(side, math.isqrt(widest) + 1)
    try:
        model = build_model(spec, (side, side), 2)
    except (ModelConfigError, TypeError, ValueError):
        return None
    return [name for name, _ in model.named_modules() if name]


def default_layer_names_of_spec(spec: dict) -> list[str]:
    """Every conv block of a CNN; the last hidden layer of an encoder, else its code."""
    names = layer_names_of_spec(spec)
    if spec.get("family") == "dense_ae":
        hidden = [n for n in names if n.startswith("hidden")]
        return [hidden[-1]] if hidden else ["latent"]
    return [n for n in names if n.startswith("conv")] or names
