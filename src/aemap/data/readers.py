"""Readers for the generic dataset kinds: ``idx``, ``npz``, ``image_folder``,
``wav_folder``. Each turns a registry entry plus a folder into labelled arrays,
so a new dataset of a known kind needs a config entry and no code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from aemap.data.idx import read_idx
from aemap.data.registry import DatasetSpec


class DatasetReadError(ValueError):
    """A dataset's files do not match its registry entry (names the file and key)."""


@dataclass
class LabelledArrays:
    """A whole dataset before subsetting and splitting.

    ``x`` is (N, H, W), uint8 (0-255) or float in [0, 1]; ``y`` indexes
    ``classes``. ``is_test`` marks the dataset's own test set where it has one;
    ``group`` is e.g. the speaker of a recording.
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    is_test: np.ndarray | None = None
    group: np.ndarray | None = None
    image_origin: str = "upper"


def _labels_and_classes(spec: DatasetSpec, y: np.ndarray, origin: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer labels as indices into the class names, and the names.

    With names (key ``classes``), label i is ``classes[i]``. Without, the
    classes are the distinct labels present, in order, named by their value:
    1-based or sparse labels (1..10, or only 3 and 7) give no empty classes
    that a classifier would be trained on and figures drawn for.

    String labels are class names, as an image folder's are: sorted, or in
    the order of ``classes``. Float labels are accepted where each is a
    whole number (as exports from pandas or MATLAB often store them)."""
    y = np.asarray(y)
    if y.ndim == 1 and y.dtype.kind in "US":
        return _label_index(y.astype(str).tolist(), spec, origin)
    if y.ndim == 1 and y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            bad = y[~whole][:3]
            raise DatasetReadError(
                f"{origin}: float labels must be whole numbers (class indices), found {bad.tolist()}"
            )
        y = y.astype(np.int64)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DatasetReadError(
            f"{origin}: labels must be a 1-D array of integers or class names, got {y.dtype} {y.shape}"
        )
    if spec.classes is not None:
        if y.size and (y.min() < 0 or y.max() >= len(spec.classes)):
            raise DatasetReadError(
                f"{origin}: labels span {y.min()}..{y.max()} but {len(spec.classes)} class names are given "
                "(key `classes`: label i is the i-th name)"
            )
        return y.astype(np.int64), spec.classes
    values = np.unique(y)
    return np.searchsorted(values, y).astype(np.int64), tuple(str(int(v)) for v in values)


def read_idx_dataset(spec: DatasetSpec, root: Path) -> LabelledArrays:
    parts = []
    for split in ("train", "test"):
        files = spec.options[split]
        images = read_idx(root / files["images"], expect_ndim=3)
        labels = read_idx(root / files["labels"], expect_ndim=1)
        if len(images) != len(labels):
            raise DatasetReadError(
                f"datasets.{spec.name}.{split}: {len(images)} images in {files['images']} "
                f"but {len(labels)} labels in {files['labels']}"
            )
        if spec.options.get("transpose", False):
            # EMNIST stores each image transposed relative to MNIST.
            images = images.transpose(0, 2, 1)
        parts.append((images, labels))
    (x_tr, y_tr), (x_te, y_te) = parts
    y, classes = _labels_and_classes(spec, np.concatenate([y_tr, y_te]), f"datasets.{spec.name}")
    return LabelledArrays(
        x=np.ascontiguousarray(np.concatenate([x_tr, x_te])),
        y=y,
        classes=classes,
        is_test=np.concatenate([np.zeros(len(y_tr), bool), np.ones(len(y_te), bool)]),
    )


def _grey_channels(x: np.ndarray, origin: str) -> np.ndarray:
    """(N, H, W, C) images in grey, as an ``image_folder`` reads them: one channel
    as it is; RGB and RGBA (alpha dropped) by Pillow's luma, 299/587/114 per
    mille, in Pillow's integer arithmetic for uint8 so that both kinds agree
    to the bit. Anything else is returned unchanged for the caller to refuse."""
    channels = x.shape[-1]
    if channels == 1:
        return x[..., 0]
    if channels not in (3, 4):
        return x
    r, g, b = (x[..., c] for c in range(3))
    if x.dtype == np.uint8:
        luma = (r.astype(np.uint32) * 19595 + g.astype(np.uint32) * 38470 + b.astype(np.uint32) * 7471 + 0x8000) >> 16
        return luma.astype(np.uint8)
    if not np.issubdtype(x.dtype, np.floating):
        raise DatasetReadError(f"{origin}: colour images must be uint8 or float in [0, 1], got {x.dtype}")
    return (0.299 * r.astype(np.float64) + 0.587 * g + 0.114 * b).astype(np.float32)


def read_npz_dataset(spec: DatasetSpec, root: Path) -> LabelledArrays:
    path = root / spec.options["file"]
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DatasetReadError(f"{path}: cannot read npz: {err}") from err
    with data:
        if "x" not in data or "y" not in data:
            raise DatasetReadError(f"{path}: an npz dataset needs arrays 'x' and 'y'; found {sorted(data.files)}")
        xs, ys = [data["x"]], [data["y"]]
        has_test = "x_test" in data and "y_test" in data
        if has_test:
            xs.append(data["x_test"])
            ys.append(data["y_test"])
    for i, key in enumerate(("x", "x_test")[: len(xs)]):
        if xs[i].ndim == 4 and xs[i].shape[1] in (1, 3, 4) and xs[i].shape[-1] not in (1, 3, 4):
            xs[i] = np.moveaxis(xs[i], 1, -1)  # (N, C, H, W), as PyTorch stores images: unambiguous here
        if xs[i].ndim == 4:
            xs[i] = _grey_channels(xs[i], f"{path}: '{key}'")
        if xs[i].ndim != 3:
            raise DatasetReadError(
                f"{path}: '{key}' must be (N, H, W) images, or (N, H, W, C) or (N, C, H, W) with 1, 3 (RGB) "
                f"or 4 (RGBA) channels, got shape {xs[i].shape}"
            )
        if len(xs[i]) != len(ys[i]):
            raise DatasetReadError(f"{path}: '{key}' has {len(xs[i])} rows but its labels have {len(ys[i])}")
    y, classes = _labels_and_classes(spec, np.concatenate(ys), str(path))
    return LabelledArrays(
        x=np.concatenate(xs),
        y=y,
        classes=classes,
        is_test=np.concatenate([np.zeros(len(ys[0]), bool), np.ones(len(ys[1]), bool)]) if has_test else None,
    )


def _glob(root: Path, pattern: str, key: str) -> list[Path]:
    files = sorted(p for p in root.glob(pattern) if p.is_file())
    if not files:
        raise DatasetReadError(f"{key}: no file matches {pattern!r} under {root}")
    return files


def _label_index(labels: list[str], spec: DatasetSpec, origin: str) -> tuple[np.ndarray, tuple[str, ...]]:
    classes = spec.classes if spec.classes is not None else tuple(sorted(set(labels)))
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(lookup))
    if unknown:
        raise DatasetReadError(f"{origin}: labels {unknown} are not in datasets.{spec.name}.classes {list(classes)}")
    return np.array([lookup[v] for v in labels], dtype=np.int64), classes


def _grey(im: Image.Image, path: Path) -> np.ndarray:
    """One image in grey: uint8 for 8-bit modes (colour converted by Pillow's
    luma), float32 in [0, 1] for the deeper modes Pillow keeps, which
    ``convert("L")`` would clip at 255: 16-bit grey (``I;16``, or ``I`` as
    some 16-bit PNGs open) scaled by 65535, and float (``F``) as it is."""
    if im.mode.startswith("I;16") or im.mode == "I":
        a = np.asarray(im).astype(np.float64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise DatasetReadError(f"{path}: {im.mode} values {a.min():g}..{a.max():g} are not 16-bit (0..65535)")
        return (a / 65535.0).astype(np.float32)
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float32)
        if a.size and not (np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1):
            found = f"{np.nanmin(a):g}..{np.nanmax(a):g}"
            raise DatasetReadError(f"{path}: a float image must lie in [0, 1] (found {found})")
        return a
    return np.asarray(im.convert("L"), dtype=np.uint8)


def _resized(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Grey image ``a`` (uint8, or float32 in [0, 1]) resized to (H, W)
    ``size`` by Pillow's Lanczos filter (antialiased when shrinking),
    stretched if the aspect ratio differs; uint8 stays uint8, float stays
    float (clipped to [0, 1]: the filter overshoots at sharp edges)."""
    h, w = size
    if a.shape == (h, w):
        return a
    if a.dtype == np.uint8:
        return np.asarray(Image.fromarray(a).resize((w, h), Image.Resampling.LANCZOS), dtype=np.uint8)
    out = np.asarray(Image.fromarray(a.astype(np.float32)).resize((w, h), Image.Resampling.LANCZOS))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def read_image_folder(spec: DatasetSpec, root: Path) -> LabelledArrays:
    key = f"data.datasets.{spec.name}"
    files = _glob(root, spec.options["glob"], f"datasets.{spec.name}.glob")
    size = spec.options.get("size")
    images = []
    for f in files:
        try:
            with Image.open(f) as im:
                grey = _grey(im, f)
        except OSError as err:  # not an image, or a truncated one (Pillow's messages do not all name the file)
            raise DatasetReadError(f"{f}: cannot read as an image ({err})") from None
        images.append(grey if size is None else _resized(grey, tuple(size)))
        if images[-1].shape != images[0].shape:
            raise DatasetReadError(
                f"{f}: size {images[-1].shape} differs from {images[0].shape} of {files[0]}; "
                f"{key}.size: [height, width] resizes every image to one size"
            )
    y, classes = _label_index([f.parent.name for f in files], spec, f"datasets.{spec.name}")
    if all(a.dtype == np.uint8 for a in images):
        return LabelledArrays(x=np.stack(images), y=y, classes=classes)
    # Deeper images among them: all as float in [0, 1], the 8-bit ones divided by 255.
    x = np.stack([a.astype(np.float32) / np.float32(255.0) if a.dtype == np.uint8 else a for a in images])
    return LabelledArrays(x=x, y=y, classes=classes)


@dataclass
class WavListing:
    """The files of a ``wav_folder`` dataset with the fields parsed from their names."""

    paths: list[Path]
    y: np.ndarray
    classes: tuple[str, ...]
    group: np.ndarray | None
    is_test: np.ndarray | None


def list_wav_folder(spec: DatasetSpec, root: Path) -> WavListing:
    """Files of ``glob`` under ``root``; ``regex`` must match each path relative to ``root``
    (``/``-separated), so that fields such as the speaker may come from folder names."""
    key = f"datasets.{spec.name}"
    regex = re.compile(spec.options["regex"])  # checked when the registry was loaded
    paths = _glob(root, spec.options["glob"], f"{key}.glob")
    fields: list[dict[str, str]] = []
    for p in paths:
        relative = p.relative_to(root).as_posix()
        m = regex.fullmatch(relative)
        if m is None:
            raise DatasetReadError(
                f"{key}.regex {regex.pattern!r} does not match {relative!r} "
                f"(the path relative to the dataset folder {root})"
            )
        fields.append(m.groupdict())
    y, classes = _label_index([f["label"] for f in fields], spec, key)
    group = np.array([f["group"] for f in fields]) if "group" in regex.groupindex else None
    is_test = None
    if "upstream_test" in spec.options:
        rule = spec.options["upstream_test"]
        if rule["field"] not in regex.groupindex:
            raise DatasetReadError(f"{key}.upstream_test.field: {rule['field']!r} is not a named group of the regex")
        wanted = {str(v) for v in rule["values"]}
        # Compare as integers where possible so that '05' and 5 agree.
        norm = lambda v: str(int(v)) if str(v).isdigit() else str(v)  # noqa: E731
        wanted = {norm(v) for v in wanted}
        is_test = np.array([norm(f[rule["field"]]) in wanted for f in fields])
    return WavListing(paths=paths, y=y, classes=classes, group=group, is_test=is_test)


READERS = {"idx": read_idx_dataset, "npz": read_npz_dataset, "image_folder": read_image_folder}


def read_images(spec: DatasetSpec, root: str | Path) -> LabelledArrays:
    """Read an image dataset (kinds idx, npz, image_folder) from ``root``."""
    if spec.kind not in READERS:
        raise DatasetReadError(f"datasets.{spec.name}: kind {spec.kind!r} is not an image kind ({sorted(READERS)})")
    return READERS[spec.kind](spec, Path(root))
