# Figures of the explanation stages, each from precomputed results only.


# Per class: sorted latent importance beside the signed pixel heatmaps (Inglis Figs. 4, 6, 8, 12).
rule plot_fig4_importance:
    input:
        pixel="results/{experiment}/importance/pixel_latent.npz",
        latent="results/{experiment}/importance/latent_by_class.csv",
    output:
        figures=report(
            directory("results/figures/{experiment}/importance"),
            patterns=["{name}.png"],
            caption="../report/importance.rst",
            category="Permutation importance",
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_fig4_importance/{experiment}.log",
    benchmark:
        "benchmarks/plot_fig4_importance/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        top_k=config["importance"]["top_k"],
        filter_unused=config["importance"]["filter_unused"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_importance.py"


# UMAP of the test encodings coloured by class (Inglis Fig. 11).
rule plot_fig11_umap:
    input:
        npz="results/{experiment}/importance/umap.npz",
    output:
        png=report(
            "results/figures/{experiment}/umap.png",
            caption="../report/umap.rst",
            category="Permutation importance",
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_fig11_umap/{experiment}.log",
    benchmark:
        "benchmarks/plot_fig11_umap/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_umap.py"
