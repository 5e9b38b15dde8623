# Models: one per experiment, trained (with its curves) or imported; its reconstructions.


# Train one experiment's model on its prepared dataset (on the GPU when there is one).
rule train_model:
    input:
        data=get_experiment_data,
    output:
        model="results/{experiment}/model.pt",
        history="results/{experiment}/history.csv",
        metrics="results/{experiment}/metrics.json",
    log:
        "logs/train_model/{experiment}.log",
    benchmark:
        "benchmarks/train_model/{experiment}.tsv"
    wildcard_constraints:
        experiment=_names_pattern(TRAINED_EXPERIMENTS),
    conda:
        CONDA_ENV
    threads: get_train_threads
    resources:
        gpu=GPU_PER_JOB,
    params:
        code=package_code("train_model"),
        model=lambda w: config["experiments"][w.experiment]["model"],
        train=lambda w: config["experiments"][w.experiment]["train"],
        device=config["compute"]["device"],
    script:
        "../scripts/train_model.py"


# Your own model: the experiment's `weights` loaded into its model block, scored on its data.
rule import_model:
    input:
        data=get_experiment_data,
        weights=lambda w: config["experiments"][w.experiment]["weights"],
    output:
        model="results/{experiment}/model.pt",
        metrics="results/{experiment}/metrics.json",
    log:
        "logs/import_model/{experiment}.log",
    benchmark:
        "benchmarks/import_model/{experiment}.tsv"
    wildcard_constraints:
        experiment=_names_pattern(IMPORTED_EXPERIMENTS),
    conda:
        CONDA_ENV
    threads: 1
    params:
        code=package_code("import_model"),
        model=lambda w: config["experiments"][w.experiment]["model"],
        device=config["compute"]["device"],
    script:
        "../scripts/import_model.py"


# A few test images per class through the trained autoencoder, for the figures.
rule reconstruct_examples:
    input:
        model="results/{experiment}/model.pt",
        data=get_experiment_data,
    output:
        npz="results/{experiment}/reconstructions.npz",
    log:
        "logs/reconstruct_examples/{experiment}.log",
    benchmark:
        "benchmarks/reconstruct_examples/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("reconstruct_examples"),
        per_class=config["figures"]["reconstructions_per_class"],
        noise=lambda w: config["experiments"][w.experiment]
        .get("train", {})
        .get("noise", 0.0),
        seed=lambda w: config["experiments"][w.experiment]
        .get("train", {})
        .get("seed", 0),
    script:
        "../scripts/reconstruct_examples.py"


# Train and test loss per epoch (and accuracy for classifiers), beside the paper's values.
rule plot_training_curves:
    input:
        history="results/{experiment}/history.csv",
    output:
        png=report(
            "results/figures/{experiment}/training_curves.png",
            caption="../report/training_curves.rst",
            category=CATEGORY["data"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_training_curves/{experiment}.log",
    benchmark:
        "benchmarks/plot_training_curves/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_training_curves"),
        reported=lambda w: config["experiments"][w.experiment].get("reported", {}),
        loss=lambda w: config["experiments"][w.experiment]["train"]["loss"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_training_curves.py"


# Originals above reconstructions (Inglis Figs. 5, 7, 10; Arumugam Fig. 6).
rule plot_reconstructions:
    input:
        npz="results/{experiment}/reconstructions.npz",
    output:
        png=report(
            "results/figures/{experiment}/reconstructions.png",
            caption="../report/reconstructions.rst",
            category=CATEGORY["data"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_reconstructions/{experiment}.log",
    benchmark:
        "benchmarks/plot_reconstructions/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_reconstructions"),
        dpi=config["figures"]["dpi"],
        display=get_image_display,
    script:
        "../scripts/plot_reconstructions.py"


# Clean vs noisy training inputs of a denoising autoencoder (Arumugam Fig. 5).
rule plot_arumugam_fig5_noisy_inputs:
    input:
        npz="results/{experiment}/reconstructions.npz",
    output:
        png=report(
            "results/figures/{experiment}/noisy_inputs.png",
            caption="../report/noisy_inputs.rst",
            category=CATEGORY["data"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_arumugam_fig5_noisy_inputs/{experiment}.log",
    benchmark:
        "benchmarks/plot_arumugam_fig5_noisy_inputs/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_arumugam_fig5_noisy_inputs"),
        dpi=config["figures"]["dpi"],
        display=get_image_display,
    script:
        "../scripts/plot_arumugam_fig5_noisy_inputs.py"
