"""The Snakemake workflow: lint, formatting, config validation, the DAG, and a
smoke run of every experiment (data, 2 training epochs, figures) on real data
(MNIST, Fashion-MNIST, FSDD from ../shared/data) plus EMNIST and AudioMNIST
fixtures in their upstream formats."""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from aemap.analyses import resolve_analyses
from aemap.attribution.layer_names import default_layer_names_of_spec
from aemap.checks.derived import add_derived_entries, check_classifiers
from aemap.code_digest import script_code_digest
from aemap.data.prepare import check_prepared
from aemap.data.registry import load_registry
from aemap.devices import gpu_driver_present
from aemap.explain.reconstruction import roc_auc
from aemap.io import load_npz
from aemap.models import load_checkpoint
from aemap.replication import load_claims

from .conftest import REPO, write_tone
from .workflow_run import BIN, snakemake, snakemake_command

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
pytestmark = pytest.mark.workflow


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


def test_ruff_lint_and_format_are_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([str(BIN / "ruff"), *args], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


# The scripts that run a network (or load a checkpoint, a torch file) import torch;
# every other one only tabulates or draws, and starts without it: importing torch
# takes ~3 s on a CI core, longer than many such jobs' whole work.
SCRIPTS_WITH_TORCH = {
    "compute_corruption_accuracy",
    "compute_neuron_attributions",
    "compute_permutation_importance",
    "compute_reconstruction_errors",
    "compute_saliency_maps",
    "decode_latent_grid",
    "embed_latent_space",
    "import_model",
    "optimise_attribution_visualisations",
    "plot_note_encoder_weights",
    "reconstruct_examples",
    "score_anomalies",
    "train_model",
}


def _script_imports(path: Path) -> str:
    """The script's top-level imports, as code (the rest needs Snakemake's job)."""
    tree = ast.parse(path.read_text())
    imports = [
        n
        for n in tree.body
        if isinstance(n, ast.Import | ast.ImportFrom) and getattr(n, "module", None) != "__future__"
    ]
    return "".join(ast.unparse(node) + "\n" for node in imports)


def test_scripts_that_only_tabulate_or_draw_start_without_torch():
    scripts = sorted(p for p in (REPO / "workflow/scripts").glob("*.py") if p.stem not in SCRIPTS_WITH_TORCH)
    assert len(scripts) > 20 and {p.stem for p in (REPO / "workflow/scripts").glob("*.py")} >= SCRIPTS_WITH_TORCH
    probe = "import sys\n{}print('torch' in sys.modules)\n"
    result = subprocess.run(
        [sys.executable, "-c", probe.format("".join(map(_script_imports, scripts)))], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    if result.stdout.split()[-1] == "True":  # name the scripts that pull torch in
        culprits = [
            p.name
            for p in scripts
            if subprocess.run(
                [sys.executable, "-c", probe.format(_script_imports(p))], capture_output=True, text=True
            ).stdout.split()[-1]
            == "True"
        ]
        pytest.fail(
            f"these scripts import torch, which they do not need (or list them in SCRIPTS_WITH_TORCH): {culprits}"
        )


def test_every_rule_runs_the_script_of_its_name():
    rules, codes = {}, {}
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", text, flags=re.M | re.S):
            script = re.search(r'script:\s*"\.\./scripts/(\w+)\.py"', body)
            rules[name] = script.group(1) if script else None
            # Its param naming the package code its script runs: a change there reruns its jobs.
            code = re.search(r'^        code=package_code\("(\w+)"\),$', body, flags=re.M)
            codes[name] = code.group(1) if code else None
    assert len(rules) > 30
    assert {name: script for name, script in rules.items() if script is not None and script != name} == {}
    assert codes == {name: name for name in rules}
    scripts = {p.stem for p in (REPO / "workflow/scripts").glob("*.py")}
    assert scripts == {s for s in rules.values() if s}  # no script left without its rule
    # Figure rules say which paper's figure they draw (or that they go beyond the papers).
    figures = [name for name in rules if name.startswith("plot_") and re.search(r"_fig\d", name)]
    assert all(re.match(r"plot_(inglis|arumugam|shi)_fig\d+_", name) for name in figures), figures


def test_snakefmt_is_clean():
    files = [str(REPO / "Snakefile"), *map(str, sorted((REPO / "workflow/rules").glob("*.smk")))]
    result = subprocess.run([str(BIN / "snakefmt"), "--check", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def expected_jobs(config: dict) -> dict[str, int]:
    """Job counts of a full dry run, derived from a config by the package's own rules
    (analyses by paper and family, derived sanity experiments, default layers)."""
    config = copy.deepcopy(config)
    assert resolve_analyses(config) == []
    add_derived_entries(config)
    exps, prepared = config["experiments"], config["prepared"]
    registry = load_registry(REPO / config["data"]["registry"])
    derived = [name for name in exps if name not in CONFIG["experiments"]]
    # Check 3's classifier trained with other seeds: trained, nothing else.
    classifier_copies = set(check_classifiers(config)) & set(derived)
    built = list(config["run"]) + derived
    views = {exps[e]["data"] for e in built}
    datasets = {prepared[v]["dataset"] for v in views}
    with_ = lambda analysis: [e for e in config["run"] if analysis in exps[e]["analyses"]]  # noqa: E731
    autoencoders = [e for e in with_("attribution") if exps[e]["model"]["family"] == "dense_ae"]
    permutation = "permutation" in config["sanity"]["corruption"]["sources"]
    attribution = config["attribution"]

    def layers(e):
        entry = attribution["experiments"].get(e) or {}
        return entry.get("layers") or default_layer_names_of_spec(exps[e]["model"])

    def perturbations(e):
        entry = attribution["experiments"].get(e) or {}
        key = "autoencoder_perturbations" if e in autoencoders else "perturbations"
        return entry.get("perturbations") or attribution[key]

    sanity = with_("sanity")
    return {
        "download_source": len({registry.dataset(d).source for d in datasets}),
        "make_spectrograms": sum(registry.dataset(d).kind == "wav_folder" for d in datasets),
        "prepare_dataset": len(views),
        "plot_dataset_samples": len({exps[e]["data"] for e in config["run"]}),
        "describe_image_style": len(config["run"]),
        "train_model": len(built),
        "plot_reconstructions": len(with_("reconstructions")),
        "plot_arumugam_fig5_noisy_inputs": sum(exps[e]["train"]["noise"] > 0 for e in with_("reconstructions")),
        "compute_permutation_importance": len(
            set(with_("importance")) | set(autoencoders) | (set(sanity) if permutation else set())
        ),
        "plot_inglis_fig4_importance": len(with_("importance")),
        "plot_inglis_fig11_umap": len(with_("umap")),
        "compute_saliency_maps": len(set(with_("saliency")) | set(sanity) | (set(derived) - classifier_copies)),
        "plot_arumugam_fig7_saliency": len(with_("saliency")),
        "compute_corruption_accuracy": len(sanity),
        "measure_translation_shift": len(sanity),
        "compute_neuron_attributions": sum(len(layers(e)) for e in with_("attribution")),
        "optimise_attribution_visualisations": sum(
            len(layers(e)) * len(perturbations(e)) for e in with_("attribution")
        ),
        "collect_attribution_metrics": len(with_("attribution")),
        "plot_shi_fig8_perturbations": sum(len(layers(e)) for e in with_("attribution")),
        "compare_attribution_with_importance": len(autoencoders),
        # A view is computed once whether the latent figure or Inglis Fig. 11 wants it.
        "embed_latent_space": sum(
            len(
                set(config["latent"]["views"] if e in with_("latent") else [])
                | ({"umap"} if e in with_("umap") else set())
            )
            for e in config["run"]
        ),
        "plot_note_latent_views": len(with_("latent")),
        "decode_latent_grid": sum(exps[e]["model"]["encoder"][-1] == 2 for e in with_("latent")),
        "plot_note_latent_grid": sum(exps[e]["model"]["encoder"][-1] == 2 for e in with_("latent")),
        "compute_reconstruction_errors": len(with_("reconstruction_error")),
        "plot_note_reconstruction_error": len(with_("reconstruction_error")),
        "plot_note_error_by_class": len(with_("reconstruction_error")),
        "score_anomalies": len(with_("anomaly")),
        "plot_note_anomaly_roc": len(with_("anomaly")),
        "plot_note_encoder_weights": len(with_("encoder_weights")),
        "build_replication_table": 1,
        "render_result_tables": 1,
    }


def test_dry_run_schedules_what_the_config_declares(tmp_path):
    result = snakemake("-n", "--cores", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    stats = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M)}
    expected = expected_jobs(CONFIG)
    assert {rule: stats.get(rule, 0) for rule in expected} == expected
    # The numbers the papers' reproduction implies, as a check of the derivation itself.
    # 20 models, check 3's classifier and check 2's translated DAE each trained with two more seeds.
    assert expected["download_source"] == 5 and expected["train_model"] == 24 and expected["prepare_dataset"] == 17
    assert expected["embed_latent_space"] == 4 * 7  # seven autoencoders with `latent` (their UMAP serves Fig. 11)
    for target in ("mnist", "mnist01", "emnist_vowels", "fashion_mnist", "audiomnist", "fsdd"):
        assert f"results/prepared/{target}.npz" in out


def test_reading_the_workflow_imports_no_torch(tmp_path):
    """Snakemake reads the Snakefile and the config for every call (each dry run, and
    on a cluster each job), and importing torch costs it 2 s or more each time. Only
    where a GPU driver is present does it ask torch whether CUDA is there."""
    if gpu_driver_present():
        pytest.skip("a GPU driver is present here: the workflow asks torch whether CUDA is there")
    result = snakemake("-n", "--cores", "2", cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr
    imported = set(re.findall(r"^import time:.*\|\s*([\w.]+)$", result.stderr, flags=re.M))
    assert {"snakemake", "aemap.schema", "aemap.attribution.layer_names"} <= imported  # the profile is read
    assert not {name for name in imported if name.split(".")[0] == "torch"}


# Bad configs, grouped by the stage that reports them: each stage lists every problem it
# finds (one dry run per group, not per mistake), each named by its key.
_WORDS = {"kind": "wav_folder", "glob": "*/*.wav", "regex": "(?P<group>[^/]+)/(?P<label>[a-z]+)_\\d+\\.wav"}
CONFIG_ERRORS = {
    "schema": (
        {
            "figures": {"dpi": "high"},
            "prepared": {"mnist": {"dataset": "mnist", "splitt": {}}},
            "nonsense": 1,
            "spectrogram": {"fsdd": {"fmax_hz": "4k"}},
            "attribution": {"perturbations": ["pyramid", "smoke"]},
        },
        [
            "figures.dpi: 'high' is not of type 'integer'",
            "prepared.mnist: Additional properties",
            "('nonsense' was unexpected)",
            "spectrogram.fsdd.fmax_hz: '4k' is not of type 'number'",
            "attribution.perturbations",
        ],
    ),
    "analyses": (
        {
            "experiments": {
                "arumugam_cnn": {"analyses": ["importance", "saliency"], "train": {"loss": "bce"}},
                "shi_fmnist_cnn": {"paper": "inglis"},
                "inglis_fmnist": {"analyses": ["anomaly"]},
                "tiny": {
                    "data": "mnist01",
                    "model": {"family": "dense_ae", "encoder": [1]},
                    "weights": "w.pt",
                    "analyses": ["latent"],
                },
                "note_mnist_2d": {"anomaly": {"data": "mnist"}},
            }
        },
        [
            "experiments.arumugam_cnn.analyses: 'importance' needs a model of family dense_ae; this one is cnn",
            "experiments.arumugam_cnn.analyses: 'saliency' needs a model of family dense_ae",
            "experiments.arumugam_cnn.train.loss: a cnn model trains with cross_entropy, not 'bce'",
            "experiments.shi_fmnist_cnn.analyses: none given, and default_analyses.inglis holds none",
            "experiments.inglis_fmnist.analyses: 'anomaly' needs experiments.inglis_fmnist.anomaly.data",
            "experiments.tiny.analyses: 'latent' draws 2-D views of the code; this code has 1 dimension",
            "experiments.note_mnist_2d.anomaly: given, but experiments.note_mnist_2d.analyses does not list 'anomaly'",
        ],
    ),
    "sanity": (
        {"sanity": {"classifier": "inglis_fmnist"}},
        ["sanity.classifier: 'inglis_fmnist' is a dense_ae model"],
    ),
    "references": (
        {
            "run": ["no_such_experiment", "mine"],
            "prepared": {"mnist": {"dataset": "mnst"}, "mnist01": {"classes": ["0", "one"]}},
            "spectrogram": {"fsdd": {"bandpass_hz": [3000, 1000]}},
            "compute": {"device": "cuda:9"},
            "attribution": {
                "preset": "huge",
                "optimise": {"max_batch": 16, "random_block": 64},
                "perturbation": {"blur_kernel": 4},
                "experiments": {"nope": {"layers": ["conv1"]}, "arumugam_cnn": {"layers": ["conv7", "features.99"]}},
            },
            "experiments": {
                "inglis_fmnist": {"analyses": ["importance"]},
                "inglis_mnist01": {"anomaly": {"data": "nowhere"}},
                "mine": {"data": "mnist01", "model": {"family": "dense_ae", "encoder": [8]}, "weights": "no/such.pt"},
            },
            "data": {"datasets": {"words": {**_WORDS, "path": "no/such/folder"}}},
        },
        [
            "run: 'no_such_experiment' is not an entry of `experiments`",
            "prepared.mnist.dataset: unknown dataset 'mnst'",
            "prepared.mnist01.classes: ['one'] not in dataset 'mnist'",
            "spectrogram.fsdd.bandpass_hz must be 0 < low < high",
            "compute.device: 'cuda:9' but this machine has",
            "attribution.preset: 'huge' is not an entry of attribution.presets",
            "attribution.optimise.max_batch: 16 is below random_block (64)",
            "attribution.perturbation.blur_kernel: 4 is even",
            "attribution.experiments.nope: not an entry of `experiments`",
            "attribution.experiments.arumugam_cnn.layers: 'conv7' is not a layer of this model; known: conv1, conv2",
            "attribution.experiments.arumugam_cnn.layers: 'features.99' is not a module of this model; "
            "its dotted paths: features.0, features.1,",
            "attribution.experiments.inglis_fmnist: experiments.inglis_fmnist.analyses does not list 'attribution'",
            "experiments.mine.weights: no such file: no/such.pt",
            "experiments.inglis_mnist01.anomaly.data: 'nowhere' is not an entry of `prepared`",
            "data.datasets.words.path: no such folder: no/such/folder",
        ],
    ),
    "regex_group": (
        {"data": {"datasets": {"words": {**_WORDS, "path": ".", "regex": "(?P<word>[a-z]+)"}}}},
        ["data.datasets.words.regex: needs a named group 'label'"],
    ),
    "regex_syntax": (
        {"data": {"datasets": {"words": {**_WORDS, "path": ".", "regex": "(?P<label"}}}},
        ["data.datasets.words.regex: not a valid regular expression"],
    ),
}


@pytest.mark.parametrize("stage", sorted(CONFIG_ERRORS))
def test_config_errors_name_the_key(tmp_path, stage):
    override, messages = CONFIG_ERRORS[stage]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(override))
    result = snakemake("-n", "--configfile", str(bad), cwd=tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert [m for m in messages if m not in output] == [], output[-3000:]


def test_a_failed_download_without_a_mirror_says_how_to_set_one(tmp_path):
    """Offline, a download names the host it could not reach; the run then says the
    way round it (a mirror), only where none was set and a download of this run failed."""
    unreachable = {
        "mirror_dir": "mine_dir",
        "urls": ["http://127.0.0.1:9/"],  # the discard port: refused at once
        "files": {"a.bin": {"sha256": "0" * 64, "size": 1}},
    }
    mine = tmp_path / "mine.yaml"
    download = {"retries": 0, "timeout_s": 5, "backoff_s": 0.1}
    mine.write_text(yaml.safe_dump({"data": {"sources": {"mine": unreachable}, "download": download}}))
    result = snakemake("resources/raw/mine", "--cores", "1", "--configfile", str(mine), cwd=tmp_path)
    assert result.returncode != 0
    assert "cannot reach http://127.0.0.1:9/a.bin" in (tmp_path / "logs/download_source/mine.log").read_text()
    assert (
        "Could not download mine (why: logs/download_source/mine.log), and no data mirror is set. "
        "Without internet access, or where an upstream host has moved, set data.mirror in your config (or the "
        "environment variable AEMAP_DATA_MIRROR) to a folder or base URL laid out like the upstream sources "
        "({mirror}/mine_dir/...)"
    ) in " ".join(result.stderr.split())  # wrapped for a terminal
    (tmp_path / "mirror").mkdir()  # a mirror without the file: it was tried, so no such advice
    result = snakemake(
        "resources/raw/mine",
        "--cores",
        "1",
        "--configfile",
        str(mine),
        cwd=tmp_path,
        env={"AEMAP_DATA_MIRROR": str(tmp_path / "mirror")},
    )
    assert (
        result.returncode != 0 and str(tmp_path / "mirror") in (tmp_path / "logs/download_source/mine.log").read_text()
    )
    assert "no data mirror is set" not in result.stderr


def test_readme_own_data_example_plans_as_written(tmp_path):
    """The README's my.yaml, with its folder of recordings made here: the dry
    run plans the autoencoder's analyses; the entry of one's own CNN, not in
    `run`, may name weights that do not exist yet, and is refused once it is."""
    example = re.search(r"```yaml\n(# my\.yaml.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    assert example, "README.md: the own-data example (# my.yaml) is gone"
    words = tmp_path / "words"
    for s, speaker in enumerate(("ann", "bob", "cat", "dan", "eve")):
        for w, word in enumerate(("zero", "one")):
            for take in range(2):
                write_tone(words / speaker / f"{word}_{take}.wav", 400 + 300 * w + 20 * s, 16000)
    text = example.group(1).replace("/data/words", str(words))
    (tmp_path / "my.yaml").write_text(text)
    planned = snakemake("-n", "--configfile", "my.yaml", cwd=tmp_path)
    assert planned.returncode == 0, (planned.stdout + planned.stderr)[-3000:]
    for job in ("make_spectrograms", "train_model", "compute_permutation_importance", "compute_saliency_maps"):
        assert job in planned.stdout, job
    mine = yaml.safe_load(text)
    mine["run"] = ["my_ae", "my_cnn"]
    (tmp_path / "both.yaml").write_text(yaml.safe_dump(mine))
    refused = snakemake("-n", "--configfile", "both.yaml", cwd=tmp_path)
    assert refused.returncode != 0
    assert "experiments.my_cnn.weights: no such file: models/my_cnn_state_dict.pt" in refused.stdout + refused.stderr


@pytest.fixture(scope="module")
def smoke_run(smoke_run_started):
    """(work, args) of the smoke run of every experiment (tests/smoke.yaml), started in the
    background with the session (conftest; tests/workflow_run.py): the tests that read
    it run last, so the rest of the suite ran meanwhile."""
    return smoke_run_started.finished()


EXPECTED = {
    # name: (image shape, classes, has speaker groups)
    "mnist": ((28, 28), [str(d) for d in range(10)], False),
    "mnist01": ((28, 28), ["0", "1"], False),
    "emnist_vowels": ((28, 28), list("AEIOU"), False),
    "fashion_mnist": ((28, 28), None, False),
    "audiomnist": ((32, 32), [str(d) for d in range(10)], True),
    "fsdd": ((32, 32), [str(d) for d in range(10)], True),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_smoke_prepared_contract(smoke_run, name):
    work, _ = smoke_run
    arrays = load_npz(work / f"results/prepared/{name}.npz")
    check_prepared(arrays, name)
    shape, classes, grouped = EXPECTED[name]
    assert arrays["x_train"].shape[1:] == shape
    if classes is not None:
        assert arrays["classes"].tolist() == classes
    assert ("group_train" in arrays) == grouped
    assert str(arrays["image_origin"]) == ("lower" if grouped else "upper")
    # Every class is present in train (the smoke caps are 40 train / 10 test per class).
    assert set(arrays["y_train"].tolist()) == set(range(len(arrays["classes"])))
    assert (work / f"results/figures/data/{name}_samples.png").read_bytes()[:4] == b"\x89PNG"
    provenance = json.loads((work / f"results/prepared/{name}.provenance.json").read_text())
    assert provenance["params"]["aemap_code"] == script_code_digest(REPO / "workflow/scripts/prepare_dataset.py")


def test_smoke_specifics(smoke_run):
    work, _ = smoke_run
    mnist = load_npz(work / "results/prepared/mnist.npz")
    assert np.bincount(mnist["y_train"]).tolist() == [40] * 10  # capped upstream train
    assert mnist["index_test"].min() >= 60000  # upstream test rows follow the 60,000 train rows
    fsdd = load_npz(work / "results/prepared/fsdd.npz")
    assert set(fsdd["group_train"]).isdisjoint(fsdd["group_test"])  # whole speakers held out
    audio = load_npz(work / "results/spectrograms/audiomnist.npz")
    assert len(audio["x"]) == 6 + 2 * 10 * 2  # six real recordings + the synthetic speakers
    for dataset in ("fsdd", "audiomnist"):
        assert (work / f"results/figures/data/{dataset}_spectrograms.png").stat().st_size > 10_000
    # Every rule wrote a log and a benchmark.
    for rule in ("download_source", "prepare_dataset", "make_spectrograms", "plot_dataset_samples"):
        assert any((work / "logs" / rule).iterdir()), rule
        assert any((work / "benchmarks" / rule).iterdir()), rule
    # Progress in a job's log is whole lines: no carriage returns of a redrawn bar.
    logs = [p for p in (work / "logs").rglob("*") if p.is_file()]
    assert [p for p in logs if b"\r" in p.read_bytes()] == []
    train_log = (work / "logs/train_model/arumugam_cnn.log").read_text()
    assert re.search(r"INFO aemap.progress: train arumugam_cnn: (\d+)/\1 epoch \(100%\)", train_log), train_log


EXPERIMENTS = CONFIG["experiments"]


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_smoke_training_outputs(smoke_run, experiment):
    work, _ = smoke_run
    folder = work / "results" / experiment
    model, ckpt = load_checkpoint(folder / "model.pt")
    # The checkpoint carries the model config (with the schema's defaults filled in).
    assert ckpt["model_spec"].items() >= EXPERIMENTS[experiment]["model"].items()
    # ... and the very weights that were scored: they reproduce the reported test loss.
    data = load_npz(work / "results/prepared" / f"{EXPERIMENTS[experiment]['data']}.npz")
    loss = EXPERIMENTS[experiment]["train"]["loss"]
    with torch.no_grad():
        x = torch.as_tensor(data["x_test"])
        if loss == "cross_entropy":
            test_loss = torch.nn.functional.cross_entropy(model(x), torch.as_tensor(data["y_test"])).item()
        elif EXPERIMENTS[experiment]["train"]["noise"] == 0:
            test_loss = torch.nn.functional.binary_cross_entropy(model(x), x).item()
        else:  # a DAE is scored on noisy inputs; its clean-input loss is reported beside
            test_loss = None
            clean = torch.nn.functional.binary_cross_entropy(model(x), x).item()
    history = pd.read_csv(folder / "history.csv")
    assert {"epoch", "train_loss", "test_loss"} <= set(history.columns) and "seconds" not in history
    assert history["epoch"].tolist() == [1, 2]  # tests/smoke.yaml trains 2 epochs
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["device"] == "cpu"
    # The code that trained it, as the rule's `code` param saw it.
    assert metrics["aemap_code"] == script_code_digest(REPO / "workflow/scripts/train_model.py")
    assert not any("seconds" in key for key in metrics)  # wall-clock times are in the log, not the results
    if test_loss is None:
        assert metrics["test_loss_clean_input"] == pytest.approx(clean, rel=1e-4)
    else:
        assert metrics["test_loss"] == pytest.approx(test_loss, rel=1e-4)
    assert np.isfinite(metrics["train_loss"]) and np.isfinite(metrics["test_loss"])
    # How the explorer draws its images: as the prepared data stand, the papers' datasets as ink.
    style = json.loads((folder / "image_style.json").read_text())
    assert style == {"dataset": style["dataset"], "image_origin": str(data["image_origin"]), "display": "ink"}
    figures = work / "results" / "figures" / experiment
    assert (figures / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    if EXPERIMENTS[experiment]["model"]["family"] == "cnn":
        assert 0 <= metrics["test_accuracy"] <= 1 and "test_accuracy" in history
    else:
        assert (figures / "reconstructions.png").is_file()
        examples = load_npz(folder / "reconstructions.npz")
        assert examples["reconstruction"].shape == examples["clean"].shape
        assert set(examples["y"].tolist()) == set(range(len(examples["classes"])))  # every class shown
    if EXPERIMENTS[experiment]["train"]["noise"] > 0:
        assert (figures / "noisy_inputs.png").is_file() and "test_loss_clean_input" in metrics


INGLIS = sorted(name for name, exp in EXPERIMENTS.items() if exp["paper"] == "inglis")


@pytest.mark.parametrize("experiment", INGLIS)
def test_smoke_permutation_importance_outputs(smoke_run, experiment):
    work, _ = smoke_run
    folder = work / "results" / experiment / "importance"
    pixel = load_npz(folder / "pixel_latent.npz")
    data = load_npz(work / "results" / "prepared" / f"{EXPERIMENTS[experiment]['data']}.npz")
    n_features = int(np.prod(data["x_test"].shape[1:]))
    latent = EXPERIMENTS[experiment]["model"]["encoder"][-1]
    for key in ("importance", "std", "slope", "sign", "signed"):
        assert pixel[key].shape == (n_features, latent), key
    assert pixel["image_shape"].tolist() == list(data["x_test"].shape[1:])
    assert set(np.unique(pixel["sign"])) <= {-1, 0, 1} and (pixel["importance"] >= 0).all()
    table = pd.read_csv(folder / "latent_by_class.csv", dtype={"class": str})
    assert list(table.columns) == ["class", "dim", "importance", "std", "rank"]
    assert len(table) == len(data["classes"]) * latent
    assert "Top 3 dimensions per class" in (folder / "summary.md").read_text()
    figures = sorted((work / "results" / "figures" / experiment / "importance").glob("*.png"))
    assert len(figures) == len(data["classes"])  # one figure for every class
    if experiment in ("inglis_mnist01", "inglis_fmnist", "inglis_fsdd"):  # tests/smoke.yaml: UMAP on these
        assert (work / "results" / "figures" / experiment / "umap.png").stat().st_size > 5000


def test_smoke_saliency_outputs(smoke_run):
    work, _ = smoke_run
    maps = load_npz(work / "results/arumugam_dae/saliency/maps.npz")
    test = load_npz(work / "results/prepared/mnist.npz")["x_test"]
    # arumugam_dae runs the sanity checks: the maps of every test image are kept for check 3.
    assert maps["maps"].shape == test.shape and maps["mean_map"].shape == (28, 28)
    # Image 0's map is the L2 norm over latents of the encoder's Jacobian, by torch's own jacobian.
    model, _ = load_checkpoint(work / "results/arumugam_dae/model.pt")
    encoder = model.encoder.double()
    jac = torch.autograd.functional.jacobian(
        lambda v: encoder(v.reshape(1, 28, 28))[0], torch.as_tensor(test[0], dtype=torch.float64).reshape(-1)
    )
    np.testing.assert_allclose(maps["maps"][0].reshape(-1), jac.norm(dim=0).numpy(), rtol=1e-5, atol=1e-7)
    translated = load_npz(work / "results/arumugam_dae_translated/saliency/maps.npz")
    assert len(translated["maps"]) == min(40, len(test))  # tests/smoke.yaml: saliency.images 40
    assert float(maps["csda_vs_autograd_rel"]) <= 1e-10  # the complex step agrees with autograd
    assert (work / "results/figures/arumugam_dae/saliency.png").stat().st_size > 10_000


def test_smoke_sanity_check_outputs(smoke_run):
    work, _ = smoke_run
    res, fig = work / "results/arumugam_dae", work / "results/figures/arumugam_dae"
    # Check 1: one single-digit model per digit the smoke config names, each trained on its digit only.
    digits = ["0", "1", "7"]
    for digit in digits:
        data = load_npz(work / f"results/prepared/mnist_class{digit}.npz")
        assert data["classes"].tolist() == [digit] and len(data["y_train"]) == 40
    assert not (work / "results/prepared/mnist_class2.npz").exists()  # only the digits asked for
    single = pd.read_csv(res / "sanity/single_class.csv", dtype={"model_class": str})
    # One row per model and test class (ten: the models are scored against every digit).
    assert len(single) == 3 * 10 and sorted(set(single["model_class"])) == digits
    assert single["r"].between(-1, 1).all()
    # Check 2: digits at the top-left of a 42x42 canvas; the digits move 7 px up and left.
    moved = load_npz(work / "results/prepared/mnist_canvas42x42.npz")
    assert moved["x_train"].shape[1:] == (42, 42) and not moved["x_train"][:, 28:, :].any()
    shift = json.loads((res / "sanity/translation.json").read_text())
    np.testing.assert_allclose(shift["digit_shift"], [-7, -7], atol=1e-9)
    assert len(shift["saliency_shift_per_image_mean"]) == 2
    # Two trainings of the translated model (tests/smoke.yaml: sanity.translation.seeds [0, 1]),
    # each trained with its seed; the judged shift is their mean.
    assert [(t["seed"], t["experiment"]) for t in shift["trainings"]] == [
        (0, "arumugam_dae_translated"),
        (1, "arumugam_dae_translated_seed1"),
    ]
    weights = []
    for t in shift["trainings"]:
        model, ckpt = load_checkpoint(work / "results" / t["experiment"] / "model.pt")
        assert ckpt["train_spec"]["seed"] == t["seed"] and ckpt["input_shape"] == [42, 42]
        weights.append(torch.cat([p.reshape(-1) for p in model.parameters()]))
    assert not torch.equal(*weights)  # two seeds, two trainings
    cores = np.array([t["saliency_top10_shift_mean_map"] for t in shift["trainings"]])
    np.testing.assert_allclose(shift["saliency_top10_shift_mean_map"], cores.mean(axis=0))
    np.testing.assert_allclose(shift["saliency_top10_shift_mean_map_sd"], cores.std(axis=0, ddof=1))
    # Check 3: every source, both ends, 0-30 %.
    table = pd.read_csv(res / "sanity" / "corruption.csv")
    assert list(table.columns[:4]) == ["source", "which", "fraction", "accuracy"]
    assert set(table["source"]) == {
        "csda_local",
        "csda_mean",
        "csda_per_image",
        "permutation",
        "grad_x_input",
        "variance",
        "random",
    }
    assert len(table) == 7 * 2 * 4 and sorted(set(table["fraction"])) == [0.0, 0.1, 0.2, 0.3]
    clean = table[table["fraction"] == 0]["accuracy"]
    assert clean.nunique() == 1  # 0 %: the same, clean accuracy for every source
    # tests/smoke.yaml: classifier seeds 0 and 1, so arumugam_cnn and a copy trained with seed 1.
    assert (table["classifiers"] == 2).all()
    assert (table[table["source"] == "random"]["runs"] == 2 * 5).all()
    runs = pd.read_csv(res / "sanity" / "corruption_runs.csv")
    assert sorted(set(runs["classifier"])) == ["arumugam_cnn", "arumugam_cnn_seed1"]
    assert len(runs) == 2 * (6 + 5) * 2 * 4  # classifiers x rankings (6 sources, 5 random seeds) x ends x fractions
    copy = json.loads((work / "results/arumugam_cnn_seed1/metrics.json").read_text())
    clean_runs = runs[runs["fraction"] == 0].groupby("classifier")["accuracy"].first()
    assert clean_runs["arumugam_cnn_seed1"] == pytest.approx(copy["test_accuracy"])  # the same test images
    mean = runs.groupby(["source", "which", "fraction"], sort=False)["accuracy"].mean().to_numpy()
    np.testing.assert_allclose(table["accuracy"], mean, rtol=1e-5)
    for name in ("sanity_single_class", "sanity_translation", "sanity_corrupted_examples", "sanity_corruption"):
        assert (fig / f"{name}.png").stat().st_size > 10_000, name


ATTRIBUTION = yaml.safe_load((REPO / "config.yaml").read_text())["attribution"]["experiments"]
SMOKE_ATTRIBUTION = yaml.safe_load((REPO / "tests/smoke.yaml").read_text())["attribution"]["experiments"]


@pytest.mark.parametrize("experiment", sorted(ATTRIBUTION))
def test_smoke_attribution_outputs(smoke_run, experiment):
    work, _ = smoke_run
    res, fig = work / "results" / experiment / "attribution", work / "results/figures" / experiment / "attribution"
    entry = {**ATTRIBUTION[experiment], **SMOKE_ATTRIBUTION.get(experiment, {})}
    layers = entry["layers"]
    autoencoder = EXPERIMENTS[experiment]["model"]["family"] == "dense_ae"
    perturbations = entry.get("perturbations") or (
        ["none", "pyramid"] if autoencoder else ["none", "blur", "constant", "gaussian", "fractal", "pyramid"]
    )
    images = 2 if autoencoder else 10  # tests/smoke.yaml: 2 latent dims x 1 image; 1 image per class
    metrics = pd.read_csv(res / "metrics.csv")
    assert list(metrics.columns[:9]) == [
        "experiment",
        "layer",
        "perturbation",
        "image",
        "init",
        "target",
        "correlation",
        "top1",
        "topk",
    ]
    assert len(metrics) == len(layers) * len(perturbations) * images * 2  # 2 initialisations
    assert metrics["correlation"].dropna().between(-1, 1).all() and metrics["top1"].isin([0, 1]).all()
    assert (metrics["topk"] >= metrics["top1"]).all()
    # The target is ranked among the classes, or among the live dims of the code.
    if autoencoder:
        assert metrics["n_ranked"].between(1, EXPERIMENTS[experiment]["model"]["encoder"][-1]).all()
    else:
        assert (metrics["n_ranked"] == 10).all()
    for layer in layers:
        attr = load_npz(res / layer / "attributions.npz")
        assert attr["heatmap"].shape == (images, 28, 28) and (attr["attributions"] >= 0).all()
        assert ((attr["beta"] > 0) & (attr["beta"] < 1)).all()
        for p in perturbations:
            vis = load_npz(res / layer / f"{p}.npz")
            assert vis["x"].shape == vis["mask"].shape == (images * 2, 28, 28)
            assert vis["mask"].min() >= 0 and vis["mask"].max() <= 1
            if p == "none":
                assert (vis["mask"] == 1).all()
        assert (fig / f"perturbations_{layer}.png").stat().st_size > 10_000
    for name in ("ablation", "layers") + (("latent_dims",) if autoencoder else ()):
        assert (fig / f"{name}.png").stat().st_size > 10_000, name
    if autoencoder:
        table = pd.read_csv(res / "inglis_comparison.csv")
        assert len(table) == len(layers) * len(perturbations) * images * 2
        assert table["r_visualisation"].dropna().between(-1, 1).all() and table["dim"].min() >= 1


def test_smoke_latent_views_and_grid(smoke_run):
    work, _ = smoke_run
    res = work / "results/inglis_mnist01/latent"
    views = {v: load_npz(res / f"{v}.npz") for v in ("pca", "tsne", "umap", "std")}
    rows = views["pca"]["rows"]
    for name, view in views.items():  # one stratified sample for every view
        assert np.array_equal(view["rows"], rows) and view["embedding"].shape == (len(rows), 2), name
    data = load_npz(work / "results/prepared/mnist01.npz")
    assert np.bincount(views["pca"]["y"]).tolist() == np.bincount(data["y_test"]).tolist()  # under the cap: all
    # The STD view is the two latent dims of largest spread, unprojected.
    model, _ = load_checkpoint(work / "results/inglis_mnist01/model.pt")
    with torch.no_grad():
        z = model.encoder(torch.as_tensor(data["x_test"][rows])).numpy()
    top = np.argsort(-z.std(axis=0), kind="stable")[:2]
    np.testing.assert_allclose(views["std"]["embedding"], z[:, top], rtol=1e-6)
    assert (work / "results/figures/inglis_mnist01/latent_views.png").stat().st_size > 20_000
    grid = load_npz(work / "results/note_mnist_2d/latent/grid.npz")
    assert grid["codes"].shape[1] == 2 and grid["decoded"].shape == (6, 6, 28, 28)  # tests/smoke.yaml: n 6
    # The corner of the grid decodes exactly as the decoder does at that code.
    note, _ = load_checkpoint(work / "results/note_mnist_2d/model.pt")
    with torch.no_grad():
        corner = note.decoder(torch.tensor([[grid["axis1"][0], grid["axis2"][-1]]], dtype=torch.float32))[0]
    np.testing.assert_allclose(grid["decoded"][0, -1], corner.numpy(), atol=1e-6)
    assert (work / "results/figures/note_mnist_2d/latent_grid.png").stat().st_size > 20_000


def test_smoke_reconstruction_error_and_anomaly_score(smoke_run):
    work, _ = smoke_run
    res, fig = work / "results/inglis_mnist01", work / "results/figures/inglis_mnist01"
    data = load_npz(work / "results/prepared/mnist01.npz")
    errors = load_npz(res / "reconstruction/errors.npz")
    model, _ = load_checkpoint(res / "model.pt")
    with torch.no_grad():
        x = torch.as_tensor(data["x_test"])
        mse = ((model(x) - x) ** 2).flatten(1).mean(1).double().numpy()
    np.testing.assert_allclose(errors["errors"], mse, rtol=1e-5)  # tests/smoke.yaml keeps metric mse
    table = pd.read_csv(res / "reconstruction/errors_by_class.csv", dtype={"class": str})
    assert table["class"].tolist() == ["0", "1"] and table["n"].sum() == len(mse)
    auc = json.loads((res / "anomaly/auc.json").read_text())
    assert auc["unseen_classes"] == [str(d) for d in range(2, 10)]
    assert auc["n_unseen"] == 80 and auc["n_normal"] == len(mse)  # smoke: 10 test images per digit
    scores = load_npz(res / "anomaly/scores.npz")
    np.testing.assert_allclose(scores["normal"], mse, rtol=1e-5)
    assert auc["auc"] == pytest.approx(roc_auc(scores["normal"], scores["unseen"]))
    assert list(auc["per_class_auc"]) == auc["unseen_classes"]  # one AUC per unseen class, in label order
    for name in ("reconstruction_error", "reconstruction_error_by_class", "anomaly_roc", "encoder_weights"):
        assert (fig / f"{name}.png").stat().st_size > 10_000, name
    for name in ("reconstruction_error", "encoder_weights"):  # spectrograms too
        assert (work / f"results/figures/inglis_fsdd/{name}.png").stat().st_size > 10_000, name


def test_smoke_replication_table_answers_every_claim(smoke_run):
    work, _ = smoke_run
    table = pd.read_csv(work / "results/replication.csv", keep_default_na=False)
    assert table["id"].tolist() == [c.id for c in load_claims()]
    # The smoke run holds every experiment and analysis the claims read: each check ran on real outputs.
    assert set(table["verdict"]) <= {"reproduced", "differs"}, table[["id", "verdict", "reason"]].to_string()
    assert (table["ours"] != "").all()
    assert (work / "results/replication.md").read_text().count("\n") == len(table) + 2
    assert "<table>" in (work / "results/replication.html").read_text()


def test_smoke_result_tables_hold_every_table_of_the_run(smoke_run):
    work, _ = smoke_run
    page = (work / "results/tables.html").read_text()
    for experiment in CONFIG["run"]:
        assert f'<h3 id="{experiment}">' in page, experiment
        assert f'data-file="results/{experiment}/metrics.json"' in page
    for table in (
        "inglis_mnist01/anomaly/auc.json",
        "inglis_mnist01/reconstruction/errors_by_class.csv",
        "inglis_fmnist/importance/latent_by_class.csv",
        "arumugam_dae/sanity/corruption.csv",
        "arumugam_dae/sanity/single_class.csv",
        "arumugam_dae/sanity/translation.json",
        "arumugam_cnn/attribution/ablation.csv",
        "inglis_fmnist/attribution/inglis_comparison.csv",
    ):
        assert f'data-file="results/{table}"' in page, table


def _caption(name: str, config: dict, **wildcards: str) -> str:
    """A report caption rendered as Snakemake renders it, but strict: a key it reads
    that the config lacks is an error, not an empty string."""
    from types import SimpleNamespace

    import jinja2

    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
        (REPO / "workflow/report" / f"{name}.rst").read_text()
    )
    return template.render(snakemake=SimpleNamespace(config=config, wildcards=SimpleNamespace(**wildcards)))


def test_training_captions_of_a_minimal_experiment_show_the_defaults_the_training_applies():
    """A user's `train` block with only the required keys: the captions name the
    learning rate and noise the training used (its defaults), and an experiment with
    its own weights names them."""
    from aemap.models.train import TrainConfig

    required = {"epochs": 3, "batch_size": 32, "loss": "bce", "seed": 0}
    config = {
        "experiments": {
            "mine": {"data": "d", "model": {"family": "dense_ae", "encoder": [8]}, "train": required},
            "theirs": {"data": "d", "model": {"family": "dense_ae", "encoder": [8]}, "weights": "w.pt"},
        }
    }
    defaults = TrainConfig(epochs=3, batch_size=32)
    curves = _caption("training_curves", config, experiment="mine")
    assert f"Adam lr {defaults.lr}, loss bce" in curves
    assert f"training noise {defaults.noise}." in _caption("reconstructions", config, experiment="mine")
    assert f"kappa = {defaults.noise}." in _caption("noisy_inputs", config, experiment="mine")
    assert "your own weights\n``w.pt``" in _caption("reconstructions", config, experiment="theirs")


def test_smoke_report_holds_every_figure_and_renders_in_chromium(smoke_run, browser, artifacts):
    """`make report`'s second step on the smoke run: one self-contained HTML file with
    every figure rule all built and the replication table, rendered by Chromium
    without a console error; each file is listed under its category in the page."""
    work, args = smoke_run
    report = work / "results/report.html"
    result = snakemake("--report", str(report), *args, cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    built = {p.relative_to(work).as_posix() for p in (work / "results/figures").rglob("*.png")}
    built |= {"results/replication.html", "results/tables.html"}
    errors = []
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route(
        "**/*",
        lambda route: route.abort() if not route.request.url.startswith(("file:", "data:")) else route.continue_(),
    )
    page.goto(report.as_uri())
    page.get_by_text("1. Replication", exact=False).first.wait_for()
    categories = page.evaluate("categories")  # {category: {subcategory: [files]}} as the page has it
    listed = {f for subs in categories.values() for files in subs.values() for f in files}
    assert listed == built
    # One category per paper (and the note), a subcategory per experiment.
    assert sorted(categories) == sorted(
        [
            "1. Replication and result tables",
            "2. Data and models",
            "3. Inglis et al.: permutation importance",
            "4. Arumugam & Kiran: saliency and sanity checks",
            "5. Shi, Li & Yamaguchi: attribution visualisation",
            "6. The visualisation note: latent space, reconstruction error, weights",
        ]
    )
    assert set(categories["6. The visualisation note: latent space, reconstruction error, weights"]) == {
        "inglis_mnist01",
        "inglis_fsdd",
        "note_mnist_2d",
    }
    # Every file is on screen under its category and subcategory.
    for category, subcategories in categories.items():
        for subcategory, files in subcategories.items():
            page.goto(report.as_uri())
            page.get_by_text(category, exact=True).click()
            if len(subcategories) > 1:
                page.get_by_text(subcategory, exact=True).click()
            for f in files:
                assert page.locator("tr", has_text=f).count() == 1, (category, subcategory, f)
    # The replication table opens with one row per claim; a figure opens as an image.
    page.goto(report.as_uri())
    page.get_by_text("1. Replication", exact=False).first.click()
    page.locator("tr", has_text="results/replication.html").locator("a[iconname=eye]").click()
    table = page.frame_locator("iframe").locator("tbody tr")
    table.first.wait_for()
    assert table.count() == len(load_claims())
    page.screenshot(path=str(artifacts / "report_replication.png"))
    page.goto(report.as_uri())
    page.get_by_text("6. The visualisation note", exact=False).click()
    page.get_by_text("note_mnist_2d", exact=True).click()
    page.locator("tr", has_text="latent_grid.png").locator("a[iconname=eye]").click()
    figure = page.locator("img[src^='data:image/png']")
    figure.first.wait_for()
    assert figure.first.evaluate("e => e.naturalWidth") > 400
    page.screenshot(path=str(artifacts / "report_latent_grid.png"))
    assert errors == []


def test_smoke_explorer_in_chromium(smoke_run, browser, artifacts):
    """`aemap explore` on the smoke run's results: every experiment opens, each
    analysis view shows what was built and says what was not, no console error."""
    from .test_explore import Server, open_page, shown_dims, wait_dims

    work, _ = smoke_run
    server = Server(work / "results")
    errors = []
    try:
        page = open_page(browser, server.url, errors)
        page.wait_for_selector("#heatmap-grid img")
        # It opens on the first experiment with importance, with aim's default of 5 dims.
        # (arumugam_dae: its permutation importance ranks pixels for sanity check 3)
        assert page.locator("#experiment").input_value() == "arumugam_dae"
        assert len(shown_dims(page)) == 5
        page.select_option("#experiment", "inglis_fmnist")
        page.wait_for_selector("text=dataset fashion_mnist (view fashion_mnist), images 28 x 28, 10 classes")
        table = pd.read_csv(work / "results/inglis_fmnist/importance/latent_by_class.csv", dtype={"class": str})

        def top5(name):
            rows = table[(table["class"] == name) & (table["importance"] > 0)]
            return rows.sort_values(["rank", "dim"])["dim"].head(5).tolist()

        wait_dims(page, top5("T-shirt/top"))
        assert page.locator("#class_name").input_value() == "T-shirt/top"
        page.select_option("#class_name", "Trouser")
        wait_dims(page, top5("Trouser"))
        page.screenshot(path=str(artifacts / "explorer_smoke_importance.png"), full_page=True)
        # Latent space: a view of the codes with the class highlighted.
        page.get_by_role("tab", name="Latent space").click()
        page.wait_for_selector("#latent img")
        assert page.locator("#latent_view option").all_inner_texts() == ["umap"]  # smoke: fmnist runs `umap` only
        # Saliency and corruption curves of the denoising AE.
        page.select_option("#experiment", "arumugam_dae")
        page.get_by_role("tab", name="Saliency").click()
        page.wait_for_selector("img.aemap-saliency")
        page.wait_for_selector("#corruption img")
        assert page.locator("img.aemap-saliency").count() == 2  # the class's mean map and the overall mean
        page.select_option("#experiment", "note_mnist_2d")
        page.get_by_role("tab", name="Importance").click()
        page.wait_for_selector("text=No permutation importance")
        page.get_by_role("tab", name="Latent space").click()
        page.wait_for_selector("#latent img")
        assert page.locator("#latent_view option").all_inner_texts() == ["pca", "tsne", "umap", "std"]
        # A classifier: the attribution visualisations, one row per perturbation.
        page.select_option("#experiment", "arumugam_cnn")
        page.get_by_role("tab", name="Attribution").click()
        page.wait_for_selector(".aemap-attribution img")
        header = page.locator(".aemap-attribution th").all_inner_texts()
        assert header[1:9] == ["input", "attribution", "none", "blur", "constant", "gaussian", "fractal", "pyramid"]
        assert page.locator(".aemap-attribution tbody tr").count() == 1  # smoke: one image per class
        assert page.locator(".aemap-attribution tbody img").count() == 2 + 6  # input, map, every perturbation
        page.screenshot(path=str(artifacts / "explorer_smoke_attribution.png"), full_page=True)
        page.get_by_role("tab", name="Importance").click()
        page.wait_for_selector("text=is a classifier")
        # Another experiment while a tab shows a layer or view the new one lacks (conv3; pca):
        # the tab waits for its list to be updated instead of failing on the last choice.
        for tab, shown, before, after, control, value in (
            ("Attribution", ".aemap-attribution img", "arumugam_cnn", "shi_fmnist_cnn", "layer", "conv2"),
            ("Latent space", "#latent img", "note_mnist_2d", "inglis_fmnist", "latent_view", "umap"),
        ):
            page.select_option("#experiment", before)
            page.get_by_role("tab", name=tab).click()
            page.wait_for_selector(shown)
            page.select_option("#experiment", after)
            page.wait_for_function(f"document.querySelector('#{control}').value === '{value}'")
            page.wait_for_selector(shown)
        page.select_option("#experiment", "arumugam_cnn")
        page.wait_for_selector("text=No latent views for arumugam_cnn")
    finally:
        printed = server.stop()
    assert errors == []
    assert "Traceback" not in printed and "Warning" not in printed, printed[-3000:]


def test_smoke_a_registry_dataset_drawn_another_way_redraws_its_figures_only(smoke_run):
    """docs/datasets.md: a registry entry copied under data.datasets with another
    `display` redraws the figures of its images and computes nothing again."""
    work, args = smoke_run
    registry = yaml.safe_load((REPO / "workflow/resources/datasets.yaml").read_text())
    copied = {"data": {"datasets": {"mnist": {**registry["datasets"]["mnist"], "display": "natural"}}}}
    (work / "display.yaml").write_text(yaml.safe_dump(copied))
    outputs = _scheduled_outputs(snakemake(*args, str(work / "display.yaml"), "-n", cwd=work))
    assert "results/figures/data/mnist01_samples.png" in outputs, outputs
    assert "results/inglis_mnist01/image_style.json" in outputs, outputs
    assert "results/figures/arumugam_cnn/attribution/layers.png" in outputs, outputs
    computed = [o for o in outputs if not o.startswith("results/figures/") and not o.endswith("/image_style.json")]
    assert computed == [], computed
    assert not any("fashion_mnist" in o or "fsdd" in o for o in outputs), outputs
    # A copy that only describes the data in other words, its keys in another
    # order, is no change at all.
    entry = registry["datasets"]["mnist"]
    reworded = {key: entry[key] for key in reversed(entry)} | {"description": "handwritten digits, restated"}
    assert list(reworded) != list(entry)
    (work / "reworded.yaml").write_text(yaml.safe_dump({"data": {"datasets": {"mnist": reworded}}}, sort_keys=False))
    assert _scheduled_outputs(snakemake(*args, str(work / "reworded.yaml"), "-n", cwd=work)) == []


def test_smoke_rerun_is_byte_identical(smoke_run):
    work, args = smoke_run
    outputs = sorted((work / "results/prepared").glob("*")) + sorted((work / "results/spectrograms").glob("*"))
    outputs += sorted((work / "results").glob("*/model.pt")) + sorted((work / "results").glob("*/reconstructions.npz"))
    # Training's tables too: wall-clock times live in the logs and benchmarks, not in the results.
    outputs += sorted((work / "results").glob("*/history.csv")) + sorted((work / "results").glob("*/metrics.json"))
    outputs += sorted((work / "results").glob("*/importance/*"))
    outputs += sorted((work / "results").glob("*/sanity/*"))
    outputs += sorted((work / "results").glob("*/attribution/*.csv"))
    outputs += sorted((work / "results").glob("*/attribution/*/*.npz"))
    outputs += sorted((work / "results").glob("*/saliency/maps.npz"))
    # (The latent views are left out to keep CI short: t-SNE and UMAP are seeded and their
    # determinism is a unit test, tests/test_note.py.)
    outputs += sorted((work / "results").glob("*/anomaly/*"))
    outputs += sorted((work / "results").glob("*/reconstruction/*")) + sorted((work / "results").glob("replication.*"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in outputs}
    rules = (
        "make_spectrograms",
        "prepare_dataset",
        "train_model",
        "reconstruct_examples",
        "compute_permutation_importance",
        "decode_latent_grid",
        "compute_reconstruction_errors",
        "score_anomalies",
        "build_replication_table",
        "compute_saliency_maps",
        "compute_corruption_accuracy",
        "compare_single_class_maps",
        "measure_translation_shift",
        "compute_neuron_attributions",
        "optimise_attribution_visualisations",
        "collect_attribution_metrics",
        "compare_attribution_with_importance",
    )
    # Recompute every table and array (not the figures, which read them) and compare bytes:
    # the compared files are the targets, so no figure is rebuilt.
    targets = [str(p.relative_to(work)) for p in outputs]
    result = snakemake(*targets, *args, "--forcerun", *rules, cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in outputs}
    assert after == before
    # Nothing wants to run again for these files: no parameter, code or input changed between runs.
    result = snakemake(*targets, *args, "-n", cwd=work)
    assert "Nothing to be done" in result.stdout + result.stderr


# A new user's own data and models, brought in by config overlays only.
OWN_SETTINGS = {
    "importance": {"n_permutations": 2},
    "latent": {"max_points": 100, "umap": {"n_neighbors": 5}, "views": ["pca", "umap"]},
    "saliency": {"images": 20},
    "figures": {"dpi": 60, "samples_per_class": 2},
    "attribution": {
        "experiments": {},
        "optimise": {"steps": 4, "inits": 1},
        "ig": {"steps": 8},
        "latent_dims": 1,
        "autoencoder_perturbations": ["pyramid"],
        "beta": {"fallback": 0.3},
    },
}


def _write_digits(folder: Path, shared: Path, first: int, n: int = 300) -> None:
    """An npz dataset of real MNIST test digits (x, y; x_test, y_test), as a user might have."""
    from aemap.data.idx import read_idx

    x = read_idx(shared / "mnist/t10k-images-idx3-ubyte.gz")[first : first + n]
    y = read_idx(shared / "mnist/t10k-labels-idx1-ubyte.gz")[first : first + n].astype(np.int64)
    folder.mkdir(parents=True, exist_ok=True)
    split = n * 4 // 5
    np.savez(folder / "digits.npz", x=x[:split], y=y[:split], x_test=x[split:], y_test=y[split:])


def _scheduled_outputs(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return re.findall(r"^\s+output: (.*)$", result.stdout + result.stderr, flags=re.M)


def test_own_data_and_models_by_config_and_adding_reruns_nothing_else(tmp_path, shared_data):
    from aemap.models import build_model

    work = tmp_path
    # 4,000 training digits: the prepared view is over 1 MB (below); its test set is capped.
    _write_digits(work / "mine_a", shared_data, first=0, n=5000)
    _write_digits(work / "mine_b", shared_data, first=5000)
    # The user's own trained autoencoder, saved as a state dict for an architecture the model block describes.
    torch.manual_seed(0)
    ae_spec = {"family": "dense_ae", "encoder": [32, 8]}
    torch.save(build_model(ae_spec, (28, 28), 10).state_dict(), work / "my_ae.pt")
    base = {
        "run": ["mine_ae"],
        "data": {"datasets": {"digits_a": {"kind": "npz", "path": "mine_a", "file": "digits.npz"}}},
        "prepared": {"view_a": {"dataset": "digits_a", "split": {"kind": "upstream"}, "max_test_per_class": 6}},
        # No paper: every analysis that fits an autoencoder (config default_analyses.none).
        "experiments": {"mine_ae": {"data": "view_a", "model": ae_spec, "weights": "my_ae.pt"}},
        **OWN_SETTINGS,
    }
    (work / "base.yaml").write_text(yaml.safe_dump(base))
    result = snakemake("--cores", "2", "--configfile", "base.yaml", cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    res, fig = work / "results/mine_ae", work / "results/figures/mine_ae"
    for path in ("importance/summary.md", "saliency/maps.npz", "attribution/metrics.csv"):
        assert (res / path).is_file(), path
    for name in ("reconstructions", "umap", "saliency", "attribution/latent_dims", "latent_views", "encoder_weights"):
        assert (fig / f"{name}.png").stat().st_size > 5000, name
    assert not (fig / "training_curves.png").exists() and not (res / "history.csv").exists()  # imported, not trained
    metrics = json.loads((res / "metrics.json").read_text())
    model, _ = load_checkpoint(res / "model.pt")
    data = load_npz(work / "results/prepared/view_a.npz")
    with torch.no_grad():
        x = torch.as_tensor(data["x_test"])
        bce = torch.nn.functional.binary_cross_entropy(model(x), x).item()
    assert metrics["test_loss"] == pytest.approx(bce, rel=1e-4)  # the user's weights, scored on the user's data

    # Adding a dataset and an experiment (a CNN trained here) schedules only their jobs.
    overlay = {
        "run": ["mine_ae", "mine_cnn"],
        "data": {"datasets": {"digits_b": {"kind": "npz", "path": "mine_b", "file": "digits.npz"}}},
        "prepared": {"view_b": {"dataset": "digits_b", "split": {"kind": "upstream"}}},
        "experiments": {
            "mine_cnn": {
                "data": "view_b",
                "analyses": ["attribution"],
                "model": {"family": "cnn", "channels": [4, 8], "hidden": [16]},
                "train": {"epochs": 1, "batch_size": 32, "loss": "cross_entropy", "seed": 0},
            }
        },
        "attribution": {"experiments": {"mine_cnn": {"layers": ["conv2"], "perturbations": ["pyramid"]}}},
    }
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    configs = ("--configfile", "base.yaml", "overlay.yaml")
    outputs = _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, cwd=work))
    # The page of all result tables is of the whole run: it gains the new experiment's tables.
    assert "results/tables.html" in outputs
    outputs.remove("results/tables.html")
    assert outputs and all("view_b" in o or "mine_cnn" in o for o in outputs), outputs
    assert any("results/mine_cnn/model.pt" in o for o in outputs)
    result = snakemake("--cores", "2", *configs, cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert (work / "results/figures/mine_cnn/training_curves.png").is_file()
    assert _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, cwd=work)) == []
    # `make report` on the user's run: the captions of a minimal train block and of own weights render.
    result = snakemake("--report", "results/report.html", *configs, cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (work / "results/report.html").stat().st_size > 100_000
    # A job rewritten byte for byte reruns nothing after it: Snakemake compares checksums of
    # inputs up to the workflow profile's max-checksum-file-size (its own default, 1 MB, is less).
    prepared = work / "results/prepared/view_a.npz"
    assert prepared.stat().st_size > 1_000_000
    result = snakemake(str(prepared.relative_to(work)), "--force", "--cores", "2", *configs, cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Finished jobid" in result.stdout + result.stderr
    assert _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, cwd=work)) == []

    # A change in the package reruns the jobs whose scripts run the changed code (a copy of
    # the package, first on the path, stands in for an edited checkout).
    shutil.copytree(REPO / "src/aemap", work / "code/aemap", ignore=shutil.ignore_patterns("__pycache__"))
    edited = {"PYTHONPATH": str(work / "code")}

    def scheduled_after(module: str, edit) -> list[str]:
        path = work / "code/aemap" / module
        original = path.read_text()
        assert edit(original) != original
        path.write_text(edit(original))
        try:
            return _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, cwd=work, env=edited))
        finally:
            path.write_text(original)

    assert _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, cwd=work, env=edited)) == []
    # Comments and docstrings are not code.
    reworded = lambda text: text.replace('"""', '"""Reworded. ', 1).replace('\n"""\n', '\n"""\n# a comment\n', 1)
    assert scheduled_after("models/train.py", reworded) == []
    # A figure module: figures only.
    outputs = scheduled_after("plots/importance.py", lambda text: text + "\nCOLOURS = 'new'\n")
    assert "results/figures/mine_ae/importance" in outputs, outputs
    assert all(o.startswith("results/figures/") for o in outputs), outputs
    # One method of a subpackage (lazy exports, aemap.lazy): its jobs and what reads them, not its siblings'.
    outputs = scheduled_after("explain/saliency.py", lambda text: text + "\nNOTE = 'new'\n")
    assert "results/mine_ae/saliency/maps.npz" in outputs, outputs
    assert not [o for o in outputs if "model.pt" in o or "/importance/" in o or "/latent/" in o], outputs
    # The optimisation of visualisations: they and what reads them, never a model or another analysis.
    outputs = scheduled_after("attribution/visualise.py", lambda text: text + "\nSTEP_NOTE = 'new'\n")
    assert "results/mine_cnn/attribution/conv2/pyramid.npz" in outputs, outputs
    assert not [o for o in outputs if "model.pt" in o or "/importance/" in o or "/saliency/" in o], outputs

    # Changing how visualisations are optimised reruns them, not the integrated gradients before them.
    (work / "lr.yaml").write_text(yaml.safe_dump({"attribution": {"optimise": {"lr": 0.02, "precision": "bfloat16"}}}))
    outputs = _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, "lr.yaml", cwd=work))
    assert any(o.endswith("mine_cnn/attribution/conv2/pyramid.npz") for o in outputs), outputs
    assert not any(o.endswith("attributions.npz") or "model.pt" in o for o in outputs), outputs
    target = "results/mine_cnn/attribution/conv2/pyramid.npz"
    # Choosing the items is per family: an autoencoder's latent dims rerun its attributions
    # (and the visualisations after them), never a classifier's; images per class the reverse.
    for key, rerun, kept in (("latent_dims", "mine_ae", "mine_cnn"), ("images_per_class", "mine_cnn", "mine_ae")):
        (work / "items.yaml").write_text(yaml.safe_dump({"attribution": {key: 3}}))
        outputs = _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, "items.yaml", cwd=work))
        rerun_attributions = [o for o in outputs if o.startswith(f"results/{rerun}/") and "attributions.npz" in o]
        assert rerun_attributions, (key, outputs)
        assert not any(kept in o for o in outputs), (key, outputs)

    # Settings that size the work to the machine come as resources: a change reruns nothing...
    sizing = {
        "importance": {"memory_budget_mb": 64},
        "saliency": {"images_per_pass": 7},
        "attribution": {"ig": {"internal_batch_size": 100}, "optimise": {"memory_budget_mb": 0.5, "max_batch": 64}},
        "compute": {"keep_freed_memory": False},
    }
    (work / "sizing.yaml").write_text(yaml.safe_dump(sizing))
    assert _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, "sizing.yaml", cwd=work)) == []
    # ... and reaches the job (a fractional budget too: a number resource would be rounded to 0).
    result = snakemake(target, "--cores", "2", "--forcerun", target, *configs, "sizing.yaml", cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    job_log = (work / "logs/optimise_attribution_visualisations/mine_cnn/conv2/pyramid.log").read_text()
    assert "(memory_budget_mb 0.5, max_batch 64)" in job_log
    assert "runs whole" in job_log  # the budget was applied: one block of items is over 0.5 MB
    assert "the network in float32" in job_log
    assert "freed memory" not in job_log  # compute.keep_freed_memory false: glibc left as it is
    # The precision reaches the job, and the job runs in it; then the config's own again.
    for overlay, precision in ((["lr.yaml"], "bfloat16"), ([], "float32")):
        result = snakemake(target, "--cores", "2", *configs, *overlay, cwd=work)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
        job_log = (work / "logs/optimise_attribution_visualisations/mine_cnn/conv2/pyramid.log").read_text()
        assert f"the network in {precision}" in job_log, job_log
        # The default: the job inherits glibc's variables from the workflow (every job does).
        assert "freed memory: as the environment's MALLOC_MMAP_THRESHOLD_=33554432" in job_log, job_log
    # A figure setting reruns the figure, not the permutation importance behind it.
    (work / "top.yaml").write_text(yaml.safe_dump({"importance": {"top_k": 3}}))
    outputs = _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, "top.yaml", cwd=work))
    assert "results/figures/mine_ae/importance" in outputs, outputs  # the Fig. 4 folder
    assert not any("results/mine_ae/importance/" in o for o in outputs), outputs

    # How a dataset's images are drawn is a figure setting too: its figures and the
    # explorer's image_style.json are redrawn, nothing computed, nothing of the other dataset.
    (work / "display.yaml").write_text(yaml.safe_dump({"data": {"datasets": {"digits_a": {"display": "natural"}}}}))
    outputs = _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, "display.yaml", cwd=work))
    for drawn in ("data/view_a_samples.png", "mine_ae/reconstructions.png", "mine_ae/attribution/latent_dims.png"):
        assert f"results/figures/{drawn}" in outputs, (drawn, outputs)
    assert "results/mine_ae/image_style.json" in outputs, outputs
    assert all(o.startswith("results/figures/") or o == "results/mine_ae/image_style.json" for o in outputs), outputs
    assert not any("view_b" in o or "mine_cnn" in o for o in outputs), outputs

    # So is a dataset's description: no job reads it, nothing is scheduled.
    (work / "described.yaml").write_text(
        yaml.safe_dump({"data": {"datasets": {"digits_a": {"description": "digits, described again"}}}})
    )
    assert _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, "described.yaml", cwd=work)) == []

    # Moving one user dataset reruns its own chain only, not the other's.
    (work / "mine_a").rename(work / "moved_a")
    (work / "moved.yaml").write_text(yaml.safe_dump({"data": {"datasets": {"digits_a": {"path": "moved_a"}}}}))
    outputs = _scheduled_outputs(snakemake("-n", "--cores", "2", *configs, "moved.yaml", cwd=work))
    assert any("results/prepared/view_a.npz" in o for o in outputs)
    assert not any("view_b" in o or "mine_cnn" in o for o in outputs), outputs
    # The old path is gone: the config names it before anything runs.
    result = snakemake("-n", "--cores", "2", *configs, cwd=work)
    assert result.returncode != 0
    assert "data.datasets.digits_a.path: no such folder: mine_a" in result.stdout + result.stderr


# Cluster: the shipped Slurm profile against a real one-node Slurm.


def _rules_declaring_gpu() -> set[str]:
    rules = set()
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", smk.read_text(), flags=re.M | re.S):
            if re.search(r"^\s+resources:\n(\s+\w+=.*\n)*?\s+gpu=", body, flags=re.M):
                rules.add(name)
    return rules


def test_slurm_profile_names_real_rules_and_every_gpu_rule():
    profile = yaml.safe_load((REPO / "profiles/slurm/profile.yaml").read_text())
    text = "".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    rules = set(re.findall(r"^rule (\w+):", text, flags=re.M))
    named = set(profile["set-resources"])
    assert named <= rules, f"the profile names rules that do not exist: {sorted(named - rules)}"
    gpu_rules = _rules_declaring_gpu()
    assert {"train_model", "compute_permutation_importance", "optimise_attribution_visualisations"} <= gpu_rules
    for rule in gpu_rules:
        assert profile["set-resources"].get(rule, {}).get("gres") == "gpu:1", rule
    local = {
        name
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", text, flags=re.M | re.S)
        if "localrule: True" in body
    }
    # Downloads run on the submit host, and so does the few bytes of JSON of each image style.
    assert local == {"download_source", "describe_image_style"}


def test_slurm_run_equals_a_local_run(smoke_run, tmp_path_factory):
    from . import slurm_cluster

    reason = slurm_cluster.why_not_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the Slurm test cannot run: {reason}; CI must run it")
        pytest.skip(f"no one-node Slurm here: {reason}")
    local, local_args = smoke_run
    root = tmp_path_factory.mktemp("slurm")
    cluster = slurm_cluster.start(root / "cluster")
    try:
        # The shipped profile, edited as the README tells a user: account and partitions.
        profile = yaml.safe_load((REPO / "profiles/slurm/profile.yaml").read_text())
        del profile["default-resources"]["slurm_account"]
        profile["slurm-no-account"] = True  # this test cluster keeps no accounts
        profile["default-resources"]["slurm_partition"] = "debug"
        for resources in profile["set-resources"].values():
            if "slurm_partition" in resources:
                resources["slurm_partition"] = "debug"
        # Polling suited to a one-node test: accounting is off, so ask squeue, and often.
        profile.update(
            {
                "slurm-status-command": "squeue",
                "slurm-init-seconds-before-status-checks": 1,
                "seconds-between-status-checks": 2,
                "latency-wait": 5,
                "retries": 0,
            }
        )
        (root / "profile").mkdir()
        (root / "profile" / "profile.yaml").write_text(yaml.safe_dump(profile))
        work = root / "work"
        work.mkdir()
        # A slice of the smoke run: data (on the submit host), a model, its importance and one
        # attribution job; the model-running rules ask for the GPU, the others do not.
        targets = [
            "results/prepared/mnist01.npz",
            "results/inglis_mnist01/metrics.json",
            "results/inglis_mnist01/importance/pixel_latent.npz",
            "results/inglis_mnist01/attribution/latent/pyramid.npz",
        ]
        configs = [a for a in local_args if a.endswith(".yaml")]
        result = subprocess.run(
            snakemake_command("--profile", str(root / "profile"), *targets, "--configfile", *configs, cwd=work),
            cwd=work,
            env={**cluster.env, "PATH": f"{BIN}:{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
        jobs = cluster.run("squeue", "-h", "-t", "all", "-o", "%k|%b|%T").stdout.split()
    finally:
        slurm_cluster.stop(cluster)
    # Every job but the download ran on Slurm and completed; the GPU rules asked for the GPU.
    ran = {
        comment.split("_wildcards_")[0].removeprefix("rule_"): (gres, state)
        for comment, gres, state in (line.split("|") for line in jobs)
    }
    assert set(ran) == {
        "prepare_dataset",
        "train_model",
        "compute_permutation_importance",
        "compute_neuron_attributions",
        "optimise_attribution_visualisations",
    }, jobs
    assert all(state == "COMPLETED" for _, state in ran.values()), jobs
    assert {rule for rule, (gres, _) in ran.items() if "gpu:1" in gres} == set(ran) - {"prepare_dataset"}
    # The same bytes as the local run: data, model, tables and arrays.
    compared = targets + [
        "results/inglis_mnist01/model.pt",
        "results/inglis_mnist01/history.csv",
        "results/inglis_mnist01/attribution/latent/attributions.npz",
        "results/inglis_mnist01/importance/latent_by_class.csv",
    ]
    differ = [path for path in compared if (work / path).read_bytes() != (local / path).read_bytes()]
    assert differ == []
