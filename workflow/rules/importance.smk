# Inglis et al.: permutation importance of pixels and latent dimensions, its summary, the UMAP of the codes, and their figures.


# Pixel -> latent importance with direction, and latent -> reconstruction importance per class.
rule compute_permutation_importance:
    input:
        model="results/{experiment}/model.pt",
        data=get_experiment_data,
    output:
        pixel="results/{experiment}/importance/pixel_latent.npz",
        latent="results/{experiment}/importance/latent_by_class.csv",
    log:
        "logs/compute_permutation_importance/{experiment}.log",
    benchmark:
        "benchmarks/compute_permutation_importance/{experiment}.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["max_threads"]
    resources:
        gpu=GPU_PER_JOB,
        memory_budget_mb=sizing_resource(config["importance"]["memory_budget_mb"]),
    params:
        code=package_code("compute_permutation_importance"),
        importance=get_importance_params,
        device=config["compute"]["device"],
    script:
        "../scripts/compute_permutation_importance.py"


# Top dimensions per class, dimensions shared across classes, unused dimensions.
rule summarise_importance:
    input:
        pixel="results/{experiment}/importance/pixel_latent.npz",
        latent="results/{experiment}/importance/latent_by_class.csv",
    output:
        md="results/{experiment}/importance/summary.md",
    log:
        "logs/summarise_importance/{experiment}.log",
    benchmark:
        "benchmarks/summarise_importance/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("summarise_importance"),
    script:
        "../scripts/summarise_importance.py"


# Per class: sorted latent importance beside the signed pixel heatmaps (Inglis Figs. 4, 6, 8, 12).
rule plot_inglis_fig4_importance:
    input:
        pixel="results/{experiment}/importance/pixel_latent.npz",
        latent="results/{experiment}/importance/latent_by_class.csv",
    output:
        figures=report(
            directory("results/figures/{experiment}/importance"),
            patterns=["{name}.png"],
            caption="../report/importance.rst",
            category=CATEGORY["inglis"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_inglis_fig4_importance/{experiment}.log",
    benchmark:
        "benchmarks/plot_inglis_fig4_importance/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_inglis_fig4_importance"),
        top_k=config["importance"]["top_k"],
        filter_unused=config["importance"]["filter_unused"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_inglis_fig4_importance.py"


# UMAP of the test encodings coloured by class (Inglis Fig. 11).
rule plot_inglis_fig11_umap:
    input:
        npz="results/{experiment}/latent/umap.npz",
    output:
        png=report(
            "results/figures/{experiment}/umap.png",
            caption="../report/umap.rst",
            category=CATEGORY["inglis"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_inglis_fig11_umap/{experiment}.log",
    benchmark:
        "benchmarks/plot_inglis_fig11_umap/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_inglis_fig11_umap"),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_inglis_fig11_umap.py"
