"""The explorer's data layer: what a results folder holds, read safely.

Only the documented result files are read (docs/workflow.md, "File contracts"),
never a model checkpoint (a pickle). Every path is resolved inside the results
folder: an absolute path, ``..`` or a symlink leading out of it is refused; npz
files are loaded with ``allow_pickle=False``; a file that cannot be read raises
``CorruptFile`` naming it, never a bare traceback.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd

from aemap.display import DISPLAYS

# Folders of a results folder that are not experiments.
NOT_EXPERIMENTS = frozenset({"figures", "prepared", "spectrograms"})
ROTATIONS = (0, 90, 180, 270)

# analysis -> (the file that shows it was built, the families it fits, what it is)
ANALYSIS_FILES: dict[str, tuple[str, frozenset[str], str]] = {
    "importance": ("importance/latent_by_class.csv", frozenset({"dense_ae"}), "permutation importance"),
    "latent": ("latent", frozenset({"dense_ae"}), "latent-space views"),
    "saliency": ("saliency/maps.npz", frozenset({"dense_ae"}), "saliency maps"),
    "sanity": ("sanity/corruption.csv", frozenset({"dense_ae"}), "corruption curves (sanity check 3)"),
    "attribution": ("attribution/metrics.csv", frozenset({"dense_ae", "cnn"}), "attribution visualisations"),
}
# What a user builds for each: the target of the workflow, and the analysis to list.
BUILD_TARGETS = {
    "importance": "results/{experiment}/importance/latent_by_class.csv",
    "latent": "results/figures/{experiment}/latent_views.png",
    "saliency": "results/{experiment}/saliency/maps.npz",
    "sanity": "results/{experiment}/sanity/corruption.csv",
    "attribution": "results/{experiment}/attribution/metrics.csv",
}


class UnsafePath(ValueError):
    """A path that would lead outside the results folder."""


class CorruptFile(ValueError):
    """A result file that exists but cannot be read (the message names it)."""


class ResultsFolder:
    """A results folder, the only root the explorer reads from."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"no results folder at {root}")
        self.root = root.resolve()

    def path(self, *parts: str) -> Path:
        """The file ``parts`` (relative, inside the folder) resolved; refuses escapes."""
        relative = PurePath(*parts)
        if relative.is_absolute() or relative.anchor:
            raise UnsafePath(f"{relative}: an absolute path; only paths inside {self.root} are read")
        if ".." in relative.parts:
            raise UnsafePath(f"{relative}: '..' is not allowed; only paths inside {self.root} are read")
        full = (self.root / relative).resolve()
        if not full.is_relative_to(self.root):
            raise UnsafePath(f"{relative}: leads outside {self.root} (a symlink?)")
        return full

    def has(self, *parts: str) -> bool:
        try:
            return self.path(*parts).exists()
        except UnsafePath:
            return False

    def _read(self, parts: tuple[str, ...], reader):
        path = self.path(*parts)
        try:
            return reader(path)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, pd.errors.ParserError) as err:
            raise CorruptFile(f"{PurePath(*parts)}: cannot be read ({type(err).__name__}: {err})") from None

    def npz(self, *parts: str, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Arrays of an npz file (only ``keys`` if given), without pickle."""

        def read(path: Path) -> dict[str, np.ndarray]:
            with np.load(path, allow_pickle=False) as arrays:
                names = arrays.files if keys is None else [k for k in keys if k in arrays.files]
                return {k: arrays[k] for k in names}

        return self._read(parts, read)

    def csv(self, *parts: str, **kwargs: Any) -> pd.DataFrame:
        return self._read(parts, lambda path: pd.read_csv(path, **kwargs))

    def json(self, *parts: str) -> dict[str, Any]:
        return self._read(parts, lambda path: json.loads(path.read_text()))

    def experiments(self) -> list[str]:
        """Experiment folders (with a metrics.json or an analysis), sorted; none outside the root."""
        found = []
        for child in sorted(self.root.iterdir()):
            if child.name.startswith(".") or child.name in NOT_EXPERIMENTS or not child.is_dir():
                continue
            if not child.resolve().is_relative_to(self.root):
                continue  # a symlink out of the folder is not an experiment of it
            markers = ["metrics.json"] + [spec[0] for spec in ANALYSIS_FILES.values()]
            if any((child / m).exists() for m in markers):
                found.append(child.name)
        return found


@dataclass
class ExperimentInfo:
    """What the explorer knows of an experiment, all read from its files."""

    name: str
    family: str  # dense_ae | cnn
    view: str | None  # the prepared view it was trained on (results/prepared/<view>.npz)
    dataset: str | None  # the registry dataset of that view
    image_shape: tuple[int, ...] | None
    image_origin: str
    classes: list[str]
    metrics: dict[str, Any]
    analyses: dict[str, bool] = field(default_factory=dict)
    image_display: str = "ink"  # its dataset's `display` (aemap.display)

    def missing(self) -> list[tuple[str, str, str]]:
        """(analysis, what it shows, the target that builds it) of each analysis that fits
        the family and was not built."""
        out = []
        for analysis, (_, families, what) in ANALYSIS_FILES.items():
            if self.family in families and not self.analyses.get(analysis):
                out.append((analysis, what, BUILD_TARGETS[analysis].format(experiment=self.name)))
        return out


class Explorer:
    """Cached reads of one results folder for the app."""

    def __init__(self, root: str | Path) -> None:
        self.folder = ResultsFolder(root)
        self._digests: dict[Path, str] = {}

    def _view_of(self, metrics: dict[str, Any]) -> tuple[str | None, str | None]:
        """The prepared view whose file has the digest metrics.json records."""
        data = metrics.get("data") or {}
        size, digest = data.get("bytes"), data.get("sha256")
        prepared = self.folder.root / "prepared"
        if size is None or digest is None or not prepared.is_dir():
            return None, None
        for candidate in sorted(prepared.glob("*.npz")):
            if candidate.stat().st_size != size:
                continue
            if candidate not in self._digests:
                self._digests[candidate] = hashlib.sha256(candidate.read_bytes()).hexdigest()
            if self._digests[candidate] == digest:
                dataset = None
                provenance = candidate.with_suffix(".provenance.json")
                if provenance.is_file():
                    try:
                        dataset = json.loads(provenance.read_text())["params"]["view"]["dataset"]
                    except (ValueError, KeyError, TypeError):
                        dataset = None
                return candidate.stem, dataset
        return None, None

    def describe(self, name: str) -> ExperimentInfo:
        folder = self.folder
        if name not in folder.experiments():  # the browser sends names: only listed ones are read
            raise UnsafePath(f"{name!r} is not an experiment of {folder.root}")
        metrics = folder.json(name, "metrics.json") if folder.has(name, "metrics.json") else {}
        analyses = {}
        for analysis, (marker, _, _) in ANALYSIS_FILES.items():
            analyses[analysis] = bool(self.latent_views(name)) if analysis == "latent" else folder.has(name, marker)
        family = "cnn" if "test_accuracy" in metrics else "dense_ae"
        shape, origin, classes = None, "upper", []
        if analyses["importance"]:
            pixel = folder.npz(name, "importance/pixel_latent.npz", keys=("image_shape", "image_origin"))
            shape = tuple(int(s) for s in pixel["image_shape"])
            origin = str(pixel.get("image_origin", "upper"))
        for source in ("reconstructions.npz", "saliency/maps.npz", "attribution"):
            if classes:
                break
            if source == "attribution" and analyses["attribution"]:
                layers = self.attribution_layers(name)
                if layers:
                    arrays = folder.npz(
                        name, "attribution", layers[0], "attributions.npz", keys=("classes", "images", "image_origin")
                    )
                    classes = [str(c) for c in arrays.get("classes", [])]
                    origin = str(arrays.get("image_origin", origin))
                    shape = shape or tuple(arrays["images"].shape[1:])
            elif source != "attribution" and folder.has(name, source):
                arrays = folder.npz(name, source, keys=("classes", "image_origin", "clean"))
                classes = [str(c) for c in arrays.get("classes", [])]
                origin = str(arrays.get("image_origin", origin))
                if shape is None and "clean" in arrays:
                    shape = tuple(arrays["clean"].shape[1:])
        if not classes and analyses["importance"]:
            classes = list(dict.fromkeys(self.latent_table(name)["class"]))
        if shape is None and analyses["saliency"]:
            shape = tuple(folder.npz(name, "saliency/maps.npz", keys=("mean_map",))["mean_map"].shape)
        view, dataset = self._view_of(metrics)
        display = "ink"
        if folder.has(name, "image_style.json"):  # the dataset's drawing, as the figures use it
            style = folder.json(name, "image_style.json")
            origin = str(style.get("image_origin", origin))
            display = str(style.get("display", display))
            if display not in DISPLAYS:
                raise CorruptFile(f"{folder.path(name, 'image_style.json')}: unknown display {display!r}")
        return ExperimentInfo(name, family, view, dataset, shape, origin, classes, metrics, analyses, display)

    # --- permutation importance ---

    def latent_table(self, name: str) -> pd.DataFrame:
        table = self.folder.csv(name, "importance/latent_by_class.csv", dtype={"class": str})
        needed = {"class", "dim", "importance", "std", "rank"}
        if not needed <= set(table.columns):
            raise CorruptFile(
                f"{name}/importance/latent_by_class.csv: columns {sorted(table.columns)}, expected {sorted(needed)}"
            )
        return table

    def signed_pixels(self, name: str) -> tuple[np.ndarray, tuple[int, ...], str]:
        """(signed importance (features, dims), image shape, image origin)."""
        arrays = self.folder.npz(name, "importance/pixel_latent.npz", keys=("signed", "image_shape", "image_origin"))
        if "signed" not in arrays or "image_shape" not in arrays:
            raise CorruptFile(f"{name}/importance/pixel_latent.npz: no 'signed' or 'image_shape' array")
        return arrays["signed"], tuple(int(s) for s in arrays["image_shape"]), str(arrays.get("image_origin", "upper"))

    # --- other analyses ---

    def latent_views(self, name: str) -> list[str]:
        if not self.folder.has(name, "latent"):
            return []
        order = ["pca", "tsne", "umap", "std"]
        present = [p.stem for p in self.folder.path(name, "latent").glob("*.npz") if p.stem != "grid"]
        return sorted(present, key=lambda v: (order.index(v) if v in order else len(order), v))

    def latent_view(self, name: str, view: str) -> dict[str, np.ndarray]:
        if view not in self.latent_views(name):
            raise UnsafePath(f"{view!r} is not a latent view of {name}")
        return self.folder.npz(name, "latent", f"{view}.npz")

    def saliency(self, name: str) -> dict[str, np.ndarray]:
        return self.folder.npz(name, "saliency/maps.npz", keys=("maps", "mean_map", "y", "classes"))

    def corruption(self, name: str) -> pd.DataFrame:
        return self.folder.csv(name, "sanity/corruption.csv")

    def _collected(self, name: str) -> pd.DataFrame | None:
        """The (layer, perturbation) pairs of the last collected run
        (``attribution/metrics.csv``), or None where there is none: files of
        layers or perturbations since removed from the config stay on disk,
        and are not shown beside the current ones."""
        if not self.folder.has(name, "attribution", "metrics.csv"):
            return None
        table = self.folder.csv(name, "attribution", "metrics.csv", usecols=["layer", "perturbation"])
        return table.drop_duplicates().astype(str)

    def attribution_layers(self, name: str) -> list[str]:
        base = self.folder.path(name, "attribution")
        if not base.is_dir():
            return []
        layers = sorted(p.name for p in base.iterdir() if (p / "attributions.npz").is_file())
        collected = self._collected(name)
        if collected is None:
            return layers
        kept = set(collected["layer"].tolist())
        return [la for la in layers if la in kept]

    def attribution_perturbations(self, name: str, layer: str) -> list[str]:
        if layer not in self.attribution_layers(name):
            raise UnsafePath(f"{layer!r} is not an attribution layer of {name}")
        order = ["none", "blur", "constant", "gaussian", "fractal", "pyramid"]
        present = [p.stem for p in self.folder.path(name, "attribution", layer).glob("*.npz")]
        present = [p for p in present if p != "attributions"]
        collected = self._collected(name)
        if collected is not None:
            kept = set(collected.loc[collected["layer"] == layer, "perturbation"].tolist())
            present = [p for p in present if p in kept]
        return sorted(present, key=lambda p: (order.index(p) if p in order else len(order), p))

    def attribution(self, name: str, layer: str, perturbation: str) -> dict[str, np.ndarray]:
        if perturbation not in self.attribution_perturbations(name, layer):
            raise UnsafePath(f"{perturbation!r} is not a perturbation of {name}/{layer}")
        return self.folder.npz(
            name,
            "attribution",
            layer,
            f"{perturbation}.npz",
            keys=("x", "mask", "image", "target", "init", "correlation"),
        )

    def attribution_inputs(self, name: str, layer: str) -> dict[str, np.ndarray]:
        if layer not in self.attribution_layers(name):
            raise UnsafePath(f"{layer!r} is not an attribution layer of {name}")
        return self.folder.npz(
            name,
            "attribution",
            layer,
            "attributions.npz",
            keys=("heatmap", "images", "rows", "targets", "classes", "y"),
        )


# --- pure transformations (unit-tested against numpy) ---------------------------------------


def orient(image: np.ndarray, rotation: int = 0, flip_horizontal: bool = False, flip_vertical: bool = False):
    """Rotate clockwise by ``rotation`` degrees (a multiple of 90), then flip left-right
    and / or upside down: aim's orientation controls."""
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS}, got {rotation}")
    out = np.rot90(image, k=-(rotation // 90))
    if flip_horizontal:
        out = np.fliplr(out)
    if flip_vertical:
        out = np.flipud(out)
    return np.ascontiguousarray(out)


def natural(image: np.ndarray, origin: str) -> np.ndarray:
    """Row 0 at the top as displayed: spectrograms (origin 'lower') are turned so
    that frequency rises upward."""
    return image[::-1] if origin == "lower" else image


def class_dims(table: pd.DataFrame, class_name: str, top_k: int, filter_unused: bool, sort: bool) -> pd.DataFrame:
    """The class's top ``top_k`` latent dims by importance (rank 1 first); without
    ``sort`` the same dims in dimension order; ``filter_unused`` drops dims of zero
    importance for the class first (aim's options)."""
    rows = table[table["class"] == class_name]
    if rows.empty:
        known = ", ".join(dict.fromkeys(table["class"]))
        raise KeyError(f"no class {class_name!r}; known: {known}")
    if filter_unused:
        rows = rows[rows["importance"] > 0]
    rows = rows.sort_values(["rank", "dim"]).head(top_k)
    if not sort:
        rows = rows.sort_values("dim")
    return rows.reset_index(drop=True)


def pixel_ranks(values: np.ndarray) -> np.ndarray:
    """Rank of each entry by |value|, 1 = largest (ties: row-major order), same shape."""
    flat = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    order = np.argsort(-flat, kind="stable")
    ranks = np.empty(len(flat), dtype=np.int64)
    ranks[order] = np.arange(1, len(flat) + 1)
    return ranks.reshape(np.shape(values))


def dim_heatmaps(
    signed: np.ndarray,
    image_shape: tuple[int, ...],
    origin: str,
    dims: list[int],
    rotation: int = 0,
    flip_horizontal: bool = False,
    flip_vertical: bool = False,
) -> list[np.ndarray]:
    """Each 1-based dim's signed pixel heatmap, in display orientation."""
    return [
        orient(natural(signed[:, d - 1].reshape(image_shape), origin), rotation, flip_horizontal, flip_vertical)
        for d in dims
    ]
