"""Rule download_source: fetch one registry source, verified, into resources/raw/{source}."""

from aemap.data.download import FetchSettings
from aemap.data.registry import load_registry
from aemap.data.stages import fetch, resolve_mirror
from aemap.provenance import setup_logging, write_provenance

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
registry = load_registry(**sm.params.registry)
source = sm.wildcards.source
settings = FetchSettings(**sm.config["data"]["download"])
mirror = resolve_mirror(sm.config["data"]["mirror"])
origin = fetch(registry, source, sm.output.raw, mirror=mirror, settings=settings)
log.info("source %s fetched from %s", source, origin)
spec = registry.source(source)
write_provenance(
    sm.output.provenance,
    params={"source": source, "fingerprint": sm.params.fingerprint, "aemap_code": sm.params.code},
    origin=origin,
    files_verified=len(spec.files),
    description=spec.description,
    license=spec.license,
)
