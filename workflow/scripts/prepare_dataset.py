"""Rule prepare_dataset: one named dataset view -> results/prepared/{name}.npz."""

from aemap.data.registry import load_registry
from aemap.data.stages import prepare_dataset
from aemap.io import load_npz, save_npz
from aemap.provenance import setup_logging, write_provenance

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
registry = load_registry(**sm.params.registry)
name = sm.wildcards.name
spectrograms = load_npz(sm.input.spectrograms) if "spectrograms" in sm.input.keys() else None
root = sm.input.raw if "raw" in sm.input.keys() else None
arrays = prepare_dataset(registry, name, sm.params.view, root=root, spectrograms=spectrograms)
save_npz(sm.output.npz, **arrays)
counts = {part: int(len(arrays[f"y_{part}"])) for part in ("train", "test")}
log.info("%s: %d train, %d test, image %s", name, counts["train"], counts["test"], arrays["x_train"].shape[1:])
write_provenance(
    sm.output.provenance,
    inputs=list(sm.input),
    params={"view": sm.params.view, "fingerprint": sm.params.fingerprint, "aemap_code": sm.params.code},
    rows=counts,
    classes=[str(c) for c in arrays["classes"]],
)
