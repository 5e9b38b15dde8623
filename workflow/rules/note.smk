# The visualisation note ("How can autoencoder output be visualized?") for every
# autoencoder: 2-D views of the codes, the decoded grid of a 2-D code, the
# reconstruction error (examples, per class, as an anomaly score) and the
# first layer's weights. Computations write npz/csv; each figure has its own rule.


# One 2-D view of a stratified sample of the test codes (the UMAP also serves Inglis Fig. 11).
rule embed_latent_space:
    input:
        model="results/{experiment}/model.pt",
        data=get_experiment_data,
    output:
        npz="results/{experiment}/latent/{view}.npz",
    log:
        "logs/embed_latent_space/{experiment}_{view}.log",
    benchmark:
        "benchmarks/embed_latent_space/{experiment}_{view}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("embed_latent_space"),
        # Only the settings of this view: a t-SNE change never reruns the UMAP.
        latent=get_latent_view_params,
    script:
        "../scripts/embed_latent_space.py"


# PCA, t-SNE, UMAP and the STD view side by side, coloured by class.
rule plot_note_latent_views:
    input:
        views=get_latent_view_files,
    output:
        png=report(
            "results/figures/{experiment}/latent_views.png",
            caption="../report/latent_views.rst",
            category=CATEGORY["note"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_note_latent_views/{experiment}.log",
    benchmark:
        "benchmarks/plot_note_latent_views/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_note_latent_views"),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_note_latent_views.py"


# A 2-unit code: the test codes and the decoder's output on a grid over the plane.
rule decode_latent_grid:
    input:
        model="results/{experiment}/model.pt",
        data=get_experiment_data,
    output:
        npz="results/{experiment}/latent/grid.npz",
    log:
        "logs/decode_latent_grid/{experiment}.log",
    benchmark:
        "benchmarks/decode_latent_grid/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("decode_latent_grid"),
        sample={k: config["latent"][k] for k in ("max_points", "seed")},
        grid=config["latent"]["grid"],
    script:
        "../scripts/decode_latent_grid.py"


rule plot_note_latent_grid:
    input:
        npz="results/{experiment}/latent/grid.npz",
    output:
        png=report(
            "results/figures/{experiment}/latent_grid.png",
            caption="../report/latent_grid.rst",
            category=CATEGORY["note"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_note_latent_grid/{experiment}.log",
    benchmark:
        "benchmarks/plot_note_latent_grid/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_note_latent_grid"),
        dpi=config["figures"]["dpi"],
        display=get_image_display,
    script:
        "../scripts/plot_note_latent_grid.py"


# Per test image: the reconstruction error; examples of every class; a table per class.
rule compute_reconstruction_errors:
    input:
        model="results/{experiment}/model.pt",
        data=get_experiment_data,
    output:
        npz="results/{experiment}/reconstruction/errors.npz",
        csv="results/{experiment}/reconstruction/errors_by_class.csv",
    log:
        "logs/compute_reconstruction_errors/{experiment}.log",
    benchmark:
        "benchmarks/compute_reconstruction_errors/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("compute_reconstruction_errors"),
        error=config["reconstruction_error"],
    script:
        "../scripts/compute_reconstruction_errors.py"


rule plot_note_reconstruction_error:
    input:
        npz="results/{experiment}/reconstruction/errors.npz",
    output:
        png=report(
            "results/figures/{experiment}/reconstruction_error.png",
            caption="../report/reconstruction_error.rst",
            category=CATEGORY["note"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_note_reconstruction_error/{experiment}.log",
    benchmark:
        "benchmarks/plot_note_reconstruction_error/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_note_reconstruction_error"),
        dpi=config["figures"]["dpi"],
        display=get_image_display,
    script:
        "../scripts/plot_note_reconstruction_error.py"


rule plot_note_error_by_class:
    input:
        npz="results/{experiment}/reconstruction/errors.npz",
    output:
        png=report(
            "results/figures/{experiment}/reconstruction_error_by_class.png",
            caption="../report/reconstruction_error_by_class.rst",
            category=CATEGORY["note"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_note_error_by_class/{experiment}.log",
    benchmark:
        "benchmarks/plot_note_error_by_class/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_note_error_by_class"),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_note_error_by_class.py"


# The reconstruction error as an anomaly score: trained classes' test images
# against the test images of the classes the model never saw.
rule score_anomalies:
    input:
        model="results/{experiment}/model.pt",
        data=get_experiment_data,
        unseen=get_anomaly_data,
    output:
        npz="results/{experiment}/anomaly/scores.npz",
        roc="results/{experiment}/anomaly/roc.csv",
        json="results/{experiment}/anomaly/auc.json",
    log:
        "logs/score_anomalies/{experiment}.log",
    benchmark:
        "benchmarks/score_anomalies/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("score_anomalies"),
        metric=config["reconstruction_error"]["metric"],
    script:
        "../scripts/score_anomalies.py"


rule plot_note_anomaly_roc:
    input:
        npz="results/{experiment}/anomaly/scores.npz",
    output:
        png=report(
            "results/figures/{experiment}/anomaly_roc.png",
            caption="../report/anomaly_roc.rst",
            category=CATEGORY["note"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_note_anomaly_roc/{experiment}.log",
    benchmark:
        "benchmarks/plot_note_anomaly_roc/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_note_anomaly_roc"),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_note_anomaly_roc.py"


# The first layer's weights as input-shaped images, on a scale symmetric about 0.
rule plot_note_encoder_weights:
    input:
        model="results/{experiment}/model.pt",
    output:
        png=report(
            "results/figures/{experiment}/encoder_weights.png",
            caption="../report/encoder_weights.rst",
            category=CATEGORY["note"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_note_encoder_weights/{experiment}.log",
    benchmark:
        "benchmarks/plot_note_encoder_weights/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_note_encoder_weights"),
        max_units=config["encoder_weights"]["max_units"],
        origin=get_image_origin,
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_note_encoder_weights.py"
