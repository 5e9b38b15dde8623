"""The config's single sources of truth: schema enumerations and defaults equal
the package's, and each experiment's analyses resolve as the config says."""

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from aemap.analyses import ANALYSES, experiments_with, resolve_analyses
from aemap.attribution.perturb import PERTURBATIONS
from aemap.attribution.visualise import PRECISIONS
from aemap.checks.corruption import SOURCES
from aemap.explain.embedding import LATENT_VIEWS
from aemap.explain.importance import ImportanceConfig
from aemap.explain.reconstruction import ERROR_METRICS
from aemap.models.networks import ACTIVATIONS
from aemap.plots.sanity import SOURCE_COLOURS

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def test_schema_enumerations_equal_the_packages():
    defs = SCHEMA["$defs"]
    assert defs["activation"]["enum"] == list(ACTIVATIONS)
    assert defs["analyses"]["items"]["enum"] == list(ANALYSES)
    assert defs["perturbations"]["items"]["enum"] == list(PERTURBATIONS)
    optimise = SCHEMA["properties"]["attribution"]["properties"]["optimise"]["properties"]
    assert optimise["precision"]["enum"] == list(PRECISIONS)
    corruption = SCHEMA["properties"]["sanity"]["properties"]["corruption"]["properties"]["sources"]
    assert corruption["items"]["enum"] == list(SOURCES)
    assert set(SOURCE_COLOURS) == set(SOURCES)  # every source has its colour in the figures
    props = SCHEMA["properties"]
    assert props["latent"]["properties"]["views"]["items"]["enum"] == list(LATENT_VIEWS)
    assert props["reconstruction_error"]["properties"]["metric"]["enum"] == list(ERROR_METRICS)
    papers = props["experiments"]["additionalProperties"]["properties"]["paper"]["enum"]
    assert set(props["default_analyses"]["properties"]) == set(papers)  # defaults for every paper


def test_importance_defaults_are_the_schemas():
    props = SCHEMA["properties"]["importance"]["properties"]
    ours = ImportanceConfig.from_config({})
    for field in dataclasses.fields(ImportanceConfig):
        if field.name.startswith("direction_") or field.name in ("alpha", "min_abs_r"):
            key = field.name.removeprefix("direction_")
            schema_default = props["direction"]["properties"][key]["default"]
        else:
            schema_default = props[field.name]["default"]
        assert getattr(ours, field.name) == schema_default, field.name
    assert ImportanceConfig.from_config({"direction": {"rule": "effect"}}).direction_rule == "effect"


def _config(**experiments):
    return {
        "default_analyses": copy.deepcopy(CONFIG["default_analyses"]),
        "experiments": {
            name: {
                "data": "d",
                "model": {"family": family},
                "train": {"loss": "bce"} if family == "dense_ae" else {},
                **extra,
            }
            for name, (family, extra) in experiments.items()
        },
    }


def test_every_paper_experiment_lists_what_it_builds():
    cfg = copy.deepcopy(CONFIG)
    assert resolve_analyses(cfg) == []
    assert experiments_with(cfg, "sanity") == ["arumugam_dae"]
    assert experiments_with(cfg, "importance") == [
        n for n, e in CONFIG["experiments"].items() if e["paper"] == "inglis"
    ]
    assert sorted(experiments_with(cfg, "attribution")) == sorted(CONFIG["attribution"]["experiments"])


def test_defaults_by_paper_drop_what_the_family_cannot_run():
    cfg = _config(
        ae=("dense_ae", {"paper": "inglis"}), mine=("dense_ae", {}), cnn=("cnn", {}), shi=("cnn", {"paper": "shi"})
    )
    assert resolve_analyses(cfg) == []
    exps = cfg["experiments"]
    assert exps["ae"]["analyses"] == CONFIG["default_analyses"]["inglis"]
    assert exps["mine"]["analyses"] == CONFIG["default_analyses"]["none"]  # no paper: every analysis that fits
    assert exps["cnn"]["analyses"] == ["attribution"] == exps["shi"]["analyses"]


@pytest.mark.parametrize(
    ("experiment", "message"),
    [
        (("cnn", {"paper": "inglis"}), "experiments.x.analyses: none given, and default_analyses.inglis holds none"),
        (("cnn", {"analyses": ["importance"]}), "'importance' needs a model of family dense_ae; this one is cnn"),
        (("dense_ae", {"analyses": []}), "experiments.x.analyses: an empty list builds nothing"),
        (("dense_ae", {"analyses": ["umap", "nope"]}), "unknown analysis 'nope'"),
    ],
)
def test_analyses_that_build_nothing_or_do_not_fit_are_errors(experiment, message):
    cfg = _config(x=experiment)
    errors = resolve_analyses(cfg)
    assert any(message in e for e in errors), errors


def test_a_classifier_loss_defaults_and_an_autoencoder_loss_must_be_chosen():
    cfg = _config(cnn=("cnn", {}), ae=("dense_ae", {}))
    del cfg["experiments"]["ae"]["train"]["loss"]
    errors = resolve_analyses(cfg)
    assert cfg["experiments"]["cnn"]["train"]["loss"] == "cross_entropy"
    assert errors == ["experiments.ae.train.loss: missing; a dense_ae model trains with bce or mse: choose one"]
    cfg = _config(cnn=("cnn", {"train": {"loss": "mse"}}))
    assert resolve_analyses(cfg) == ["experiments.cnn.train.loss: a cnn model trains with cross_entropy, not 'mse'"]


def test_an_experiment_needs_train_or_weights_and_sanity_needs_train():
    cfg = _config(x=("dense_ae", {"analyses": ["sanity"]}))
    del cfg["experiments"]["x"]["train"]
    errors = resolve_analyses(cfg)
    assert any("experiments.x: give `train`" in e for e in errors)
    assert any("'sanity' retrains the model" in e for e in errors)
    cfg = _config(x=("dense_ae", {"weights": "w.pt"}))
    assert any("not both" in e for e in resolve_analyses(cfg))
