"""Rule describe_image_style: how an experiment's images are drawn, for the explorer."""

from aemap.display import image_style
from aemap.io import write_json
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
write_json(sm.output.json, image_style(sm.params.dataset, sm.params.origin, sm.params.display))
