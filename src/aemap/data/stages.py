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

from aemap.data.audio import IMAGE_ORIGIN, SpectrogramConfigError, SpectrogramParams, spectrogram_images
from aemap.data.download import FetchSettings, fetch_source, verify_copy
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
    """Config ``spectrogram.default`` updated by ``spectrogram.<dataset>`` if present;
    an impossible value is named by the block it came from."""
    merged = {**config.get("default", {}), **config.get(dataset, {})}
    return SpectrogramParams.from_config(merged, spectrogram_keys(config, dataset))


def spectrogram_keys(config: dict[str, Any], dataset: str) -> dict[str, str]:
    """Setting -> the config key it comes from: ``spectrogram.<dataset>.x`` or ``spectrogram.default.x``."""
    own = config.get(dataset, {})
    return {k: f"spectrogram.{dataset if k in own else 'default'}.{k}" for k in {**config.get("default", {}), **own}}


def make_spectrograms(
    registry: Registry,
    dataset: str,
    root: str | os.PathLike[str],
    params: SpectrogramParams,
    threads: int = 1,
    keys: dict[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Spectrogram images of every file of a ``wav_folder`` dataset, with labels,
    groups, the upstream test mask (if any) and the grid's edges. ``keys``
    (from :func:`spectrogram_keys`) names the config key of each setting in errors."""
    spec = registry.dataset(dataset)
    if spec.kind != "wav_folder":
        raise RegistryError(f"datasets.{dataset}: spectrograms need kind 'wav_folder', not {spec.kind!r}")
    _verify_downloaded(registry, dataset, root)
    listing = list_wav_folder(spec, Path(root))
    try:
        images = spectrogram_images(listing.paths, params, threads=threads)
    except SpectrogramConfigError as err:  # a limit of these recordings: say which key to change
        message = str(err).replace("set a per-dataset override in config", f"override it in spectrogram.{dataset}")
        for field, key in (keys or {}).items():
            message = message.replace(f"spectrogram.{field} ", f"{key} ")
        raise SpectrogramConfigError(f"datasets.{dataset}: {message}") from None
    out = {
        "x": images,
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
        root = root if root is not None else registry.dataset_root(ds.name)
        _verify_downloaded(registry, ds.name, root)
        data = read_images(ds, root)
    return prepare(data, spec)


def _verify_downloaded(registry: Registry, dataset: str, root: str | os.PathLike[str]) -> None:
    """A downloaded source is checked against its digests before use (cheaply, see
    :func:`aemap.data.download.verify_copy`); a local folder (``path``) has none."""
    ds = registry.dataset(dataset)
    if ds.source is not None and ds.path is None:
        verify_copy(registry.source(ds.source), root)
