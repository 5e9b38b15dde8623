"""Logging and provenance for workflow steps.

Each step writes, beside its output, a JSON saying what made it: package
versions, parameters, and digests of its inputs. No timestamps, so that a
rerun with the same inputs writes the same bytes.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from aemap.io import file_digest, write_json

_PACKAGES = ("aemap", "numpy", "scipy", "torch", "librosa", "soundfile", "pooch", "snakemake", "matplotlib")


def setup_logging(log_path: str | os.PathLike[str] | None) -> logging.Logger:
    """Send logging, warnings and progress bars (stderr) to ``log_path``."""
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_path, "w", buffering=1)  # noqa: SIM115 - lives as long as the process
        sys.stderr = stream
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.captureWarnings(True)
    return logging.getLogger("aemap")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def describe_input(path: str | os.PathLike[str]) -> dict[str, Any]:
    """sha256 of a file; count and bytes of a folder (its files were verified on download)."""
    p = Path(path)
    if p.is_dir():
        files = [f for f in p.rglob("*") if f.is_file()]
        return {"folder": True, "files": len(files), "bytes": sum(f.stat().st_size for f in files)}
    return {"sha256": file_digest(p), "bytes": p.stat().st_size}


def write_provenance(
    path: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]] = (),
    params: Mapping[str, Any] | None = None,
    **facts: Any,
) -> None:
    record = {
        "versions": versions(),
        "inputs": {str(p): describe_input(p) for p in inputs},
        "params": dict(params or {}),
        **facts,
    }
    write_json(path, record)
