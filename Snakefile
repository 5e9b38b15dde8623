# aemap: explaining autoencoders and CNNs, reproduced end to end.
# Run `make reproduce` (all experiments of config.yaml) or see README.md.
from snakemake.utils import min_version

min_version("9.19")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/audio.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True
