# Audio: WAV datasets -> smoothed 32x32 spectrogram images (the authors' recipe).


# Spectrogram images of every recording of a wav_folder dataset, in parallel over files.
rule make_spectrograms:
    input:
        raw=lambda w: get_source_dir(w.dataset),
    output:
        npz="results/spectrograms/{dataset}.npz",
        provenance="results/spectrograms/{dataset}.provenance.json",
    log:
        "logs/make_spectrograms/{dataset}.log",
    benchmark:
        "benchmarks/make_spectrograms/{dataset}.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["max_threads"]
    params:
        code=package_code("make_spectrograms"),
        spectrogram=get_spectrogram_params,
        registry=get_dataset_registry_args,
        fingerprint=lambda w: REGISTRY.fingerprint("dataset", w.dataset),
    script:
        "../scripts/make_spectrograms.py"


# One example spectrogram per class (Inglis et al. Fig. 9 shows one of "zero").
rule plot_inglis_fig9_spectrograms:
    input:
        npz="results/spectrograms/{dataset}.npz",
    output:
        png=report(
            "results/figures/data/{dataset}_spectrograms.png",
            caption="../report/fig9_spectrograms.rst",
            category=CATEGORY["data"],
            subcategory="{dataset}",
        ),
    log:
        "logs/plot_inglis_fig9_spectrograms/{dataset}.log",
    benchmark:
        "benchmarks/plot_inglis_fig9_spectrograms/{dataset}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_inglis_fig9_spectrograms"),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_inglis_fig9_spectrograms.py"
