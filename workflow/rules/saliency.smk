# Arumugam & Kiran: gradient saliency of the denoising autoencoder's encoder.


# Per-image saliency maps (Jacobian L2 norm over latents) of test images, with the CSDA/autograd cross-check.
rule compute_saliency_maps:
    input:
        model="results/{experiment}/model.pt",
        data=get_experiment_data,
    output:
        npz="results/{experiment}/saliency/maps.npz",
    log:
        "logs/compute_saliency_maps/{experiment}.log",
    benchmark:
        "benchmarks/compute_saliency_maps/{experiment}.tsv"
    conda:
        CONDA_ENV
    # Seconds of work: one thread, so these run beside the (single-threaded) training jobs.
    threads: 1
    resources:
        images_per_pass=config["saliency"]["images_per_pass"],
    params:
        code=package_code("compute_saliency_maps"),
        saliency=get_saliency_params,
    script:
        "../scripts/compute_saliency_maps.py"


# Contour saliency maps with the input inset, one per digit, and the mean map (Arumugam & Kiran Fig. 7).
rule plot_arumugam_fig7_saliency:
    input:
        npz="results/{experiment}/saliency/maps.npz",
    output:
        png=report(
            "results/figures/{experiment}/saliency.png",
            caption="../report/saliency.rst",
            category=CATEGORY["arumugam"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_arumugam_fig7_saliency/{experiment}.log",
    benchmark:
        "benchmarks/plot_arumugam_fig7_saliency/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_arumugam_fig7_saliency"),
        dpi=config["figures"]["dpi"],
        origin=get_image_origin,
        display=get_image_display,
    script:
        "../scripts/plot_arumugam_fig7_saliency.py"
