# Shi, Li & Yamaguchi: attribution visualisation of the experiments in `attribution.experiments`.
# One job per (experiment, layer) for the attributions, one per (experiment, layer,
# perturbation) for the visualisations: independent jobs, parallel locally and on a cluster.


# Integrated-gradients attributions of one hidden layer, the attribution map and beta.
rule compute_neuron_attributions:
    input:
        unpack(get_attribution_inputs),
    output:
        npz="results/{experiment}/attribution/{layer}/attributions.npz",
    log:
        "logs/compute_neuron_attributions/{experiment}/{layer}.log",
    benchmark:
        "benchmarks/compute_neuron_attributions/{experiment}/{layer}.tsv"
    conda:
        CONDA_ENV
    threads: config["attribution"]["threads"]
    resources:
        gpu=GPU_PER_JOB,
        internal_batch_size=config["attribution"]["ig"]["internal_batch_size"],
    params:
        code=package_code("compute_neuron_attributions"),
        attribution=get_neuron_attribution_params,
        device=config["compute"]["device"],
    script:
        "../scripts/compute_neuron_attributions.py"


# Optimise X* and M* for every (image, initialisation) under one perturbation; score both metrics.
rule optimise_attribution_visualisations:
    input:
        model="results/{experiment}/model.pt",
        attributions="results/{experiment}/attribution/{layer}/attributions.npz",
    output:
        npz="results/{experiment}/attribution/{layer}/{perturbation}.npz",
    log:
        "logs/optimise_attribution_visualisations/{experiment}/{layer}/{perturbation}.log",
    benchmark:
        "benchmarks/optimise_attribution_visualisations/{experiment}/{layer}/{perturbation}.tsv"
    conda:
        CONDA_ENV
    threads: config["attribution"]["threads"]
    resources:
        gpu=GPU_PER_JOB,
        memory_budget_mb=sizing_resource(
            config["attribution"]["optimise"]["memory_budget_mb"]
        ),
        max_batch=config["attribution"]["optimise"]["max_batch"],
        keep_freed_memory=int(config["compute"]["keep_freed_memory"]),
    params:
        code=package_code("optimise_attribution_visualisations"),
        attribution=get_attribution_params,
        device=config["compute"]["device"],
    script:
        "../scripts/optimise_attribution_visualisations.py"


# The tidy table of every visualisation's metrics and the ablation summary (Figs. 9-10).
rule collect_attribution_metrics:
    input:
        visualisations=get_attribution_visualisations,
    output:
        metrics="results/{experiment}/attribution/metrics.csv",
        ablation="results/{experiment}/attribution/ablation.csv",
    log:
        "logs/collect_attribution_metrics/{experiment}.log",
    benchmark:
        "benchmarks/collect_attribution_metrics/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("collect_attribution_metrics"),
        pairs=lambda w: attribution_pairs(w.experiment),
    script:
        "../scripts/collect_attribution_metrics.py"


# Autoencoders: each latent-dim visualisation against Inglis et al.'s signed heatmap of that dim.
rule compare_attribution_with_importance:
    input:
        importance="results/{experiment}/importance/pixel_latent.npz",
        attributions=get_attribution_files,
        visualisations=get_attribution_visualisations,
    output:
        csv="results/{experiment}/attribution/inglis_comparison.csv",
    log:
        "logs/compare_attribution_with_importance/{experiment}.log",
    benchmark:
        "benchmarks/compare_attribution_with_importance/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("compare_attribution_with_importance"),
        layers=lambda w: attribution_layers(w.experiment),
        pairs=lambda w: attribution_pairs(w.experiment),
    script:
        "../scripts/compare_attribution_with_importance.py"


# Per class: input, attribution map and the visualisation under every perturbation (Shi Figs. 6-8).
rule plot_shi_fig8_perturbations:
    input:
        attributions="results/{experiment}/attribution/{layer}/attributions.npz",
        visualisations=lambda w: [
            f"results/{w.experiment}/attribution/{w.layer}/{p}.npz"
            for p in attribution_perturbations(w.experiment)
        ],
    output:
        png=report(
            "results/figures/{experiment}/attribution/perturbations_{layer}.png",
            caption="../report/attribution_perturbations.rst",
            category=CATEGORY["shi"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_shi_fig8_perturbations/{experiment}/{layer}.log",
    benchmark:
        "benchmarks/plot_shi_fig8_perturbations/{experiment}/{layer}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_shi_fig8_perturbations"),
        perturbations=lambda w: attribution_perturbations(w.experiment),
        dpi=config["figures"]["dpi"],
        origin=get_image_origin,
        display=get_image_display,
    script:
        "../scripts/plot_shi_fig8_perturbations.py"


# Both metrics for every perturbation x layer (Shi Figs. 9-10).
rule plot_shi_fig9_ablation:
    input:
        ablation="results/{experiment}/attribution/ablation.csv",
    output:
        png=report(
            "results/figures/{experiment}/attribution/ablation.png",
            caption="../report/attribution_ablation.rst",
            category=CATEGORY["shi"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_shi_fig9_ablation/{experiment}.log",
    benchmark:
        "benchmarks/plot_shi_fig9_ablation/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_shi_fig9_ablation"),
        top_k=config["attribution"]["metrics"]["top_k"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_shi_fig9_ablation.py"


# Per class: the attribution map and the pyramid visualisation in every layer (Shi Fig. 16).
rule plot_shi_fig16_layers:
    input:
        attributions=get_attribution_files,
        visualisations=lambda w: [
            f"results/{w.experiment}/attribution/{layer}/{layer_figure_perturbation(w.experiment)}.npz"
            for layer in attribution_layers(w.experiment)
        ],
    output:
        png=report(
            "results/figures/{experiment}/attribution/layers.png",
            caption="../report/attribution_layers.rst",
            category=CATEGORY["shi"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_shi_fig16_layers/{experiment}.log",
    benchmark:
        "benchmarks/plot_shi_fig16_layers/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_shi_fig16_layers"),
        layers=lambda w: attribution_layers(w.experiment),
        perturbation=lambda w: layer_figure_perturbation(w.experiment),
        dpi=config["figures"]["dpi"],
        origin=get_image_origin,
        display=get_image_display,
    script:
        "../scripts/plot_shi_fig16_layers.py"


# Autoencoders: what drives each top latent dim, beside Inglis et al.'s heatmap of that dim.
rule plot_attribution_latent_dims:
    input:
        importance="results/{experiment}/importance/pixel_latent.npz",
        comparison="results/{experiment}/attribution/inglis_comparison.csv",
        attributions=get_attribution_files,
        visualisations=lambda w: [
            f"results/{w.experiment}/attribution/{layer}/{layer_figure_perturbation(w.experiment)}.npz"
            for layer in attribution_layers(w.experiment)
        ],
    output:
        png=report(
            "results/figures/{experiment}/attribution/latent_dims.png",
            caption="../report/attribution_latent_dims.rst",
            category=CATEGORY["shi"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_attribution_latent_dims/{experiment}.log",
    benchmark:
        "benchmarks/plot_attribution_latent_dims/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_attribution_latent_dims"),
        layers=lambda w: attribution_layers(w.experiment),
        perturbation=lambda w: layer_figure_perturbation(w.experiment),
        dpi=config["figures"]["dpi"],
        origin=get_image_origin,
        display=get_image_display,
    script:
        "../scripts/plot_attribution_latent_dims.py"
