"""The data stage as three calls, one per workflow rule: fetch a source,
turn a WAV dataset into spectrograms, prepare a named dataset view.

Each takes plain values (paths, dicts from config) and returns arrays or
writes one output atomically, so the same steps run from a notebook:

>>> from aemap.data import stages, load_registry
>>> reg = load_registry("workflow/resources/datasets.yaml")
>>> stages.fetch(reg, "mnist", "resources/raw/mnist", mirror="/path/to/mirror")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from aemap.data.audio import IMAGE_ORIGIN, SpectrogramParams, spectrogram_images
from aemap.data.download import FetchSettings, fetch_source
from aemap.data.prepare import PrepareSpec, prepare
from aemap.data.readers import LabelledArrays, list_wav_folder, read_images
from aemap.data.registry import Registry, RegistryError

MIRROR_ENV = "AEMAP_DATA_MIRROR"


def resolve_mirror(configured: str | None) -> str | None:
    """The mirror to try first: ``data.mirror`` from config, else ``$AEMAP_DATA_MIRROR``."""
    return configured or os.environ.get(MIRROR_ENV) or None


def fetch(
    registry: Registry,
    source: str,
    dest: str | os.PathLike[str],
    mirror: str | None = None,
    settings: FetchSettings | None = None,
) -> str:
    """Download and verify one source into ``dest``; returns where it came from."""
    return fetch_source(registry.source(source), dest, mirror=mirror, settings=settings)


def spectrogram_params(config: dict[str, Any], dataset: str) -> SpectrogramParams:
    """Config ``spectrogram.default`` updated by ``spectrogram.<dataset>`` if present."""
    merged = {**config.get("default", {}), **config.get(dataset, {})}
    return SpectrogramParams.from_config(merged)


def make_spectrograms(
    registry: Registry, dataset: str, root: str | os.PathLike[str], params: SpectrogramParams, threads: int = 1
) -> dict[str, np.ndarray]:
    """Spectrogram images of every file of a ``wav_folder`` dataset, with labels,
    groups, the upstream test mask (if any) and the grid's edges."""
    spec = registry.dataset(dataset)
    if spec.kind != "wav_folder":
        raise RegistryError(f"datasets.{dataset}: spectrograms need kind 'wav_folder', not {spec.kind!r}")
    listing = list_wav_folder(spec, Path(root))
    out = {
        "x": spectrogram_images(listing.paths, params, threads=threads),
        "y": listing.y,
        "classes": np.array(listing.classes),
        "files": np.array([p.relative_to(root).as_posix() for p in listing.paths]),
        "freq_edges_hz": np.linspace(params.fmin_hz, params.fmax_hz, params.n_freq + 1),
        "time_edges_s": np.linspace(0.0, params.duration_s, params.n_time + 1),
        "image_origin": np.array(IMAGE_ORIGIN),
    }
    if listing.group is not None:
        out["group"] = listing.group
    if listing.is_test is not None:
        out["is_test"] = listing.is_test
    return out


def spectrograms_as_dataset(arrays: dict[str, np.ndarray]) -> LabelledArrays:
    return LabelledArrays(
        x=arrays["x"],
        y=arrays["y"].astype(np.int64),
        classes=tuple(str(c) for c in arrays["classes"]),
        is_test=arrays.get("is_test"),
        group=arrays.get("group"),
        image_origin=str(arrays["image_origin"]),
    )


def prepare_dataset(
    registry: Registry,
    name: str,
    config: dict[str, Any],
    root: str | os.PathLike[str] | None = None,
    spectrograms: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The prepared arrays of config entry ``prepared.<name>``.

    Image kinds are read from ``root``, the folder of the dataset's files
    (default: its downloaded source under ``resources/raw``); ``wav_folder``
    datasets need their ``spectrograms`` (the output of :func:`make_spectrograms`).
    """
    spec = PrepareSpec.from_config(name, config)
    ds = registry.dataset(spec.dataset)
    if ds.kind == "wav_folder":
        if spectrograms is None:
            raise RegistryError(f"prepared.{name}: dataset {ds.name!r} is audio; pass its spectrograms")
        data = spectrograms_as_dataset(spectrograms)
    else:
        data = read_images(ds, root if root is not None else registry.dataset_root(ds.name))
    return prepare(data, spec)
