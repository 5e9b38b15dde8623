"""Atomic, deterministic file output.

Every file the workflow writes goes through here so that (a) a crash never
leaves a half-written output that a later step could mistake for a good one,
and (b) the same arrays give the same bytes, run after run: ``np.savez`` stamps
the current time into its zip members, which breaks byte-identical reruns.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

# The zip format cannot store dates before 1980; a fixed stamp keeps bytes stable.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush ``path``'s data to disk (before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place on success.

    The temporary file lives in the destination folder so the final
    ``os.replace`` is a same-filesystem rename, atomic on POSIX. On any error the
    temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); give it the usual mode under the umask.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        fsync_file(tmp)  # the data reach the disk before the name does: no empty file after a power cut
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npz(path: str | os.PathLike[str], compress: bool = True, **arrays: Any) -> None:
    """Write arrays to ``path`` as an ``.npz`` readable by ``np.load``, atomically
    and byte-reproducibly (fixed member order and timestamps)."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=method) as zf:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` into memory (no pickles allowed)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write JSON atomically with sorted keys, so equal content gives equal bytes."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
