# aemap: explaining autoencoders and CNNs, reproduced end to end.
# Run `make reproduce` (all experiments of config.yaml) or see README.md.
import os

from snakemake.utils import min_version, update_config

from aemap.schema import load_config_file

min_version("9.19")

# The full reproduction, read by aemap so that a YAML error names the file and line;
# --configfile FILE and --config merge over it (tests/smoke.yaml does).
_configured = load_config_file(os.path.join(workflow.basedir, "config.yaml"))
update_config(_configured, config)
config.clear()
config.update(_configured)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/audio.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/importance.smk"
include: "workflow/rules/saliency.smk"
include: "workflow/rules/sanity.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/note.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
