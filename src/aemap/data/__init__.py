"""Datasets: registry, checksummed downloads, readers, spectrograms, splits."""

from aemap.data.download import ChecksumError, DownloadError, FetchSettings
from aemap.data.idx import IdxFormatError, read_idx, write_idx
from aemap.data.registry import Registry, RegistryError, load_registry

__all__ = [
    "ChecksumError",
    "DownloadError",
    "FetchSettings",
    "IdxFormatError",
    "Registry",
    "RegistryError",
    "load_registry",
    "read_idx",
    "write_idx",
]
