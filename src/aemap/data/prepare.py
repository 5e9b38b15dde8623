"""From a whole dataset to the prepared arrays every later stage reads.

``results/prepared/{name}.npz`` holds ``x_train, y_train, x_test, y_test``
(float32 in [0, 1], shape N x H x W; labels int64), ``classes`` (names, index
= label), ``index_train, index_test`` (rows of the source dataset, for
traceability), ``image_origin`` ('upper' for images, 'lower' for
spectrograms: row 0 is the lowest frequency) and, where the dataset has
groups (speakers), ``group_train, group_test``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from aemap.data.readers import LabelledArrays

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test", "classes", "index_train", "index_test", "image_origin")


class PrepareError(ValueError):
    """A prepared-dataset setting cannot be applied (names the key)."""


@dataclass(frozen=True)
class SplitSpec:
    """``upstream``: the dataset's own test set. ``stratified``: a seeded split
    that keeps each class's share. ``group``: whole groups (e.g. speakers) held
    out, so no speaker is in both sets. ``auto``: upstream where the dataset
    has a test set of its own, else stratified (an image folder has none)."""

    kind: str = "auto"
    test_fraction: float = 0.15
    seed: int = 0


@dataclass(frozen=True)
class CanvasSpec:
    """Images pasted onto a larger empty canvas (Arumugam & Kiran's sanity
    check 2: 28x28 digits at the top-left of 42x42). ``offset``: (row, column)
    of the image's top-left corner on the canvas."""

    size: tuple[int, int]
    offset: tuple[int, int] = (0, 0)


def place_on_canvas(x: np.ndarray, canvas: CanvasSpec, name: str = "canvas") -> np.ndarray:
    """(N, H, W) images -> (N, *canvas.size), background 0 (MNIST's empty value)."""
    (height, width), (top, left) = canvas.size, canvas.offset
    if top < 0 or left < 0 or top + x.shape[1] > height or left + x.shape[2] > width:
        raise PrepareError(
            f"{name}: a {x.shape[1]}x{x.shape[2]} image at offset ({top}, {left}) "
            f"does not fit a {height}x{width} canvas"
        )
    out = np.zeros((len(x), height, width), dtype=x.dtype)
    out[:, top : top + x.shape[1], left : left + x.shape[2]] = x
    return out


@dataclass(frozen=True)
class PrepareSpec:
    """One entry of config ``prepared``."""

    name: str
    dataset: str
    classes: tuple[str, ...] | None = None
    merge: dict[str, tuple[str, ...]] = field(default_factory=dict)
    split: SplitSpec = SplitSpec()
    max_train_per_class: int | None = None
    max_test_per_class: int | None = None
    canvas: CanvasSpec | None = None

    @classmethod
    def from_config(cls, name: str, cfg: dict[str, Any]) -> PrepareSpec:
        split = SplitSpec(**cfg.get("split", {}))
        if split.kind not in ("auto", "upstream", "stratified", "group"):
            raise PrepareError(f"prepared.{name}.split.kind: unknown split {split.kind!r}")
        if not 0 < split.test_fraction < 1:
            raise PrepareError(f"prepared.{name}.split.test_fraction must be in (0, 1), got {split.test_fraction}")
        return cls(
            name=name,
            dataset=cfg["dataset"],
            classes=tuple(cfg["classes"]) if cfg.get("classes") else None,
            merge={k: tuple(v) for k, v in (cfg.get("merge") or {}).items()},
            split=split,
            max_train_per_class=cfg.get("max_train_per_class"),
            max_test_per_class=cfg.get("max_test_per_class"),
            canvas=CanvasSpec(tuple(cfg["canvas"]["size"]), tuple(cfg["canvas"].get("offset", (0, 0))))
            if cfg.get("canvas")
            else None,
        )


def select_classes(data: LabelledArrays, spec: PrepareSpec) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Rows kept and their new labels (0..k-1 in the order of ``spec.classes``).

    ``merge`` folds other classes into a kept one (e.g. lower-case 'a' into 'A').
    """
    key = f"prepared.{spec.name}"
    names = spec.classes if spec.classes is not None else data.classes
    lookup = {c: i for i, c in enumerate(data.classes)}
    new_label = np.full(len(data.classes), -1, dtype=np.int64)
    for new, name in enumerate(names):
        for member in (name, *spec.merge.get(name, ())):
            if member not in lookup:
                raise PrepareError(f"{key}: class {member!r} is not in dataset {spec.dataset!r} ({list(data.classes)})")
            if new_label[lookup[member]] >= 0:
                raise PrepareError(f"{key}: class {member!r} is selected twice")
            new_label[lookup[member]] = new
    stray = set(spec.merge) - set(names)
    if stray:
        raise PrepareError(f"{key}.merge: {sorted(stray)} are not among the selected classes")
    y = new_label[data.y]
    rows = np.nonzero(y >= 0)[0]
    return rows, y[rows], tuple(names)


def split_rows(
    y: np.ndarray, split: SplitSpec, is_test: np.ndarray | None, group: np.ndarray | None, name: str
) -> np.ndarray:
    """Boolean test mask for rows with labels ``y`` (deterministic given the seed)."""
    key = f"prepared.{name}.split"
    if split.kind == "auto":
        kind = "upstream" if is_test is not None else "stratified"
        log.info(
            "%s.kind: auto -> %s (the dataset has %s test set of its own)",
            key,
            kind,
            "a" if is_test is not None else "no",
        )
        split = replace(split, kind=kind)
    if split.kind == "upstream":
        if is_test is None:
            raise PrepareError(f"{key}.kind: 'upstream' but the dataset has no test set of its own; use 'stratified'")
        return is_test.copy()
    rng = np.random.default_rng(split.seed)
    test = np.zeros(len(y), dtype=bool)
    if split.kind == "stratified":
        for c in np.unique(y):
            members = np.nonzero(y == c)[0]
            n_test = int(round(split.test_fraction * len(members)))
            test[rng.permutation(members)[:n_test]] = True
        return test
    if group is None:
        raise PrepareError(
            f"{key}.kind: 'group' but the dataset has no groups (add a named group 'group' to its regex)"
        )
    groups = np.unique(group)
    n_test = max(1, int(round(split.test_fraction * len(groups))))
    if n_test >= len(groups):
        raise PrepareError(f"{key}: {len(groups)} group(s) cannot be split into train and test")
    held_out = rng.permutation(groups)[:n_test]
    return np.isin(group, held_out)


def cap_per_class(rows: np.ndarray, y: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``cap`` rows per class, chosen at random, kept in their original order."""
    if cap is None:
        return rows
    keep = [rng.permutation(rows[y == c])[:cap] for c in np.unique(y)]
    return np.sort(np.concatenate(keep)) if keep else rows


def to_unit_float(x: np.ndarray, origin: str) -> np.ndarray:
    """uint8 0-255 -> float32 0-1; float input must already lie in [0, 1]."""
    if x.dtype == np.uint8:
        return (x.astype(np.float32) / np.float32(255.0)).astype(np.float32)
    x = x.astype(np.float32)
    if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1 or np.isnan(x).any()):
        raise PrepareError(f"{origin}: float images must lie in [0, 1] (found {np.nanmin(x)}..{np.nanmax(x)})")
    return x


def prepare(data: LabelledArrays, spec: PrepareSpec) -> dict[str, np.ndarray]:
    """Select classes, split, cap per class, place on a canvas; return the prepared arrays."""
    rows, y, classes = select_classes(data, spec)
    sub = lambda a: None if a is None else a[rows]  # noqa: E731
    test = split_rows(y, spec.split, sub(data.is_test), sub(data.group), spec.name)
    # A generator separate from the split's, so that caps never change which rows are test rows.
    rng = np.random.default_rng([spec.split.seed, 1])
    positions = np.arange(len(rows))
    train_pos = cap_per_class(positions[~test], y[~test], spec.max_train_per_class, rng)
    test_pos = cap_per_class(positions[test], y[test], spec.max_test_per_class, rng)
    # A class no model can learn: a classifier would still get an output for it, and
    # every per-class figure an empty panel.
    unseen = [classes[c] for c in range(len(classes)) if not np.any(y[train_pos] == c)]
    if unseen:
        counts = {classes[c]: int(np.sum(y == c)) for c in range(len(classes)) if classes[c] in unseen}
        raise PrepareError(
            f"prepared.{spec.name}: no training image for class(es) {unseen} "
            f"(images in the view, train and test: {counts}); select the classes you have "
            f"(prepared.{spec.name}.classes) or change the split"
        )
    out: dict[str, np.ndarray] = {"classes": np.array(classes), "image_origin": np.array(data.image_origin)}
    for part, pos in (("train", train_pos), ("test", test_pos)):
        src = rows[pos]
        out[f"x_{part}"] = to_unit_float(data.x[src], f"prepared.{spec.name}")
        if spec.canvas is not None:
            out[f"x_{part}"] = place_on_canvas(out[f"x_{part}"], spec.canvas, f"prepared.{spec.name}.canvas")
        out[f"y_{part}"] = y[pos]
        out[f"index_{part}"] = src.astype(np.int64)
        if data.group is not None:
            out[f"group_{part}"] = np.asarray(data.group)[src].astype(str)
    check_prepared(out, spec.name)
    return out


def check_prepared(arrays: dict[str, np.ndarray], name: str = "prepared") -> None:
    """Raise ``PrepareError`` unless ``arrays`` meet the prepared-dataset contract."""
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise PrepareError(f"{name}: missing arrays {missing}")
    n_classes = len(arrays["classes"])
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.dtype != np.float32 or x.ndim != 3:
            raise PrepareError(f"{name}: x_{part} must be float32 N x H x W, got {x.dtype} {x.shape}")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise PrepareError(f"{name}: x_{part} leaves [0, 1]")
        if y.dtype != np.int64 or y.shape != (len(x),):
            raise PrepareError(f"{name}: y_{part} must be int64 of length {len(x)}")
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise PrepareError(f"{name}: y_{part} outside 0..{n_classes - 1}")
        if len(arrays[f"index_{part}"]) != len(x):
            raise PrepareError(f"{name}: index_{part} length differs from x_{part}")
        if f"group_{part}" in arrays and len(arrays[f"group_{part}"]) != len(x):
            raise PrepareError(f"{name}: group_{part} length differs from x_{part}")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise PrepareError(f"{name}: train and test images differ in size")
    if len(np.intersect1d(arrays["index_train"], arrays["index_test"])):
        raise PrepareError(f"{name}: a row is in both train and test")
