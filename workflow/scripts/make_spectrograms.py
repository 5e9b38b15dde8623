"""Rule make_spectrograms: a wav_folder dataset -> results/spectrograms/{dataset}.npz."""

from aemap.data.audio import SpectrogramParams
from aemap.data.registry import load_registry
from aemap.data.stages import make_spectrograms, spectrogram_keys
from aemap.io import save_npz
from aemap.provenance import setup_logging, write_provenance

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
registry = load_registry(**sm.params.registry)
dataset = sm.wildcards.dataset
params = SpectrogramParams.from_config(sm.params.spectrogram)  # merged per dataset by the rule
keys = spectrogram_keys(sm.config["spectrogram"], dataset)  # for error messages only
arrays = make_spectrograms(registry, dataset, sm.input.raw, params, threads=sm.threads, keys=keys)
save_npz(sm.output.npz, **arrays)
log.info("%s: %d spectrograms of %s", dataset, len(arrays["x"]), arrays["x"].shape[1:])
write_provenance(
    sm.output.provenance,
    inputs=[sm.input.raw],
    params={"spectrogram": params.as_dict(), "fingerprint": sm.params.fingerprint, "aemap_code": sm.params.code},
    files=int(len(arrays["x"])),
)
