# Arumugam & Kiran Sec. 7: the three sanity checks of every autoencoder with the `sanity` analysis.
# The check models ({experiment}_class{c}, {experiment}_translated[_seed{s}]) are ordinary
# experiments derived in common.smk: train_model and compute_saliency_maps build them.


# Check 1: each single-class model's mean map against every class's mean image.
rule compare_single_class_maps:
    input:
        maps=get_single_class_maps,
        data=get_experiment_data,
    output:
        csv="results/{experiment}/sanity/single_class.csv",
        npz="results/{experiment}/sanity/single_class_maps.npz",
    log:
        "logs/compare_single_class_maps/{experiment}.log",
    benchmark:
        "benchmarks/compare_single_class_maps/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("compare_single_class_maps"),
        classes=config["sanity"]["single_class"]["classes"],
    script:
        "../scripts/compare_single_class_maps.py"


# Check 1 figure: one saliency map per single-class model (Fig. 8).
rule plot_arumugam_fig8_single_class:
    input:
        npz="results/{experiment}/sanity/single_class_maps.npz",
    output:
        png=report(
            "results/figures/{experiment}/sanity_single_class.png",
            caption="../report/sanity_single_class.rst",
            category=CATEGORY["arumugam"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_arumugam_fig8_single_class/{experiment}.log",
    benchmark:
        "benchmarks/plot_arumugam_fig8_single_class/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_arumugam_fig8_single_class"),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_arumugam_fig8_single_class.py"


# Check 2: how far the saliency maps' centre of mass moves with the digits.
rule measure_translation_shift:
    input:
        base="results/{experiment}/saliency/maps.npz",
        # One per training of the translated model (sanity.translation.seeds).
        moved=get_translated_maps,
    output:
        json="results/{experiment}/sanity/translation.json",
    log:
        "logs/measure_translation_shift/{experiment}.log",
    benchmark:
        "benchmarks/measure_translation_shift/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("measure_translation_shift"),
        seeds=translated_seeds,
        experiments=translated_experiments,
    script:
        "../scripts/measure_translation_shift.py"


# Check 2 figure: a moved digit and the maps of both models (Fig. 9).
rule plot_arumugam_fig9_translation:
    input:
        base="results/{experiment}/saliency/maps.npz",
        moved=get_translated_maps,
        json="results/{experiment}/sanity/translation.json",
    output:
        png=report(
            "results/figures/{experiment}/sanity_translation.png",
            caption="../report/sanity_translation.rst",
            category=CATEGORY["arumugam"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_arumugam_fig9_translation/{experiment}.log",
    benchmark:
        "benchmarks/plot_arumugam_fig9_translation/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_arumugam_fig9_translation"),
        dpi=config["figures"]["dpi"],
        origin=get_image_origin,
        display=get_image_display,
    script:
        "../scripts/plot_arumugam_fig9_translation.py"


# Check 3: corrupt the most / least important pixels by each source; score with the classifier.
rule compute_corruption_accuracy:
    input:
        unpack(get_corruption_inputs),
    output:
        csv="results/{experiment}/sanity/corruption.csv",
        runs="results/{experiment}/sanity/corruption_runs.csv",
        examples="results/{experiment}/sanity/corruption_examples.npz",
    log:
        "logs/compute_corruption_accuracy/{experiment}.log",
    benchmark:
        "benchmarks/compute_corruption_accuracy/{experiment}.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["max_threads"]
    params:
        code=package_code("compute_corruption_accuracy"),
        corruption=get_corruption_params,
    script:
        "../scripts/compute_corruption_accuracy.py"


# Check 3 figures: corrupted examples (Fig. 10) and accuracy curves (Fig. 11).
rule plot_arumugam_fig10_corrupted_examples:
    input:
        examples="results/{experiment}/sanity/corruption_examples.npz",
    output:
        png=report(
            "results/figures/{experiment}/sanity_corrupted_examples.png",
            caption="../report/sanity_corrupted_examples.rst",
            category=CATEGORY["arumugam"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_arumugam_fig10_corrupted_examples/{experiment}.log",
    benchmark:
        "benchmarks/plot_arumugam_fig10_corrupted_examples/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_arumugam_fig10_corrupted_examples"),
        dpi=config["figures"]["dpi"],
        origin=get_image_origin,
        display=get_image_display,
    script:
        "../scripts/plot_arumugam_fig10_corrupted_examples.py"


rule plot_arumugam_fig11_corruption:
    input:
        csv="results/{experiment}/sanity/corruption.csv",
    output:
        png=report(
            "results/figures/{experiment}/sanity_corruption.png",
            caption="../report/sanity_corruption.rst",
            category=CATEGORY["arumugam"],
            subcategory="{experiment}",
        ),
    log:
        "logs/plot_arumugam_fig11_corruption/{experiment}.log",
    benchmark:
        "benchmarks/plot_arumugam_fig11_corruption/{experiment}.tsv"
    conda:
        CONDA_ENV
    params:
        code=package_code("plot_arumugam_fig11_corruption"),
        reported=config["sanity"]["corruption"].get("reported", {}),
        classifier=config["sanity"]["classifier"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/plot_arumugam_fig11_corruption.py"
