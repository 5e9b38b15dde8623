# Validation, the registry and the helpers every rule file uses.
import os
from pathlib import Path

from snakemake.utils import validate

from aemap.checks.derived import (
    SanityConfigError,
    add_derived_entries,
    single_class_name,
    translated_name,
)
from aemap.attribution.layers import default_layer_names_of_spec, layer_names_of_spec
from aemap.data.registry import load_registry
from aemap.data.stages import spectrogram_params
from aemap.schema import check, load_schema

# Our check first: it names every offending key by its dotted path. Snakemake's
# validate then fills in the schema's defaults.
CONFIG_SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
check(config, load_schema(CONFIG_SCHEMA), "config")
validate(config, CONFIG_SCHEMA)
# The sanity checks' models are experiments derived from `sanity` (aemap.checks.derived).
try:
    SANITY_EXPERIMENTS = add_derived_entries(config)
except SanityConfigError as err:
    raise ValueError(f"config.yaml: {err}") from None


def _check_config_references():
    """Cross-references the schema cannot express, named by key."""
    errors = []
    for name in config["run"]:
        if name not in config["experiments"]:
            errors.append(f"run: {name!r} is not an entry of `experiments`")
    for name, exp in config["experiments"].items():
        if exp["data"] not in config["prepared"]:
            errors.append(
                f"experiments.{name}.data: {exp['data']!r} is not an entry of `prepared`"
            )
    for name, view in config["prepared"].items():
        if view["dataset"] not in REGISTRY.datasets:
            errors.append(
                f"prepared.{name}.dataset: unknown dataset {view['dataset']!r}; "
                f"known: {', '.join(sorted(REGISTRY.datasets))}"
            )
    attribution = config["attribution"]
    if attribution["preset"] not in attribution["presets"]:
        errors.append(
            f"attribution.preset: {attribution['preset']!r} is not an entry of attribution.presets "
            f"({', '.join(attribution['presets'])})"
        )
    for name, entry in attribution["experiments"].items():
        if name not in config["experiments"]:
            errors.append(
                f"attribution.experiments.{name}: not an entry of `experiments`"
            )
            continue
        spec = config["experiments"][name]["model"]
        known = layer_names_of_spec(spec)
        for layer in entry.get("layers", []):
            if layer not in known and "." not in layer:
                errors.append(
                    f"attribution.experiments.{name}.layers: {layer!r} is not a layer of this "
                    f"model; known: {', '.join(known)} (or a dotted module path)"
                )
    for name in config["spectrogram"]:
        if name != "default" and name not in REGISTRY.datasets:
            errors.append(f"spectrogram.{name}: not a dataset of the registry")
    if errors:
        raise ValueError("config.yaml:\n  " + "\n  ".join(errors))


def _registry_path():
    path = Path(config["data"]["registry"])
    return path if path.is_absolute() else Path(workflow.basedir) / path


# Scripts reload the registry from these; rules pass a fingerprint of the entry they use.
REGISTRY_ARGS = {
    # Relative to the working directory, so that a moved checkout reruns nothing.
    "path": os.path.relpath(_registry_path()),
    "sources": config["data"]["sources"],
    "datasets": config["data"]["datasets"],
}
REGISTRY = load_registry(**REGISTRY_ARGS)
_check_config_references()
RAW_DIR = config["data"]["raw_dir"]
# Environment for every rule (pins as in pyproject.toml), used with --sdm conda.
CONDA_ENV = "../../envs/aemap.yaml"


wildcard_constraints:
    experiment="|".join(config["experiments"]) or "^$",
    source=r"[A-Za-z0-9_\-]+",
    dataset=r"[A-Za-z0-9_\-]+",
    name=r"[A-Za-z0-9_]+",
    layer=r"[A-Za-z0-9_.]+",
    perturbation="none|blur|constant|gaussian|fractal|pyramid",


def get_dataset_of_prepared(name):
    return REGISTRY.dataset(config["prepared"][name]["dataset"])


def get_source_dir(dataset):
    """Input folder of a registry dataset: its downloaded source, or its local path."""
    ds = REGISTRY.dataset(dataset)
    if ds.path is not None:
        return ds.path
    return f"{RAW_DIR}/{ds.source}"


def get_prepare_input(wildcards):
    ds = get_dataset_of_prepared(wildcards.name)
    if ds.kind == "wav_folder":
        return {"spectrograms": f"results/spectrograms/{ds.name}.npz"}
    return {"raw": get_source_dir(ds.name)}


def get_spectrogram_params(wildcards):
    """`spectrogram.default` updated by the dataset's block, checked (one truth: aemap)."""
    return spectrogram_params(config["spectrogram"], wildcards.dataset).as_dict()


def _wants_gpu():
    """Whether training jobs will use a GPU (then they take the `gpu` resource)."""
    device = config["compute"]["device"]
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return device.startswith("cuda")


GPU_PER_TRAINING_JOB = 1 if _wants_gpu() else 0


def get_experiment_data(wildcards):
    return f"results/prepared/{config['experiments'][wildcards.experiment]['data']}.npz"


def get_train_threads(wildcards):
    return config["experiments"][wildcards.experiment]["train"]["threads"]


def is_autoencoder(experiment):
    return config["experiments"][experiment]["model"]["family"] == "dense_ae"


def get_single_class_maps(wildcards):
    return [
        f"results/{single_class_name(wildcards.experiment, c)}/saliency/maps.npz"
        for c in config["sanity"]["single_class"]["classes"]
    ]


def get_corruption_inputs(wildcards):
    inputs = {
        "autoencoder": f"results/{wildcards.experiment}/model.pt",
        "classifier": f"results/{config['sanity']['classifier']}/model.pt",
        "data": get_experiment_data(wildcards),
        "maps": f"results/{wildcards.experiment}/saliency/maps.npz",
    }
    if "permutation" in config["sanity"]["corruption"]["sources"]:
        inputs["importance"] = (
            f"results/{wildcards.experiment}/importance/pixel_latent.npz"
        )
    return inputs


def get_sanity_outputs(exp):
    """The sanity checks' tables and figures, when `exp` is `sanity.experiment`."""
    sanity = config["sanity"]
    if sanity["experiment"] != exp:
        return []
    targets = []
    if sanity["single_class"]["classes"]:
        targets.append(f"results/{exp}/sanity/single_class.csv")
        targets.append(f"results/figures/{exp}/sanity_single_class.png")
    if sanity["translation"]:
        targets.append(f"results/{exp}/sanity/translation.json")
        targets.append(f"results/figures/{exp}/sanity_translation.png")
    if sanity["classifier"]:
        targets.append(f"results/{exp}/corruption.csv")
        targets.append(f"results/figures/{exp}/sanity_corrupted_examples.png")
        targets.append(f"results/figures/{exp}/sanity_corruption.png")
    return targets


def attribution_layers(exp):
    """Layers attributed for `exp`: the entry's, else the model's default layers."""
    entry = config["attribution"]["experiments"][exp] or {}
    return entry.get("layers") or default_layer_names_of_spec(
        config["experiments"][exp]["model"]
    )


def attribution_perturbations(exp):
    entry = config["attribution"]["experiments"][exp] or {}
    if entry.get("perturbations"):
        return entry["perturbations"]
    key = "autoencoder_perturbations" if is_autoencoder(exp) else "perturbations"
    return config["attribution"][key]


def attribution_pairs(exp):
    """(layer, perturbation) of every visualisation job of `exp`, in a fixed order."""
    return [
        (layer, p)
        for layer in attribution_layers(exp)
        for p in attribution_perturbations(exp)
    ]


def layer_figure_perturbation(exp):
    """The perturbation the per-layer figures show: the pyramid when run, else the last."""
    perturbations = attribution_perturbations(exp)
    return "pyramid" if "pyramid" in perturbations else perturbations[-1]


def get_attribution_inputs(wildcards):
    inputs = {
        "model": f"results/{wildcards.experiment}/model.pt",
        "data": get_experiment_data(wildcards),
    }
    if is_autoencoder(wildcards.experiment):
        inputs["importance"] = (
            f"results/{wildcards.experiment}/importance/pixel_latent.npz"
        )
    return inputs


def get_attribution_files(wildcards):
    return [
        f"results/{wildcards.experiment}/attribution/{layer}/attributions.npz"
        for layer in attribution_layers(wildcards.experiment)
    ]


def get_attribution_visualisations(wildcards):
    return [
        f"results/{wildcards.experiment}/attribution/{layer}/{p}.npz"
        for layer, p in attribution_pairs(wildcards.experiment)
    ]


def get_attribution_outputs(exp):
    """Tables and figures of the attribution stage, when `exp` is in attribution.experiments."""
    if exp not in config["attribution"]["experiments"]:
        return []
    base, figures = f"results/{exp}/attribution", f"results/figures/{exp}/attribution"
    targets = [
        f"{base}/metrics.csv",
        f"{figures}/ablation.png",
        f"{figures}/layers.png",
    ]
    targets += [
        f"{figures}/perturbations_{layer}.png" for layer in attribution_layers(exp)
    ]
    if is_autoencoder(exp):
        targets += [f"{base}/inglis_comparison.csv", f"{figures}/latent_dims.png"]
    return targets


def get_final_outputs():
    """Everything `rule all` builds for the experiments in `run`."""
    targets = []
    for exp in config["run"]:
        name = config["experiments"][exp]["data"]
        targets.append(f"results/prepared/{name}.npz")
        targets.append(f"results/figures/data/{name}_samples.png")
        ds = get_dataset_of_prepared(name)
        if ds.kind == "wav_folder":
            targets.append(f"results/figures/data/{ds.name}_spectrograms.png")
        targets.append(f"results/{exp}/metrics.json")
        targets.append(f"results/figures/{exp}/training_curves.png")
        if config["experiments"][exp]["paper"] == "inglis":
            targets.append(f"results/{exp}/importance/summary.md")
            targets.append(f"results/figures/{exp}/importance")
            targets.append(f"results/figures/{exp}/umap.png")
        if config["experiments"][exp]["paper"] == "arumugam" and is_autoencoder(exp):
            targets.append(f"results/figures/{exp}/saliency.png")
        targets.extend(get_sanity_outputs(exp))
        targets.extend(get_attribution_outputs(exp))
        if is_autoencoder(exp):
            targets.append(f"results/figures/{exp}/reconstructions.png")
            if config["experiments"][exp]["train"]["noise"] > 0:
                targets.append(f"results/figures/{exp}/noisy_inputs.png")
    return sorted(set(targets))
