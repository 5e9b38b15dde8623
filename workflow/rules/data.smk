# Data stage: download and verify sources, prepare the named dataset views.
import sys
import time

from aemap.data.failures import failed_downloads, no_mirror_hint
from aemap.data.stages import resolve_mirror

# When this run began: a download log written since is this run's (onerror below).
RUN_STARTED = time.time()
DOWNLOAD_LOGS = "logs/download_source"


# A run whose downloads failed with no mirror set: say how to set one (each
# job's log says why its download failed; aemap.data.failures).
onerror:
    failed = failed_downloads(REGISTRY.sources, RAW_DIR, DOWNLOAD_LOGS, RUN_STARTED)
    if failed and not resolve_mirror(config["data"]["mirror"]):
        mirror_dirs = {name: REGISTRY.sources[name].mirror_dir for name in failed}
        print(
            no_mirror_hint(failed, DOWNLOAD_LOGS, mirror_dirs),
            file=sys.stderr,
        )


# Download one source of the registry (mirror first, then upstream) and verify every file.
rule download_source:
    output:
        raw=directory(f"{RAW_DIR}/{{source}}"),
        provenance=f"{RAW_DIR}/{{source}}.provenance.json",
    log:
        f"{DOWNLOAD_LOGS}/{{source}}.log",
    benchmark:
        "benchmarks/download_source/{source}.tsv"
    localrule: True
    conda:
        CONDA_ENV
    # Where the files come from (data.mirror, data.download) is read from config
    # by the script and is no parameter: a verified copy is the same data.
    params:
        code=package_code("download_source"),
        registry=get_source_registry_args,
        # Reruns the download when the source's registry entry changes.
        fingerprint=lambda w: REGISTRY.fingerprint("source", w.source),
    script:
        "../scripts/download_source.py"


# Select classes, split and cap one named view of a dataset -> the npz every later stage reads.
rule prepare_dataset:
    input:
        unpack(get_prepare_input),
    output:
        npz="results/prepared/{name}.npz",
        provenance="results/prepared/{name}.provenance.json",
    log:
        "logs/prepare_dataset/{name}.log",
    benchmark:
        "benchmarks/prepare_dataset/{name}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("prepare_dataset"),
        view=lambda w: config["prepared"][w.name],
        registry=get_prepared_registry_args,
        fingerprint=lambda w: REGISTRY.fingerprint(
            "dataset", config["prepared"][w.name]["dataset"]
        ),
    script:
        "../scripts/prepare_dataset.py"


# A grid of random training examples per class: a first look at each prepared dataset.
rule plot_dataset_samples:
    input:
        npz="results/prepared/{name}.npz",
    output:
        png=report(
            "results/figures/data/{name}_samples.png",
            caption="../report/dataset_samples.rst",
            category=CATEGORY["data"],
            subcategory="{name}",
        ),
    log:
        "logs/plot_dataset_samples/{name}.log",
    benchmark:
        "benchmarks/plot_dataset_samples/{name}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_dataset_samples"),
        per_class=config["figures"]["samples_per_class"],
        dpi=config["figures"]["dpi"],
        seed=0,
        display=get_image_display,
    script:
        "../scripts/plot_dataset_samples.py"


# How an experiment's images are drawn (dataset, orientation, display), for the
# explorer, which reads results only: a figure setting, so a dataset's new
# `display` rewrites this file and the figures and recomputes nothing.
rule describe_image_style:
    output:
        json="results/{experiment}/image_style.json",
    log:
        "logs/describe_image_style/{experiment}.log",
    benchmark:
        "benchmarks/describe_image_style/{experiment}.tsv"
    localrule: True  # a few bytes of JSON: not worth a cluster job
    conda:
        CONDA_ENV
    params:
        code=package_code("describe_image_style"),
        dataset=lambda w: get_dataset_of_prepared(
            config["experiments"][w.experiment]["data"]
        ).name,
        origin=get_image_origin,
        display=get_image_display,
    script:
        "../scripts/describe_image_style.py"
