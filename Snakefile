# aemap: explaining autoencoders and CNNs, reproduced end to end.
# Run `make reproduce` (all experiments of config.yaml) or see README.md.
import os

from snakemake.utils import min_version

min_version("9.19")


# The full reproduction; --configfile FILE merges FILE over it (tests/smoke.yaml does).
configfile: os.path.join(workflow.basedir, "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/audio.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/importance.smk"
include: "workflow/rules/saliency.smk"
include: "workflow/rules/sanity.smk"
include: "workflow/rules/attribution.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
