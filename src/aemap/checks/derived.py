"""Sanity-check models as ordinary experiments, derived from config ``sanity``.

Each check model copies the checked experiment's model and training settings
and differs only in its data, so the workflow trains them with the same rule,
as parallel jobs. The checked experiments are those whose ``analyses`` list
``sanity``. For ``arumugam_dae`` on view ``mnist``:

* ``mnist_class3`` / ``arumugam_dae_class3``: digit 3 only (check 1);
* ``mnist_canvas42x42`` / ``arumugam_dae_translated``: every image on a
  42x42 canvas at ``sanity.translation.offset`` (check 2).

An entry of the same name written out in config wins over the derived one.
"""

from __future__ import annotations

import copy
from typing import Any


class SanityConfigError(ValueError):
    """``sanity`` names something that does not exist (names the key)."""


def single_class_name(experiment: str, class_name: str) -> str:
    return f"{experiment}_class{class_name}"


def translated_name(experiment: str) -> str:
    return f"{experiment}_translated"


def derived_entries(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(prepared views, experiments) that the sanity checks of every checked experiment need."""
    sanity = config.get("sanity") or {}
    experiments = config.get("experiments", {})
    bases = [name for name, exp in experiments.items() if "sanity" in (exp.get("analyses") or [])]
    if not bases:
        return {}, {}
    classifier = sanity.get("classifier")
    if classifier is not None:
        if classifier not in experiments:
            raise SanityConfigError(f"sanity.classifier: {classifier!r} is not an entry of `experiments`")
        if experiments[classifier]["model"]["family"] != "cnn":
            raise SanityConfigError(
                f"sanity.classifier: {classifier!r} is a {experiments[classifier]['model']['family']} model; "
                "check 3 scores the corrupted images with a classifier (family cnn)"
            )
    prepared: dict[str, Any] = {}
    derived: dict[str, Any] = {}
    for base in bases:
        exp = experiments[base]
        view_name = exp["data"]
        if view_name not in config.get("prepared", {}):
            raise SanityConfigError(f"experiments.{base}.data: {view_name!r} is not an entry of `prepared`")
        view = config["prepared"][view_name]
        # The paper reports no losses for these; they need only their saliency maps.
        model_exp = {k: copy.deepcopy(v) for k, v in exp.items() if k not in ("reported", "analyses", "weights")}
        model_exp["analyses"] = ["saliency"]
        for class_name in (str(c) for c in (sanity.get("single_class") or {}).get("classes") or []):
            one = copy.deepcopy(view)
            one["classes"] = [class_name]
            merge = one.pop("merge", None) or {}
            if class_name in merge:
                one["merge"] = {class_name: merge[class_name]}
            name = f"{view_name}_class{class_name}"
            prepared[name] = one
            derived[single_class_name(base, class_name)] = {**copy.deepcopy(model_exp), "data": name}
        translation = sanity.get("translation")
        if translation:
            height, width = translation["canvas"]
            moved = copy.deepcopy(view)
            moved["canvas"] = {"size": [height, width], "offset": list(translation.get("offset", [0, 0]))}
            name = f"{view_name}_canvas{height}x{width}"
            prepared[name] = moved
            derived[translated_name(base)] = {**copy.deepcopy(model_exp), "data": name}
    return prepared, derived


def add_derived_entries(config: dict[str, Any]) -> list[str]:
    """Add the derived entries to ``config`` in place (explicit entries win);
    returns the names of the derived experiments."""
    prepared, experiments = derived_entries(config)
    for name, entry in prepared.items():
        config["prepared"].setdefault(name, entry)
    for name, entry in experiments.items():
        config["experiments"].setdefault(name, entry)
    return list(experiments)
