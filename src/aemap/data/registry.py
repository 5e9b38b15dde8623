"""The dataset registry: sources to download and datasets to read.

The registry file (``workflow/resources/datasets.yaml``) lists the papers'
datasets. Users add their own, with no code, under ``data.sources`` and
``data.datasets`` in ``config.yaml``; entries there are merged over the
registry (a user entry of the same name replaces the registry's).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from aemap.data.download import (
    ArchiveSpec,
    DownloadError,
    ExpectSpec,
    FileSpec,
    SourceSpec,
    read_manifest,
    safe_relative_name,
)
from aemap.schema import schema_errors


class RegistryError(ValueError):
    """The registry or a user addition is malformed; the message names the entry and key."""


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("aemap.data").joinpath("registry.schema.yaml").read_text()
    return yaml.safe_load(text)


def _validate(doc: dict[str, Any], origin: str) -> None:
    errors = schema_errors(doc, _schema())
    if errors:
        raise RegistryError(f"{origin}: invalid dataset registry entries:\n  " + "\n  ".join(errors))


# Keys of a dataset entry that no job reading the dataset uses.
NOT_READ_KEYS = frozenset({"description", "display"})


@dataclass(frozen=True)
class DatasetSpec:
    """How to read one dataset into arrays; ``options`` holds the kind's keys."""

    name: str
    kind: str
    source: str | None
    path: str | None
    classes: tuple[str, ...] | None
    options: dict[str, Any]
    description: str = ""
    # How figures draw the images (aemap.display): a figure setting, so out
    # of ``read_key`` and ``fingerprint`` (how a dataset is drawn never
    # re-prepares it) and out of the repr.
    display: str = field(default="ink", repr=False)

    def read_key(self) -> str:
        """What a job that reads this dataset depends on, canonically: every key
        but ``NOT_READ_KEYS``, the option keys sorted (``classes`` stays in
        order: it numbers the classes). Two entries with equal keys read the
        same arrays, however their YAML is ordered."""
        read = {key: value for key, value in asdict(self).items() if key not in NOT_READ_KEYS}
        return json.dumps(read, sort_keys=True, default=repr)


@dataclass(frozen=True)
class Registry:
    sources: dict[str, SourceSpec]
    datasets: dict[str, DatasetSpec]

    def source(self, name: str) -> SourceSpec:
        try:
            return self.sources[name]
        except KeyError:
            raise RegistryError(f"unknown source {name!r}; known: {', '.join(sorted(self.sources))}") from None

    def dataset(self, name: str) -> DatasetSpec:
        try:
            return self.datasets[name]
        except KeyError:
            raise RegistryError(f"unknown dataset {name!r}; known: {', '.join(sorted(self.datasets))}") from None

    def fingerprint(self, kind: str, name: str) -> str:
        """Short digest of one entry (``kind`` 'source' or 'dataset'): changes iff
        what a job reads from it does. A dataset's is its ``read_key`` (a new
        description or key order re-prepares nothing). A source's covers every
        key, its description and license too: the download's provenance
        records them."""
        text = repr(self.source(name)) if kind == "source" else self.dataset(name).read_key()
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def dataset_root(self, name: str, raw_dir: str | os.PathLike[str] = "resources/raw") -> Path:
        """Folder the dataset's files are read from: its downloaded source or its local path."""
        ds = self.dataset(name)
        return Path(ds.path) if ds.path is not None else Path(raw_dir) / str(ds.source)


def _source_spec(name: str, entry: dict[str, Any], base_dir: Path) -> SourceSpec:
    try:
        files: list[FileSpec] = [
            FileSpec(
                safe_relative_name(fname, f"sources.{name}.files"),
                sha256=d.get("sha256"),
                md5=d.get("md5"),
                size=d.get("size"),
            )
            for fname, d in (entry.get("files") or {}).items()
        ]
        safe_relative_name(entry["mirror_dir"], f"sources.{name}.mirror_dir")
    except DownloadError as err:
        raise RegistryError(str(err)) from None
    if "manifest" in entry:
        manifest = base_dir / entry["manifest"]
        if not manifest.is_file():
            raise RegistryError(f"sources.{name}.manifest: file not found: {manifest}")
        try:
            files.extend(read_manifest(manifest))
        except ValueError as err:
            raise RegistryError(f"sources.{name}.manifest: {err}") from err
    if not files:
        raise RegistryError(f"sources.{name}: lists no files (give `files` or `manifest`)")
    archive = None
    if "archive" in entry:
        a = entry["archive"]
        archive = ArchiveSpec(
            url=a["url"],
            prefix=a.get("prefix", ""),
            include=tuple(a.get("include", ())),
            sha256=a.get("sha256"),
            md5=a.get("md5"),
            size=a.get("size"),
        )
    expect = ExpectSpec(**entry["expect"]) if "expect" in entry else None
    return SourceSpec(
        name=name,
        mirror_dir=entry["mirror_dir"],
        files=tuple(files),
        urls=tuple(entry.get("urls", ())),
        archive=archive,
        expect=expect,
        description=entry.get("description", ""),
        license=entry.get("license", ""),
    )


def _check_regex(pattern: str, key: str) -> None:
    """A ``wav_folder`` regex must compile and name a ``label`` group: checked when the config is read."""
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise RegistryError(f"{key}: not a valid regular expression ({err}): {pattern!r}") from None
    if "label" not in regex.groupindex:
        raise RegistryError(f"{key}: needs a named group 'label', e.g. (?P<label>\\d); got {pattern!r}")


def _dataset_spec(name: str, entry: dict[str, Any], sources: dict[str, SourceSpec], key: str) -> DatasetSpec:
    entry = dict(entry)
    source = entry.pop("source", None)
    if source is not None and source not in sources:
        raise RegistryError(f"{key}.source: unknown source {source!r}; known: {', '.join(sorted(sources))}")
    if entry.get("kind") == "wav_folder":
        _check_regex(entry["regex"], f"{key}.regex")
    kind = entry.pop("kind")
    classes = entry.pop("classes", None)
    if classes is not None and len(set(classes)) != len(classes):
        raise RegistryError(f"{key}.classes: names must be unique")
    return DatasetSpec(
        name=name,
        kind=kind,
        source=source,
        path=entry.pop("path", None),
        classes=tuple(classes) if classes is not None else None,
        description=entry.pop("description", ""),
        # Pictures as stored (1 = white) for folders of image files; the ink of
        # MNIST-like arrays (strokes stored bright on black) otherwise.
        display=entry.pop("display", "natural" if kind == "image_folder" else "ink"),
        options=entry,
    )


def load_registry(
    path: str | os.PathLike[str],
    sources: dict[str, Any] | None = None,
    datasets: dict[str, Any] | None = None,
) -> Registry:
    """Load and validate the registry at ``path`` merged with user additions
    ``sources`` and ``datasets`` (config ``data.sources`` / ``data.datasets``).

    Manifest paths in the registry are relative to the registry file; relative
    paths in user additions are relative to the current directory (the
    workflow's working directory).
    """
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise RegistryError(f"{path}: cannot read the dataset registry: {err}") from err
    _validate(doc, str(path))
    extra = {"sources": copy.deepcopy(dict(sources or {})), "datasets": copy.deepcopy(dict(datasets or {}))}
    _validate(extra, "config data.sources / data.datasets")
    sources = {name: _source_spec(name, e, path.parent) for name, e in doc.get("sources", {}).items()}
    # A user's manifest path is relative to where the workflow runs, like every path in config.
    sources |= {name: _source_spec(name, e, Path.cwd()) for name, e in extra["sources"].items()}
    dataset_entries = {**doc.get("datasets", {}), **extra["datasets"]}
    datasets = {
        name: _dataset_spec(
            name, e, sources, f"data.datasets.{name}" if name in extra["datasets"] else f"{path}: datasets.{name}"
        )
        for name, e in dataset_entries.items()
    }
    return Registry(sources=sources, datasets=datasets)


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted_keys(item) for item in value]
    return value


def read_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A user's dataset entry as the jobs reading it take it (their registry
    param): without ``NOT_READ_KEYS``, keys sorted at every level,
    so that editing either, or reordering keys, reruns nothing."""
    return _sorted_keys({key: value for key, value in entry.items() if key not in NOT_READ_KEYS})


def missing_local_files(registry: Registry, user_datasets: dict[str, Any]) -> list[str]:
    """Errors for user datasets whose local ``path`` (or npz ``file`` in it) does not exist,
    each naming the config key; found when the config is read, not when a job runs."""
    errors = []
    for name in user_datasets:
        ds = registry.dataset(name)
        if ds.path is None:
            continue
        root = Path(ds.path)
        if not root.is_dir():
            errors.append(f"data.datasets.{name}.path: no such folder: {root} (relative to {Path.cwd()})")
        elif ds.kind == "npz" and not (root / ds.options["file"]).is_file():
            errors.append(f"data.datasets.{name}.file: no such file: {root / ds.options['file']}")
    return errors
