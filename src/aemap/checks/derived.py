"""Sanity-check models as ordinary experiments, derived from config ``sanity``.

Each check model copies the checked experiment's model and training settings
and differs only in its data, so the workflow trains them with the same rule,
as parallel jobs. The checked experiments are those whose ``analyses`` list
``sanity``. For ``arumugam_dae`` on view ``mnist``:

* ``mnist_class3`` / ``arumugam_dae_class3``: digit 3 only (check 1);
* ``mnist_canvas42x42`` / ``arumugam_dae_translated``: every image on a
  42x42 canvas at ``sanity.translation.offset`` (check 2).

Check 3's classifier can be trained several times (``sanity.classifier_seeds``):
each seed other than the classifier's own ``train.seed`` is a copy of it,
``arumugam_cnn_seed1``, trained with that seed (a check scored by one training
run rests on that run's quirks). Check 2's translated model likewise
(``sanity.translation.seeds``): ``arumugam_dae_translated`` for the checked
experiment's own seed, ``arumugam_dae_translated_seed1`` for seed 1, ...

An entry of the same name written out in config wins over the derived one.
"""

from __future__ import annotations

import copy
from typing import Any


class SanityConfigError(ValueError):
    """``sanity`` names something that does not exist (names the key)."""


def single_class_name(experiment: str, class_name: str) -> str:
    return f"{experiment}_class{class_name}"


def translated_name(experiment: str, seed: int | None = None) -> str:
    """Check 2's model of ``experiment``; ``seed``: a training with another seed than its own."""
    return f"{experiment}_translated" if seed is None else f"{experiment}_translated_seed{seed}"


def translated_models(config: dict[str, Any], experiment: str) -> list[tuple[int | None, str]]:
    """(train seed, experiment name) of each training of check 2's translated
    model of ``experiment``, one per ``sanity.translation.seeds`` entry in the
    order given (default: one, with the checked experiment's own seed). The
    seed equal to the checked experiment's own ``train.seed`` keeps the plain
    name ``{experiment}_translated``."""
    own = ((config["experiments"][experiment]).get("train") or {}).get("seed")
    seeds = ((config.get("sanity") or {}).get("translation") or {}).get("seeds")
    if not seeds:
        return [(own, translated_name(experiment))]
    return [(seed, translated_name(experiment) if seed == own else translated_name(experiment, seed)) for seed in seeds]


def _check_seeds(key: str, seeds: list[Any]) -> None:
    if len(set(seeds)) != len(seeds) or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise SanityConfigError(f"{key}: {seeds!r} must be distinct non-negative integers")


def classifier_seed_name(classifier: str, seed: int) -> str:
    return f"{classifier}_seed{seed}"


def check_classifiers(config: dict[str, Any]) -> list[str]:
    """The experiments whose trained classifiers score check 3, one per
    ``sanity.classifier_seeds`` entry (default: the classifier as configured):
    the classifier itself for its own ``train.seed``, a derived copy for any
    other seed. Empty without ``sanity.classifier``."""
    sanity = config.get("sanity") or {}
    classifier = sanity.get("classifier")
    if classifier is None:
        return []
    seeds = sanity.get("classifier_seeds")
    if not seeds:
        return [classifier]
    own = config["experiments"][classifier]["train"]["seed"]
    return [classifier if seed == own else classifier_seed_name(classifier, seed) for seed in seeds]


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
    derived: dict[str, Any] = _classifier_copies(config)
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
            seeds = translation.get("seeds")
            if seeds:
                _check_seeds("sanity.translation.seeds", seeds)
                if "train" not in model_exp:
                    raise SanityConfigError(
                        f"sanity.translation.seeds: experiments.{base} has no `train` block to seed "
                        "(the translated model is trained like it)"
                    )
            for seed, moved_name in translated_models(config, base):
                entry = {**copy.deepcopy(model_exp), "data": name}
                if seeds:
                    entry["train"] = {**entry["train"], "seed": seed}
                derived[moved_name] = entry
    return prepared, derived


def _classifier_copies(config: dict[str, Any]) -> dict[str, Any]:
    """Check 3's classifier once more for each of ``sanity.classifier_seeds``
    but its own seed: the same data, model and training but the seed."""
    sanity = config.get("sanity") or {}
    classifier, seeds = sanity.get("classifier"), sanity.get("classifier_seeds") or []
    if classifier is None and seeds:
        raise SanityConfigError("sanity.classifier_seeds: given without a sanity.classifier to train")
    if not seeds:
        return {}
    _check_seeds("sanity.classifier_seeds", seeds)
    entry = config["experiments"][classifier]
    if entry.get("weights"):
        raise SanityConfigError(
            f"sanity.classifier_seeds: {classifier!r} loads fixed weights (experiments.{classifier}.weights) "
            "and trains nothing: set sanity.classifier_seeds: null, or give it a `train` block instead of weights"
        )
    # A copy is there to score check 3: no analyses of its own, no paper values to compare.
    base = {k: v for k, v in entry.items() if k not in ("reported", "analyses")}
    return {
        name: copy.deepcopy({**base, "train": {**base["train"], "seed": seed}, "analyses": []})
        for seed, name in zip(seeds, check_classifiers(config), strict=True)
        if name != classifier
    }


def add_derived_entries(config: dict[str, Any]) -> list[str]:
    """Add the derived entries to ``config`` in place (explicit entries win);
    returns the names of the derived experiments."""
    prepared, experiments = derived_entries(config)
    for name, entry in prepared.items():
        config["prepared"].setdefault(name, entry)
    for name, entry in experiments.items():
        config["experiments"].setdefault(name, entry)
    return list(experiments)
