"""Which analyses each experiment gets.

An experiment lists its ``analyses``; one that lists none gets the defaults
of its ``paper`` from config ``default_analyses``, less those its model
family cannot run. An analysis listed explicitly that does not fit the
family, or an experiment left with no analysis at all, is a config error
naming the key. Every experiment also gets its prepared data, a sample grid
and its model (trained, with training curves, or imported from ``weights``).
"""

from __future__ import annotations

from typing import Any

# Analysis -> the model families it can explain (and what it builds, for messages).
ANALYSES: dict[str, tuple[frozenset[str], str]] = {
    "reconstructions": (frozenset({"dense_ae"}), "originals above reconstructions (and noisy inputs of a DAE)"),
    "importance": (frozenset({"dense_ae"}), "Inglis et al.'s permutation importance of pixels and latent dims"),
    "umap": (frozenset({"dense_ae"}), "a UMAP of the test set's latent codes"),
    "saliency": (frozenset({"dense_ae"}), "Arumugam & Kiran's gradient saliency of the encoder"),
    "sanity": (frozenset({"dense_ae"}), "Arumugam & Kiran's three sanity checks (trains one model per check)"),
    "attribution": (frozenset({"dense_ae", "cnn"}), "Shi, Li & Yamaguchi's attribution visualisation"),
    "latent": (frozenset({"dense_ae"}), "PCA, t-SNE, UMAP and STD views of the codes (a 2-D code: its decoded grid)"),
    "reconstruction_error": (
        frozenset({"dense_ae"}),
        "the reconstruction error: examples and its distribution per class",
    ),
    "anomaly": (frozenset({"dense_ae"}), "the reconstruction error as a score for unseen classes: ROC and AUC"),
    "encoder_weights": (frozenset({"dense_ae"}), "the first layer's weights as images"),
}


# The training losses of each model family; one alone is the family's default.
LOSSES = {"cnn": ("cross_entropy",), "dense_ae": ("bce", "mse")}


class AnalysesConfigError(ValueError):
    """An experiment's analyses do not fit it (the message names the key)."""


def fits(analysis: str, family: str) -> bool:
    return family in ANALYSES[analysis][0]


def resolve_analyses(config: dict[str, Any]) -> list[str]:
    """Fill ``experiments.<name>.analyses`` in place (explicit lists are kept) and
    return one error line per problem, each naming its key; empty when all is well."""
    defaults = config.get("default_analyses") or {}
    errors: list[str] = []
    for name, exp in config["experiments"].items():
        family = exp["model"]["family"]
        key = f"experiments.{name}.analyses"
        if "train" not in exp and "weights" not in exp:
            errors.append(f"experiments.{name}: give `train` (how to train the model) or `weights` (your own model)")
        loss = (exp.get("train") or {}).get("loss")
        fitting = LOSSES.get(family, ())
        if "train" in exp and loss is None:
            if len(fitting) == 1:  # a classifier has one loss: it is the default
                exp["train"]["loss"] = fitting[0]
            else:
                errors.append(
                    f"experiments.{name}.train.loss: missing; a {family} model trains with {' or '.join(fitting)}: "
                    "choose one"
                )
        elif loss is not None and loss not in fitting:
            errors.append(
                f"experiments.{name}.train.loss: a {family} model trains with {' or '.join(fitting)}, not {loss!r}"
            )
        if "train" in exp and "weights" in exp:
            errors.append(f"experiments.{name}: give `train` or `weights`, not both (weights are used as they are)")
        if exp.get("analyses") is not None:
            chosen = list(exp["analyses"])
            for analysis in chosen:
                if analysis not in ANALYSES:
                    errors.append(f"{key}: unknown analysis {analysis!r}; known: {', '.join(ANALYSES)}")
                elif not fits(analysis, family):
                    families = " or ".join(sorted(ANALYSES[analysis][0]))
                    errors.append(f"{key}: {analysis!r} needs a model of family {families}; this one is {family}")
        else:
            paper = exp.get("paper", "none")
            chosen = [a for a in defaults.get(paper, []) if a in ANALYSES and fits(a, family)]
            if not chosen:
                errors.append(
                    f"{key}: none given, and default_analyses.{paper} holds none that a {family} model can run; "
                    f"list them, e.g. analyses: [{', '.join(a for a in ANALYSES if fits(a, family))}]"
                )
        if exp.get("analyses") is not None and not chosen:
            errors.append(f"{key}: an empty list builds nothing; list at least one analysis")
        if "sanity" in chosen and "train" not in exp:
            errors.append(f"{key}: 'sanity' retrains the model on parts of the data; it needs experiments.{name}.train")
        if "anomaly" in chosen and "anomaly" not in exp:
            errors.append(
                f"{key}: 'anomaly' needs experiments.{name}.anomaly.data, the prepared view whose other classes "
                "are the unseen items"
            )
        if "anomaly" in exp and "anomaly" not in chosen:
            errors.append(f"experiments.{name}.anomaly: given, but {key} does not list 'anomaly'")
        if "latent" in chosen and family == "dense_ae" and (exp["model"].get("encoder") or [2])[-1] < 2:
            errors.append(f"{key}: 'latent' draws 2-D views of the code; this code has 1 dimension")
        exp["analyses"] = chosen
    return errors


def experiments_with(config: dict[str, Any], analysis: str) -> list[str]:
    """Names of the experiments (resolved) that run ``analysis``, in config order."""
    return [name for name, exp in config["experiments"].items() if analysis in exp.get("analyses", [])]
