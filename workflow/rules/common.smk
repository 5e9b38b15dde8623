# Validation, the registry and the helpers every rule file uses.
import os
import re
from pathlib import Path

from snakemake.utils import validate

from aemap.allocator import keep_freed_memory_in_jobs
from aemap.analyses import resolve_analyses
from aemap.code_digest import script_code_digest
from aemap.checks.derived import (
    SanityConfigError,
    add_derived_entries,
    check_classifiers,
    single_class_name,
    translated_models,
)
from aemap.attribution.layer_names import (
    default_layer_names_of_spec,
    layer_names_of_spec,
    module_paths_of_spec,
)
from aemap.attribution.perturb_settings import PERTURBATIONS, PerturbationSettings
from aemap.explain.embedding import LATENT_VIEWS
from aemap.data.registry import load_registry, missing_local_files, read_entry
from aemap.devices import cuda_available
from aemap.data.audio import SpectrogramConfigError
from aemap.data.stages import spectrogram_params
from aemap.schema import check, load_schema
from aemap.replication import CLAIMS_FILE, claim_files, is_runnable, load_claims

# What is read of each package file for the digests, kept under the sha256 of its bytes
# (aemap.code_digest): Snakemake reads the workflow for every call.
CODE_FACTS_CACHE = Path(".snakemake/aemap/code-facts")


def package_code(script):
    """The digest of the aemap code workflow/scripts/{script}.py runs (the
    modules it imports, transitively; aemap.code_digest). Every rule has it
    as a param: Snakemake's code trigger sees the script only, so without it
    a change in the package would rerun nothing."""
    return script_code_digest(
        Path(workflow.basedir) / "workflow/scripts" / f"{script}.py",
        cache_dir=CODE_FACTS_CACHE,
    )


# Our check first: it names every offending key by its dotted path. Snakemake's
# validate then fills in the schema's defaults.
CONFIG_SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
check(config, load_schema(CONFIG_SCHEMA), "config")
validate(config, CONFIG_SCHEMA)
# compute.keep_freed_memory: every job's process inherits glibc's settings to keep
# freed memory (aemap.allocator); the environment is no job's code or parameter, so
# the setting reruns nothing. Glibc's own variables, where the user set them, win.
if config["compute"]["keep_freed_memory"]:
    keep_freed_memory_in_jobs(os.environ)
# Each experiment's analyses: its own list, else its paper's defaults (aemap.analyses).
_analysis_errors = resolve_analyses(config)
if _analysis_errors:
    raise ValueError("config:\n  " + "\n  ".join(_analysis_errors))
# The sanity checks' models are experiments derived from `sanity` (aemap.checks.derived).
try:
    add_derived_entries(config)
except SanityConfigError as err:
    raise ValueError(f"config: {err}") from None


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
        anomaly_data = exp.get("anomaly", {}).get("data")
        if anomaly_data is not None and anomaly_data not in config["prepared"]:
            errors.append(
                f"experiments.{name}.anomaly.data: {anomaly_data!r} is not an entry of `prepared`"
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
    optimise = attribution["optimise"]
    if optimise["max_batch"] < optimise["random_block"]:
        errors.append(
            f"attribution.optimise.max_batch: {optimise['max_batch']} is below random_block "
            f"({optimise['random_block']}): chunks are whole blocks of items sharing a random stream"
        )
    try:  # the package's own check, before any job runs
        PerturbationSettings(**attribution["perturbation"])
    except ValueError as err:
        errors.append(str(err))
    for name, entry in attribution["experiments"].items():
        if name not in config["experiments"]:
            errors.append(
                f"attribution.experiments.{name}: not an entry of `experiments`"
            )
            continue
        if "attribution" not in config["experiments"][name]["analyses"]:
            errors.append(
                f"attribution.experiments.{name}: experiments.{name}.analyses does not list 'attribution'"
            )
        spec = config["experiments"][name]["model"]
        known = layer_names_of_spec(spec)
        paths = None
        for layer in entry.get("layers", []):
            if layer in known:
                continue
            if "." not in layer:
                errors.append(
                    f"attribution.experiments.{name}.layers: {layer!r} is not a layer of this "
                    f"model; known: {', '.join(known)} (or a dotted module path)"
                )
                continue
            paths = module_paths_of_spec(spec) if paths is None else paths
            if paths is not None and layer not in paths:
                errors.append(
                    f"attribution.experiments.{name}.layers: {layer!r} is not a module of this "
                    f"model; its dotted paths: {', '.join(p for p in paths if '.' in p)}"
                )
    for name in config["spectrogram"]:
        if name != "default" and name not in REGISTRY.datasets:
            errors.append(f"spectrogram.{name}: not a dataset of the registry")
    for name, view in config["prepared"].items():
        ds = REGISTRY.datasets.get(view["dataset"])
        if ds is None:
            continue
        if ds.classes is not None:
            known = set(ds.classes)
            wanted = list(view.get("classes") or []) + [
                c for extra in (view.get("merge") or {}).values() for c in extra
            ]
            unknown = [c for c in wanted if str(c) not in known]
            if unknown:
                errors.append(
                    f"prepared.{name}.classes: {unknown} not in dataset {ds.name!r} "
                    f"(its classes: {', '.join(ds.classes)})"
                )
        if ds.kind == "wav_folder":
            try:
                spectrogram_params(config["spectrogram"], ds.name)
            except SpectrogramConfigError as err:
                errors.append(str(err))
    device = config["compute"]["device"]
    # torch only where a CUDA device is asked for (cuda_config_error: None for any other)
    if device.startswith("cuda") and workflow.local_exec and not workflow.remote_exec:
        from aemap.compute import cuda_config_error

        device_error = cuda_config_error(device)
        if device_error:
            errors.append(device_error)
    # Weights only of what this run builds: an entry kept for later (not in `run`)
    # may name a file that does not exist yet.
    built = set(config["run"]) | set(check_classifiers(config))
    for name, exp in config["experiments"].items():
        if name in built and "weights" in exp and not Path(exp["weights"]).is_file():
            errors.append(
                f"experiments.{name}.weights: no such file: {exp['weights']} (relative to {Path.cwd()})"
            )
    errors += missing_local_files(REGISTRY, config["data"]["datasets"])
    if errors:
        raise ValueError("config:\n  " + "\n  ".join(errors))


def _registry_path():
    path = Path(config["data"]["registry"])
    return path if path.is_absolute() else Path(workflow.basedir) / path


REGISTRY = load_registry(
    _registry_path(), config["data"]["sources"], config["data"]["datasets"]
)
_check_config_references()
# The registry file's own entries, to tell a user entry that only restates one
# (a copy with another `display` or description, or its keys in another order)
# from one that changes what a job reads.
REGISTRY_FILE_ENTRIES = load_registry(_registry_path())


def restates_registry(dataset):
    """Whether the user's entry of `dataset` reads the data as the registry's
    entry of that name does: equal but for what no job reads."""
    if dataset not in REGISTRY_FILE_ENTRIES.datasets:
        return False
    registry = REGISTRY_FILE_ENTRIES.dataset(dataset)
    return REGISTRY.dataset(dataset).read_key() == registry.read_key()


def registry_args(source=None, dataset=None):
    """What a job's script reloads the registry from: the registry file and only the
    user entries that job reads, so that adding an entry to data.sources or
    data.datasets changes no other job's params (and reruns nothing else)."""
    user_sources, user_datasets = config["data"]["sources"], config["data"]["datasets"]
    datasets = {}
    if dataset is not None:
        if dataset in user_datasets and not restates_registry(dataset):
            # Less `display` and `description`, keys sorted: no input of the job's.
            datasets[dataset] = read_entry(user_datasets[dataset])
        source = REGISTRY.dataset(dataset).source
    sources = {source: user_sources[source]} if source in user_sources else {}
    # Relative to the working directory, so that a moved checkout reruns nothing.
    path = os.path.relpath(_registry_path())
    return {"path": path, "sources": sources, "datasets": datasets}


def get_dataset_registry_args(wildcards):
    return registry_args(dataset=wildcards.dataset)


def get_prepared_registry_args(wildcards):
    return registry_args(dataset=config["prepared"][wildcards.name]["dataset"])


def get_source_registry_args(wildcards):
    return registry_args(source=wildcards.source)


RAW_DIR = config["data"]["raw_dir"]
# Environment for every rule (pins as in pyproject.toml), used with --sdm conda.
CONDA_ENV = "../../envs/aemap.yaml"


def is_trained(experiment):
    """Trained by the workflow (else imported from the experiment's `weights`)."""
    return "weights" not in config["experiments"][experiment]


def _names_pattern(names):
    """A wildcard constraint matching exactly `names` (and nothing when there are none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


TRAINED_EXPERIMENTS = [e for e in config["experiments"] if is_trained(e)]
IMPORTED_EXPERIMENTS = [e for e in config["experiments"] if not is_trained(e)]


wildcard_constraints:
    experiment=_names_pattern(config["experiments"]),
    source=r"[A-Za-z0-9_\-]+",
    dataset=r"[A-Za-z0-9_\-]+",
    name=r"[A-Za-z0-9_]+",
    layer=r"[A-Za-z0-9_.]+",
    perturbation="|".join(PERTURBATIONS),
    view="|".join(LATENT_VIEWS),


# Report categories: one per paper (and one for the visualisation note), each
# experiment a subcategory; the order of the keys is the order in the report.
CATEGORY = {
    "replication": "1. Replication and result tables",
    "data": "2. Data and models",
    "inglis": "3. Inglis et al.: permutation importance",
    "arumugam": "4. Arumugam & Kiran: saliency and sanity checks",
    "shi": "5. Shi, Li & Yamaguchi: attribution visualisation",
    "note": "6. The visualisation note: latent space, reconstruction error, weights",
}


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
    """Whether the jobs that run a model (training, importance, attribution) will use
    a GPU here; then they take the `gpu` resource, of which profiles/default allows one
    at a time. On a cluster the profile asks for the GPU instead (profiles/slurm)."""
    device = config["compute"]["device"]
    if device == "auto":
        return cuda_available()  # without importing torch where no GPU driver is
    return device.startswith("cuda")


GPU_PER_JOB = 1 if _wants_gpu() else 0


def get_experiment_data(wildcards):
    return f"results/prepared/{config['experiments'][wildcards.experiment]['data']}.npz"


def get_anomaly_data(wildcards):
    """The prepared view whose classes the experiment lacks are its unseen items."""
    view = config["experiments"][wildcards.experiment]["anomaly"]["data"]
    return f"results/prepared/{view}.npz"


def get_image_origin(wildcards):
    """'lower' for spectrograms (frequency upward), 'upper' for images."""
    ds = get_dataset_of_prepared(config["experiments"][wildcards.experiment]["data"])
    return "lower" if ds.kind == "wav_folder" else "upper"


def get_image_display(wildcards):
    """How figures draw the images of an experiment's (or a prepared view's,
    wildcard `name`) dataset: its `display`, ink or natural. A param of the
    figures only, so changing it redraws them and recomputes nothing."""
    name = (
        wildcards.name
        if "name" in wildcards.keys()
        else config["experiments"][wildcards.experiment]["data"]
    )
    return get_dataset_of_prepared(name).display


def get_latent_view_params(wildcards):
    """The sample and this view's own settings (so a t-SNE change never reruns the UMAP)."""
    latent = config["latent"]
    params = {k: latent[k] for k in ("max_points", "seed")}
    if wildcards.view in ("tsne", "umap"):
        params[wildcards.view] = latent[wildcards.view]
    return params


def get_latent_view_files(wildcards):
    return [
        f"results/{wildcards.experiment}/latent/{view}.npz"
        for view in config["latent"]["views"]
    ]


def latent_size(exp):
    return config["experiments"][exp]["model"]["encoder"][-1]


def get_train_threads(wildcards):
    return config["experiments"][wildcards.experiment]["train"]["threads"]


def is_autoencoder(experiment):
    return config["experiments"][experiment]["model"]["family"] == "dense_ae"


def get_single_class_maps(wildcards):
    return [
        f"results/{single_class_name(wildcards.experiment, c)}/saliency/maps.npz"
        for c in config["sanity"]["single_class"]["classes"]
    ]


def get_translated_maps(wildcards):
    """Check 2's saliency maps, one per training of the translated model
    (sanity.translation.seeds), in the order of translated_seeds."""
    return [
        f"results/{name}/saliency/maps.npz"
        for _, name in translated_models(config, wildcards.experiment)
    ]


def translated_seeds(wildcards):
    return [seed for seed, _ in translated_models(config, wildcards.experiment)]


def translated_experiments(wildcards):
    return [name for _, name in translated_models(config, wildcards.experiment)]


def get_saliency_params(wildcards):
    """`saliency`, except that an experiment with the sanity analysis keeps the map
    of every test image (check 3 ranks each image's pixels by its own map)."""
    params = without(config["saliency"], SALIENCY_SIZING_KEYS)
    if has(wildcards.experiment, "sanity"):
        params["images"] = None
    return params


def get_corruption_inputs(wildcards):
    inputs = {
        # One trained classifier per sanity.classifier_seeds entry.
        "classifiers": [f"results/{c}/model.pt" for c in check_classifiers(config)],
        "data": get_experiment_data(wildcards),
        "maps": f"results/{wildcards.experiment}/saliency/maps.npz",
    }
    if "permutation" in config["sanity"]["corruption"]["sources"]:
        inputs["importance"] = (
            f"results/{wildcards.experiment}/importance/pixel_latent.npz"
        )
    return inputs


def get_sanity_outputs(exp):
    """The sanity checks' tables and figures of an experiment with the `sanity` analysis."""
    sanity = config["sanity"]
    targets = []
    if sanity["single_class"]["classes"]:
        targets.append(f"results/{exp}/sanity/single_class.csv")
        targets.append(f"results/figures/{exp}/sanity_single_class.png")
    if sanity["translation"]:
        targets.append(f"results/{exp}/sanity/translation.json")
        targets.append(f"results/figures/{exp}/sanity_translation.png")
    if sanity["classifier"]:
        targets.append(f"results/{exp}/sanity/corruption.csv")
        targets.append(f"results/figures/{exp}/sanity_corrupted_examples.png")
        targets.append(f"results/figures/{exp}/sanity_corruption.png")
    return targets


def attribution_entry(exp):
    """`attribution.experiments.<exp>` (optional: layers, perturbations)."""
    return config["attribution"]["experiments"].get(exp) or {}


# Settings that size a job's work to the machine (how many rows or items go
# through the model at once). They change results at most by float rounding, so
# they reach the job as resources, not params: a change reruns nothing, and a
# profile can set them per rule, e.g. for a large GPU
#   --set-resources optimise_attribution_visualisations:memory_budget_mb=16384
IMPORTANCE_SIZING_KEYS = ("memory_budget_mb",)
ATTRIBUTION_SIZING_KEYS = ("memory_budget_mb", "max_batch")  # of attribution.optimise
IG_SIZING_KEYS = ("internal_batch_size",)  # of attribution.ig
SALIENCY_SIZING_KEYS = ("images_per_pass",)
# What only the importance figures read (Inglis Fig. 4): no rerun of the importance itself.
IMPORTANCE_FIGURE_KEYS = ("top_k", "filter_unused")


def without(block, keys):
    """A config block less ``keys``: what a job's params hold decides when it reruns."""
    return {k: v for k, v in block.items() if k not in keys}


def sizing_resource(value):
    """A sizing setting as a resource: a string, as Snakemake rounds a number
    resource to an integer (a budget of 0.5 MB would become 0)."""
    return str(value)


def get_importance_params(wildcards):
    """`importance` as the importance job reads it: no figure or sizing keys."""
    return without(
        config["importance"], IMPORTANCE_FIGURE_KEYS + IMPORTANCE_SIZING_KEYS
    )


def get_corruption_params(wildcards):
    """`sanity.corruption` without the paper's reported values (the figure's),
    and the classifiers' names (in the order of their inputs)."""
    return {
        **without(config["sanity"]["corruption"], ("reported",)),
        "classifiers": check_classifiers(config),
    }


def _attribution_block():
    """The attribution settings of one run: the chosen preset only; the sizing
    keys of `optimise` and `ig` come as resources, the per-experiment entries
    and perturbation lists through the jobs' wildcards."""
    block = config["attribution"]
    params = {
        k: v
        for k, v in block.items()
        if k
        not in (
            "experiments",
            "presets",
            "perturbations",
            "autoencoder_perturbations",
        )
    }
    params["presets"] = {block["preset"]: block["presets"][block["preset"]]}
    params["optimise"] = without(block["optimise"], ATTRIBUTION_SIZING_KEYS)
    params["ig"] = without(block["ig"], IG_SIZING_KEYS)
    return params


# Keys only the visualisations read (and `threads`, which both jobs run with).
# Everything else reaches a visualisation through its input, the attributions:
# a change there reruns the integrated gradients, and the visualisations after them.
VISUALISATION_KEYS = (
    "preset",
    "presets",
    "optimise",
    "transforms",
    "perturbation",
    "metrics",
)

# Keys that choose the explained items, by model family: a classifier's images
# per class and target, an autoencoder's latent dims and images per dim.
ITEM_KEYS = {
    "classifier": ("images_per_class", "target"),
    "autoencoder": ("latent_dims", "images_per_dim"),
}


def get_attribution_params(wildcards):
    """What a visualisation job reads: how visualisations are optimised and
    scored, and nothing that only chooses or attributes the items."""
    block = _attribution_block()
    return {k: v for k, v in block.items() if k in VISUALISATION_KEYS + ("threads",)}


def get_neuron_attribution_params(wildcards):
    """What an integrated-gradients job reads: no optimisation, transformation,
    perturbation or metric settings, and only its own family's item keys, so
    that changing how visualisations are optimised reruns only them, and
    `latent_dims` reruns no classifier's attributions (nor `images_per_class`
    an autoencoder's)."""
    family = "autoencoder" if is_autoencoder(wildcards.experiment) else "classifier"
    other = ITEM_KEYS["classifier" if family == "autoencoder" else "autoencoder"]
    return {
        k: v
        for k, v in _attribution_block().items()
        if k not in VISUALISATION_KEYS + other
    }


def attribution_layers(exp):
    """Layers attributed for `exp`: the entry's, else the model's default layers."""
    entry = attribution_entry(exp)
    return entry.get("layers") or default_layer_names_of_spec(
        config["experiments"][exp]["model"]
    )


def attribution_perturbations(exp):
    entry = attribution_entry(exp)
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
    """Tables and figures of the attribution analysis of `exp`."""
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


def has(exp, analysis):
    return analysis in config["experiments"][exp]["analyses"]


def get_analysis_outputs(exp):
    """What the analyses listed by `exp` build."""
    targets = []
    if has(exp, "reconstructions"):
        targets.append(f"results/figures/{exp}/reconstructions.png")
        if config["experiments"][exp].get("train", {}).get("noise", 0) > 0:
            targets.append(f"results/figures/{exp}/noisy_inputs.png")
    if has(exp, "importance"):
        targets.append(f"results/{exp}/importance/summary.md")
        targets.append(f"results/figures/{exp}/importance")
    if has(exp, "umap"):
        targets.append(f"results/figures/{exp}/umap.png")
    if has(exp, "saliency"):
        targets.append(f"results/figures/{exp}/saliency.png")
    if has(exp, "sanity"):
        targets.extend(get_sanity_outputs(exp))
    if has(exp, "attribution"):
        targets.extend(get_attribution_outputs(exp))
    if has(exp, "latent"):
        targets.append(f"results/figures/{exp}/latent_views.png")
        if latent_size(exp) == 2:
            targets.append(f"results/figures/{exp}/latent_grid.png")
    if has(exp, "reconstruction_error"):
        targets.append(f"results/{exp}/reconstruction/errors_by_class.csv")
        targets.append(f"results/figures/{exp}/reconstruction_error.png")
        targets.append(f"results/figures/{exp}/reconstruction_error_by_class.png")
    if has(exp, "anomaly"):
        targets.append(f"results/{exp}/anomaly/auc.json")
        targets.append(f"results/figures/{exp}/anomaly_roc.png")
    if has(exp, "encoder_weights"):
        targets.append(f"results/figures/{exp}/encoder_weights.png")
    return targets


# The replication table (rules/report.smk): the papers' claims (aemap/claims.yaml).
CLAIMS = load_claims()
REPLICATION_OUTPUTS = [
    "results/replication.csv",
    "results/replication.md",
    "results/replication.html",
]


def _replication_facts():
    """What the table depends on: the run and each run experiment's analyses."""
    return {
        "run": list(config["run"]),
        "analyses": {
            e: list(config["experiments"][e]["analyses"]) for e in config["run"]
        },
    }


def replication_claims_run():
    facts = _replication_facts()
    return any(c.experiment in facts["run"] for c in CLAIMS)


def get_replication_inputs(wildcards):
    facts = _replication_facts()
    files = set()
    for claim in CLAIMS:
        if is_runnable(claim, facts["run"], facts["analyses"]):
            files.update(claim_files(claim))
    return sorted(files)


def result_tables(exp):
    """The tables an experiment's analyses write, in the order the report shows them."""
    tables = [f"results/{exp}/metrics.json"]
    if has(exp, "importance"):
        tables.append(f"results/{exp}/importance/latent_by_class.csv")
    if has(exp, "reconstruction_error"):
        tables.append(f"results/{exp}/reconstruction/errors_by_class.csv")
    if has(exp, "anomaly"):
        tables.append(f"results/{exp}/anomaly/auc.json")
    if has(exp, "sanity"):
        tables += [t for t in get_sanity_outputs(exp) if not t.endswith(".png")]
    if has(exp, "attribution"):
        tables.append(f"results/{exp}/attribution/ablation.csv")
        if is_autoencoder(exp):
            tables.append(f"results/{exp}/attribution/inglis_comparison.csv")
    return tables


def get_result_tables(wildcards=None):
    """{experiment: its tables} for every experiment of `run`."""
    return {exp: result_tables(exp) for exp in config["run"]}


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
        targets.append(f"results/{exp}/image_style.json")
        if is_trained(exp):
            targets.append(f"results/figures/{exp}/training_curves.png")
        targets.extend(get_analysis_outputs(exp))
    if replication_claims_run():
        targets += REPLICATION_OUTPUTS
    if config["run"]:
        targets.append("results/tables.html")
    return sorted(set(targets))
