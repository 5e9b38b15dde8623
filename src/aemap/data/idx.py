"""IDX files (the MNIST family's format): strict reader and writer.

Layout: two zero bytes, a type code, the number of dimensions, then one
big-endian uint32 per dimension, then the data in C order, big-endian.
A file may be gzip-compressed (the upstream ``.gz`` files are read as they are).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from aemap.io import atomic_path

# IDX type code -> big-endian numpy dtype.
_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _TYPES.items()}


class IdxFormatError(ValueError):
    """The file is not a valid IDX file (bad header, truncated, wrong shape)."""


def _is_gzipped(path: Path) -> bool:
    # A missing or unreadable file raises here as it is (FileNotFoundError names
    # it), not as the corrupt-stream error below.
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str], expect_ndim: int | None = None) -> np.ndarray:
    """Read an IDX (or gzipped IDX) file into a native-endian array.

    Raises :class:`IdxFormatError` naming the file for a bad magic number, an
    unexpected number of dimensions, a truncated body or trailing bytes.
    """
    path = Path(path)
    gzipped = _is_gzipped(path)
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # gzip raises these for a truncated stream
        raise IdxFormatError(f"{path}: cannot decompress ({err}); the file is corrupt or truncated") from err
    if len(raw) < 4:
        raise IdxFormatError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _TYPES or ndim == 0:
        raise IdxFormatError(
            f"{path}: bad IDX magic number 0x{int.from_bytes(raw[:4], 'big'):08X} "
            "(expected 0x0000TTNN: a known type code TT and NN >= 1 dimensions)"
        )
    if expect_ndim is not None and ndim != expect_ndim:
        raise IdxFormatError(f"{path}: has {ndim} dimensions, expected {expect_ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{path}: truncated header ({len(raw)} of {header} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    body = len(raw) - header
    if body != expected:
        what = "truncated" if body < expected else "has trailing bytes"
        raise IdxFormatError(f"{path}: {what}: header says shape {tuple(shape)} ({expected} data bytes), found {body}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as IDX (gzipped when ``compress`` or the name ends in .gz)."""
    path = Path(path)
    array = np.ascontiguousarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(f"IDX cannot store dtype {array.dtype}")
    code = _CODES[native]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(_TYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    with atomic_path(path) as tmp:
        if compress:
            # No name or time in the gzip header, so equal arrays give equal bytes.
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(payload)
        else:
            tmp.write_bytes(payload)
