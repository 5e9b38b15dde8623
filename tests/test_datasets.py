"""Generic dataset kinds, EMNIST orientation, the registry, and the prepared contract."""

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aemap.data.download import ChecksumError
from aemap.data.prepare import PrepareError, PrepareSpec, SplitSpec, check_prepared, prepare, split_rows
from aemap.data.readers import DatasetReadError, LabelledArrays, list_wav_folder, read_images
from aemap.data.registry import RegistryError, load_registry, missing_local_files, read_entry
from aemap.data.stages import make_spectrograms, prepare_dataset, spectrogram_params
from aemap.display import DISPLAYS
from aemap.io import save_npz

from .conftest import REPO, write_emnist_fixture, write_tone

REGISTRY_FILE = REPO / "workflow/resources/datasets.yaml"


def test_registry_lists_every_paper_dataset():
    reg = load_registry(REGISTRY_FILE)
    assert set(reg.sources) == {"mnist", "fashion_mnist", "emnist", "fsdd", "audiomnist"}
    assert {"mnist", "fashion_mnist", "emnist_byclass", "fsdd", "audiomnist"} <= set(reg.datasets)
    for src in reg.sources.values():
        assert all(f.sha256 or f.md5 for f in src.files), src.name
    emnist = reg.dataset("emnist_byclass")
    assert emnist.options["transpose"] and [emnist.classes[i] for i in (10, 14, 18, 24, 30)] == list("AEIOU")
    assert reg.source("audiomnist").expect.count == 30000


def test_registry_errors_name_the_entry_and_key(tmp_path):
    with pytest.raises(RegistryError, match=r"datasets\.mine: .*'train' is a required property"):
        load_registry(REGISTRY_FILE, datasets={"mine": {"kind": "idx", "source": "mnist", "test": {}}})
    with pytest.raises(RegistryError, match=r"datasets\.mine\.source: unknown source 'nope'"):
        load_registry(REGISTRY_FILE, datasets={"mine": {"kind": "npz", "source": "nope", "file": "a.npz"}})
    with pytest.raises(RegistryError, match=r"sources\.s\.manifest: file not found"):
        load_registry(REGISTRY_FILE, sources={"s": {"mirror_dir": "s", "manifest": str(tmp_path / "none")}})
    with pytest.raises(RegistryError, match=r"datasets\.mine\.kind"):
        load_registry(REGISTRY_FILE, datasets={"mine": {"kind": "hdf5", "path": "."}})


def test_user_entry_replaces_registry_entry(tmp_path):
    reg = load_registry(REGISTRY_FILE, datasets={"mnist": {"kind": "npz", "path": str(tmp_path), "file": "m.npz"}})
    assert reg.dataset("mnist").kind == "npz"
    assert reg.fingerprint("dataset", "mnist") != load_registry(REGISTRY_FILE).fingerprint("dataset", "mnist")


def test_display_defaults_by_kind_and_never_changes_the_fingerprint(tmp_path):
    """Folders of image files are drawn as stored, arrays like MNIST's as ink; a
    `display` is a figure setting, outside the fingerprint that re-prepares data."""
    folder = {"kind": "image_folder", "path": str(tmp_path), "glob": "*/*.png"}
    arrays = {"kind": "npz", "path": str(tmp_path), "file": "a.npz"}
    reg = load_registry(REGISTRY_FILE, datasets={"photos": folder, "arrays": arrays})
    assert [reg.dataset(n).display for n in ("photos", "arrays", "mnist", "fashion_mnist")] == [
        "natural",
        "ink",
        "ink",
        "ink",
    ]
    flipped = load_registry(
        REGISTRY_FILE, datasets={"photos": {**folder, "display": "ink"}, "arrays": {**arrays, "display": "natural"}}
    )
    assert (flipped.dataset("photos").display, flipped.dataset("arrays").display) == ("ink", "natural")
    assert "display" not in flipped.dataset("arrays").options
    for name in ("photos", "arrays"):
        assert flipped.fingerprint("dataset", name) == reg.fingerprint("dataset", name)
    # The registry's schema and the figures know the same displays.
    schema = yaml.safe_load((REPO / "src/aemap/data/registry.schema.yaml").read_text())
    assert tuple(schema["$defs"]["display"]["enum"]) == DISPLAYS
    with pytest.raises(RegistryError, match=r"datasets\.photos.*display.*'sepia'|'sepia'.*display"):
        load_registry(REGISTRY_FILE, datasets={"photos": {**folder, "display": "sepia"}})
    # Spectrograms have their own colour map: a display there is refused, not ignored.
    wav = {"kind": "wav_folder", "path": str(tmp_path), "glob": "*.wav", "regex": r"(?P<label>\d)_", "display": "ink"}
    with pytest.raises(RegistryError, match=r"datasets\.sounds.*display"):
        load_registry(REGISTRY_FILE, datasets={"sounds": wav})


def test_a_dataset_fingerprint_follows_what_jobs_read_not_how_the_entry_is_written(tmp_path):
    """Editing a description or reordering an entry's keys re-prepares nothing;
    any key a reader uses, and the order of the classes (their indices), does."""
    entry = {
        "kind": "wav_folder",
        "path": str(tmp_path),
        "glob": "*/*.wav",
        "regex": r"(?P<group>[^/]+)/(?P<label>[a-z]+)_\d+\.wav",
        "classes": ["cat", "dog"],
        "upstream_test": {"field": "group", "values": ["b"]},
        "description": "pets",
    }
    reordered = {key: entry[key] for key in reversed(entry)} | {"upstream_test": {"values": ["b"], "field": "group"}}
    reordered["description"] = "pets, described again"

    def fingerprint(e):
        return load_registry(REGISTRY_FILE, datasets={"pets": e}).fingerprint("dataset", "pets")

    assert list(reordered) != list(entry) and list(reordered["upstream_test"]) != list(entry["upstream_test"])
    assert fingerprint(reordered) == fingerprint(entry)
    # What the jobs take as their registry param is as blind to both, and to display.
    assert read_entry(reordered) == read_entry({**entry, "display": "natural"})
    assert repr(read_entry(reordered)) == repr(read_entry(entry))
    assert "description" not in read_entry(entry) and list(read_entry(entry)) == sorted(read_entry(entry))
    for changed in (
        {**entry, "glob": "*/*.flac"},
        {**entry, "classes": ["dog", "cat"]},
        {**entry, "upstream_test": {"field": "group", "values": ["a"]}},
        {**entry, "path": str(tmp_path / "other")},
    ):
        assert fingerprint(changed) != fingerprint(entry), changed
        assert read_entry(changed) != read_entry(entry), changed
    # A source's fingerprint still covers its description: the download's provenance records it.
    mnist = load_registry(REGISTRY_FILE)
    described = load_registry(
        REGISTRY_FILE, sources={"mnist": {**_registry_yaml()["sources"]["mnist"], "description": "edited"}}
    )
    assert described.fingerprint("source", "mnist") != mnist.fingerprint("source", "mnist")


def _registry_yaml():
    return yaml.safe_load(REGISTRY_FILE.read_text())


def test_emnist_fixture_reads_upright(tmp_path):
    labels = write_emnist_fixture(tmp_path)
    reg = load_registry(REGISTRY_FILE, datasets={"emnist_byclass": {**_emnist_entry(), "path": str(tmp_path)}})
    data = read_images(reg.dataset("emnist_byclass"), tmp_path)
    assert len(data.x) == len(labels["train"]) + len(labels["test"])
    img = data.x[0]
    # Upright: the bar runs down the left edge (columns 3-6), not along the top.
    assert img[4:24, 3:7].min() > 0 and img[:, 10:].max() == 0
    assert data.classes[10] == "A" and data.is_test.sum() == len(labels["test"])


def _emnist_entry():
    import yaml

    entry = yaml.safe_load(REGISTRY_FILE.read_text())["datasets"]["emnist_byclass"]
    del entry["source"]
    return entry


def test_wav_folder_from_synthesised_files(tmp_path):
    # A user's own corpus: <speaker>/<label>_<take>.wav, the speaker only in the folder name.
    for word, freq in (("yes", 1500), ("no", 3000)):
        for speaker in ("ann", "bob", "cy"):
            for take in range(2):
                write_tone(tmp_path / speaker / f"{word}_{take}.wav", freq, 16000, seconds=0.3)
    entry = {
        "kind": "wav_folder",
        "path": str(tmp_path),
        "glob": "*/*.wav",
        "regex": r"(?P<group>[^/]+)/(?P<label>[a-z]+)_(?P<index>\d+)\.wav",
        "upstream_test": {"field": "index", "values": [0]},
    }
    reg = load_registry(REGISTRY_FILE, datasets={"words": entry})
    listing = list_wav_folder(reg.dataset("words"), tmp_path)
    assert listing.classes == ("no", "yes") and len(listing.paths) == 12
    assert listing.is_test.sum() == 6 and set(listing.group) == {"ann", "bob", "cy"}
    params = spectrogram_params({"default": {"bandpass_hz": [500, 7000], "fmax_hz": 8000}}, "words")
    spectra = make_spectrograms(reg, "words", tmp_path, params, threads=1)
    assert spectra["x"].shape == (12, 32, 32) and str(spectra["image_origin"]) == "lower"
    # Higher pitch ("no", 3 kHz) -> brighter upper rows than "yes" (1.5 kHz).
    no, yes = spectra["x"][spectra["y"] == 0].mean(0), spectra["x"][spectra["y"] == 1].mean(0)
    assert np.argmax(no.mean(1)) > np.argmax(yes.mean(1))
    out = prepare_dataset(
        reg, "words", {"dataset": "words", "split": {"kind": "group", "test_fraction": 0.34}}, spectrograms=spectra
    )
    assert set(out["group_train"]).isdisjoint(out["group_test"]) and len(set(out["group_test"])) == 1


def test_wav_folder_path_that_does_not_match_is_named(tmp_path):
    write_tone(tmp_path / "sub" / "oops.wav", 1000, 8000)
    reg = load_registry(
        REGISTRY_FILE,
        datasets={
            "w": {"kind": "wav_folder", "path": str(tmp_path), "glob": "*/*.wav", "regex": r"(?P<label>\d)_.*\.wav"}
        },
    )
    with pytest.raises(
        DatasetReadError, match=r"datasets\.w\.regex .* does not match 'sub/oops\.wav' \(the path relative"
    ):
        list_wav_folder(reg.dataset("w"), tmp_path)


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        (r"(?P<label>\d", r"data\.datasets\.w\.regex: not a valid regular expression"),
        (r"(?P<word>\d)\.wav", r"data\.datasets\.w\.regex: needs a named group 'label'"),
    ],
)
def test_wav_folder_regex_is_checked_when_the_registry_loads(tmp_path, regex, message):
    entry = {"kind": "wav_folder", "path": str(tmp_path), "glob": "*.wav", "regex": regex}
    with pytest.raises(RegistryError, match=message):
        load_registry(REGISTRY_FILE, datasets={"w": entry})


def test_missing_local_path_or_file_names_the_key(tmp_path):
    user = {
        "gone": {"kind": "image_folder", "path": str(tmp_path / "nowhere"), "glob": "*/*.png"},
        "npz": {"kind": "npz", "path": str(tmp_path), "file": "absent.npz"},
        "ok": {"kind": "npz", "path": str(tmp_path), "file": "here.npz"},
    }
    (tmp_path / "here.npz").write_bytes(b"")
    errors = missing_local_files(load_registry(REGISTRY_FILE, datasets=user), user)
    assert len(errors) == 2
    assert errors[0].startswith("data.datasets.gone.path: no such folder")
    assert errors[1].startswith("data.datasets.npz.file: no such file")


def test_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(3):
            (tmp_path / cls).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (10, 12), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    reg = load_registry(
        REGISTRY_FILE, datasets={"pets": {"kind": "image_folder", "path": str(tmp_path), "glob": "*/*.png"}}
    )
    data = read_images(reg.dataset("pets"), tmp_path)
    assert data.x.shape == (6, 10, 12) and data.classes == ("cat", "dog") and data.y.tolist() == [0, 0, 0, 1, 1, 1]
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "dog" / "small.png")
    with pytest.raises(DatasetReadError, match=r"small\.png: size \(5, 5\) differs"):
        read_images(reg.dataset("pets"), tmp_path)


def test_image_folder_resizes_to_size_and_names_unreadable_files(tmp_path):
    """``size`` brings images of any size to one: a constant image stays
    constant, a pattern scaled up 2x by pixel repetition comes back to
    itself within the filter's ringing, and deep (float) images keep their
    type; a file that is not an image, or a cut-off one, is named."""
    yy, xx = np.mgrid[0:8, 0:10]
    small = (128 + 100 * np.sin(xx / 3) * np.cos(yy / 4)).astype(np.uint8)  # smooth: the filter keeps it
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
    Image.fromarray(np.full((30, 17), 100, np.uint8)).save(tmp_path / "a" / "flat.png")
    Image.fromarray(small.repeat(2, 0).repeat(2, 1)).save(tmp_path / "a" / "twice.png")
    Image.fromarray(np.full((5, 5), 0.25, np.float32)).save(tmp_path / "b" / "deep.tiff")
    entry = {"kind": "image_folder", "path": str(tmp_path), "glob": "*/*.*"}
    with pytest.raises(DatasetReadError, match=r"data\.datasets\.d\.size: \[height, width\] resizes"):
        read_images(load_registry(REGISTRY_FILE, datasets={"d": entry}).dataset("d"), tmp_path)
    reg = load_registry(REGISTRY_FILE, datasets={"d": {**entry, "size": [8, 10]}})
    data = read_images(reg.dataset("d"), tmp_path)
    assert data.x.shape == (3, 8, 10) and data.x.dtype == np.float32  # a float image among them: all float
    np.testing.assert_allclose(data.x[0], 100 / 255, atol=1e-6)
    assert np.abs(data.x[1] * 255 - small).max() < 8  # Lanczos halving of a 2x-repeated pattern
    np.testing.assert_allclose(data.x[2], 0.25, atol=1e-6)
    (tmp_path / "b" / "deep.tiff").unlink()
    assert read_images(reg.dataset("d"), tmp_path).x.dtype == np.uint8  # 8-bit images stay 8-bit
    good = (tmp_path / "a" / "twice.png").read_bytes()
    (tmp_path / "b" / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetReadError, match=r"cut\.png: cannot read as an image"):
        read_images(reg.dataset("d"), tmp_path)
    (tmp_path / "b" / "cut.png").write_text("not an image")
    with pytest.raises(DatasetReadError, match=r"cut\.png: cannot read as an image"):
        read_images(reg.dataset("d"), tmp_path)
    with pytest.raises(RegistryError, match="size"):
        load_registry(REGISTRY_FILE, datasets={"d": {**entry, "size": [0, 10]}})


def test_image_folder_keeps_16_bit_and_float_images(tmp_path):
    """16-bit grey PNGs are scaled by 65535, not clipped at 255 as an 8-bit conversion
    would; an 8-bit image beside them is scaled by 255; a float TIFF outside [0, 1] is named."""
    ramp = np.linspace(0, 65535, 64).reshape(8, 8).astype(np.uint16)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(ramp).save(tmp_path / "a" / "deep.png")
    Image.fromarray((ramp // 257).astype(np.uint8)).convert("RGB").save(tmp_path / "b" / "colour.png")
    reg = load_registry(
        REGISTRY_FILE, datasets={"d": {"kind": "image_folder", "path": str(tmp_path), "glob": "*/*.png"}}
    )
    data = read_images(reg.dataset("d"), tmp_path)
    assert data.x.dtype == np.float32 and data.classes == ("a", "b")
    np.testing.assert_allclose(data.x[0], ramp / 65535.0, atol=1e-6)  # 256 levels survive, none clipped
    np.testing.assert_allclose(data.x[1], (ramp // 257) / 255.0, atol=2 / 255)  # luma of a grey RGB
    Image.fromarray(np.full((8, 8), 1.5, np.float32)).save(tmp_path / "a" / "bright.tiff")
    tiffs = load_registry(
        REGISTRY_FILE, datasets={"d": {"kind": "image_folder", "path": str(tmp_path), "glob": "a/*.tiff"}}
    )
    with pytest.raises(
        DatasetReadError, match=r"bright\.tiff: a float image must lie in \[0, 1\] \(found 1\.5\.\.1\.5\)"
    ):
        read_images(tiffs.dataset("d"), tmp_path)


def test_colour_npz_reads_as_the_same_images_saved_as_pngs(tmp_path):
    """RGB(A) arrays in an npz become grey exactly as an image_folder's PNGs of them do."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (4, 6, 5, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((4, 6, 5, 1), 7, np.uint8)], axis=-1)
    for i, image in enumerate(rgb):
        (tmp_path / "png" / "c").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "png" / "c" / f"{i}.png")
    folder = load_registry(
        REGISTRY_FILE, datasets={"p": {"kind": "image_folder", "path": str(tmp_path / "png"), "glob": "*/*.png"}}
    )
    grey = read_images(folder.dataset("p"), tmp_path / "png").x
    for name, x in (("rgb", rgb), ("rgba", rgba)):
        save_npz(tmp_path / f"{name}.npz", x=x, y=np.zeros(4, np.int64))
        reg = load_registry(
            REGISTRY_FILE, datasets={"d": {"kind": "npz", "path": str(tmp_path), "file": f"{name}.npz"}}
        )
        assert np.array_equal(read_images(reg.dataset("d"), tmp_path).x, grey), name
    save_npz(tmp_path / "f.npz", x=rgb.astype(np.float32) / 255, y=np.zeros(4, np.int64))
    reg = load_registry(REGISTRY_FILE, datasets={"d": {"kind": "npz", "path": str(tmp_path), "file": "f.npz"}})
    np.testing.assert_allclose(read_images(reg.dataset("d"), tmp_path).x, grey / 255, atol=1 / 255)
    # PyTorch's (N, C, H, W): the same images, one channel or three.
    for name, x in (("chw_rgb", np.moveaxis(rgb, -1, 1)), ("chw_grey", grey[:, None])):
        save_npz(tmp_path / f"{name}.npz", x=x, y=np.zeros(4, np.int64), x_test=x[:1], y_test=np.zeros(1, np.int64))
        reg = load_registry(
            REGISTRY_FILE, datasets={"d": {"kind": "npz", "path": str(tmp_path), "file": f"{name}.npz"}}
        )
        assert np.array_equal(read_images(reg.dataset("d"), tmp_path).x, np.concatenate([grey, grey[:1]])), name
    save_npz(tmp_path / "two.npz", x=rgb[..., :2], y=np.zeros(4, np.int64))
    reg = load_registry(REGISTRY_FILE, datasets={"d": {"kind": "npz", "path": str(tmp_path), "file": "two.npz"}})
    with pytest.raises(
        DatasetReadError, match=r"'x' must be \(N, H, W\) images, or \(N, H, W, C\) or \(N, C, H, W\).*\(4, 6, 5, 2\)"
    ):
        read_images(reg.dataset("d"), tmp_path)


def test_npz_kind_and_label_check(tmp_path):
    save_npz(tmp_path / "d.npz", x=np.zeros((4, 3, 3), np.uint8), y=np.array([0, 1, 2, 1]))
    reg = load_registry(
        REGISTRY_FILE,
        datasets={"d": {"kind": "npz", "path": str(tmp_path), "file": "d.npz", "classes": ["a", "b", "c"]}},
    )
    data = read_images(reg.dataset("d"), tmp_path)
    assert data.classes == ("a", "b", "c") and data.is_test is None
    bad = load_registry(
        REGISTRY_FILE, datasets={"d": {"kind": "npz", "path": str(tmp_path), "file": "d.npz", "classes": ["a", "b"]}}
    )
    with pytest.raises(DatasetReadError, match=r"labels span 0\.\.2 but 2 class names"):
        read_images(bad.dataset("d"), tmp_path)


@pytest.mark.parametrize(
    ("labels", "classes", "indices"),
    [
        ([1, 2, 3, 2], ("1", "2", "3"), [0, 1, 2, 1]),  # 1-based: no empty class 0
        ([7, 3, 3, 7], ("3", "7"), [1, 0, 0, 1]),  # sparse: two classes, not eight
        ([0, 1, 2, 1], ("0", "1", "2"), [0, 1, 2, 1]),  # 0..n-1 as before
    ],
)
def test_unnamed_labels_give_the_classes_present(tmp_path, labels, classes, indices):
    save_npz(tmp_path / "d.npz", x=np.zeros((4, 3, 3), np.uint8), y=np.array(labels))
    reg = load_registry(REGISTRY_FILE, datasets={"d": {"kind": "npz", "path": str(tmp_path), "file": "d.npz"}})
    data = read_images(reg.dataset("d"), tmp_path)
    assert data.classes == classes and data.y.tolist() == indices
    assert [data.classes[i] for i in data.y] == [str(v) for v in labels]  # each image keeps its label's name


def test_npz_labels_may_be_names_or_whole_floats(tmp_path):
    """String labels are class names (sorted, or in the order of `classes`);
    float labels are class indices when whole; anything else is refused with
    the file named."""

    def read(y, **entry):
        save_npz(tmp_path / "d.npz", x=np.zeros((len(y), 3, 3), np.uint8), y=np.asarray(y))
        datasets = {"d": {"kind": "npz", "path": str(tmp_path), "file": "d.npz", **entry}}
        return read_images(load_registry(REGISTRY_FILE, datasets=datasets).dataset("d"), tmp_path)

    data = read(["dog", "cat", "dog", "emu"])
    assert data.classes == ("cat", "dog", "emu") and data.y.tolist() == [1, 0, 1, 2]
    data = read(["dog", "cat", "dog"], classes=["dog", "cat", "emu"])  # the given order; emu has no image here
    assert data.classes == ("dog", "cat", "emu") and data.y.tolist() == [0, 1, 0]
    with pytest.raises(DatasetReadError, match=r"d\.npz: labels \['yak'\] are not in datasets\.d\.classes"):
        read(["dog", "yak"], classes=["dog", "cat"])
    data = read([1.0, 3.0, 1.0])
    assert data.classes == ("1", "3") and data.y.tolist() == [0, 1, 0]
    with pytest.raises(DatasetReadError, match=r"d\.npz: float labels must be whole numbers .* found \[0\.5\]"):
        read([1.0, 0.5])
    with pytest.raises(DatasetReadError, match=r"labels must be a 1-D array of integers or class names"):
        read([[0, 1], [1, 0]])


def _toy(n_per_class=(30, 20, 10), groups=None):
    y = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)])
    x = (np.arange(len(y))[:, None, None] % 256 * np.ones((1, 2, 2))).astype(np.uint8)
    return LabelledArrays(x=x, y=y, classes=("a", "b", "c"), is_test=np.arange(len(y)) % 5 == 0, group=groups)


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(1, 60), min_size=2, max_size=6),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31),
)
def test_stratified_split_keeps_class_shares(counts, fraction, seed):
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    test = split_rows(y, SplitSpec("stratified", fraction, seed), None, None, "t")
    for c, n in enumerate(counts):
        assert test[y == c].sum() == int(round(fraction * n))
    assert np.array_equal(test, split_rows(y, SplitSpec("stratified", fraction, seed), None, None, "t"))


def test_prepare_subset_merge_caps_and_contract():
    data = _toy()
    spec = PrepareSpec.from_config(
        "v",
        {
            "dataset": "toy",
            "classes": ["c", "a"],
            "merge": {"a": ["b"]},
            "split": {"kind": "upstream"},
            "max_train_per_class": 7,
        },
    )
    out = prepare(data, spec)
    assert out["classes"].tolist() == ["c", "a"]
    assert np.bincount(out["y_train"]).tolist() == [7, 7]
    # Class c keeps its 2 upstream test rows (index % 5 == 0 among rows 50-59); a+b keep 10.
    assert np.bincount(out["y_test"]).tolist() == [2, 10]
    assert out["x_train"].dtype == np.float32 and out["x_train"].max() <= 1
    assert np.all(np.isin(data.y[out["index_test"]], [0, 1, 2]))
    assert np.all(out["index_test"] % 5 == 0)


def test_auto_split_is_upstream_where_there_is_a_test_set_else_stratified(caplog):
    """The default: a dataset's own test set where it has one (MNIST), a seeded
    stratified split where it has none (an image folder)."""
    data = _toy()
    auto = PrepareSpec.from_config("v", {"dataset": "toy"})
    assert auto.split.kind == "auto"
    upstream = PrepareSpec.from_config("v", {"dataset": "toy", "split": {"kind": "upstream"}})
    assert np.array_equal(prepare(data, auto)["index_test"], prepare(data, upstream)["index_test"])
    no_test = LabelledArrays(x=data.x, y=data.y, classes=data.classes)
    stratified = PrepareSpec.from_config("v", {"dataset": "toy", "split": {"kind": "stratified"}})
    with caplog.at_level(logging.INFO, logger="aemap.data.prepare"):
        out = prepare(no_test, auto)
    assert "prepared.v.split.kind: auto -> stratified (the dataset has no test set of its own)" in caplog.text
    assert np.array_equal(out["index_test"], prepare(no_test, stratified)["index_test"])
    assert not np.array_equal(out["index_test"], prepare(data, auto)["index_test"])


def test_prepare_errors_name_the_key():
    data = _toy()
    with pytest.raises(PrepareError, match=r"prepared\.v: class 'z' is not in dataset"):
        prepare(data, PrepareSpec.from_config("v", {"dataset": "toy", "classes": ["z"]}))
    no_test = LabelledArrays(x=data.x, y=data.y, classes=data.classes)
    with pytest.raises(PrepareError, match=r"prepared\.v\.split\.kind: 'upstream' but the dataset has no test set"):
        prepare(no_test, PrepareSpec.from_config("v", {"dataset": "toy", "split": {"kind": "upstream"}}))
    with pytest.raises(PrepareError, match=r"'group' but the dataset has no groups"):
        prepare(data, PrepareSpec.from_config("v", {"dataset": "toy", "split": {"kind": "group"}}))


def test_a_class_without_training_images_is_named():
    """Class b has one image, and an upstream split puts it in the test set: no model could learn b."""
    y = np.array([0, 0, 0, 1, 2, 2, 2, 0, 2])
    x = np.zeros((len(y), 2, 2), np.uint8)
    data = LabelledArrays(x=x, y=y, classes=("a", "b", "c"), is_test=np.arange(len(y)) == 3)
    with pytest.raises(PrepareError, match=r"prepared\.v: no training image for class\(es\) \['b'\] .*'b': 1"):
        prepare(data, PrepareSpec.from_config("v", {"dataset": "toy", "split": {"kind": "upstream"}}))
    out = prepare(
        data, PrepareSpec.from_config("v", {"dataset": "toy", "classes": ["a", "c"], "split": {"kind": "upstream"}})
    )
    assert out["classes"].tolist() == ["a", "c"]


def test_check_prepared_rejects_broken_arrays():
    out = prepare(_toy(), PrepareSpec.from_config("v", {"dataset": "toy"}))
    check_prepared(out)
    broken = dict(out, x_test=out["x_test"] * 2 + 1)
    with pytest.raises(PrepareError, match="leaves"):
        check_prepared(broken)
    leaky = dict(out, index_test=out["index_train"][: len(out["index_test"])])
    with pytest.raises(PrepareError, match="both train and test"):
        check_prepared(leaky)


def _linked_copy(source: Path, dest: Path) -> Path:
    """A folder of symlinks to ``source``'s files: a 'download' whose checks may write beside it."""
    dest.mkdir()
    for f in source.iterdir():
        (dest / f.name).symlink_to(f)
    return dest


def test_real_mnist01_split(shared_data, tmp_path):
    reg = load_registry(REGISTRY_FILE)
    cfg = {
        "dataset": "mnist",
        "classes": ["0", "1"],
        "split": {"kind": "stratified", "test_fraction": 0.15, "seed": 101},
    }
    root = _linked_copy(shared_data / "mnist", tmp_path / "mnist")
    out = prepare_dataset(reg, "mnist01", cfg, root=root)
    # 0/1 pooled over train and test: 6,903 zeros and 7,877 ones (shared/data README).
    assert len(out["y_train"]) + len(out["y_test"]) == 6903 + 7877
    assert np.bincount(out["y_test"]).tolist() == [round(0.15 * 6903), round(0.15 * 7877)]
    assert out["x_train"].shape[1:] == (28, 28) and str(out["image_origin"]) == "upper"


def test_a_downloaded_file_changed_afterwards_is_refused(shared_data, tmp_path):
    reg = load_registry(REGISTRY_FILE)
    root = tmp_path / "mnist"
    shutil.copytree(shared_data / "mnist", root)
    cfg = {"dataset": "mnist", "classes": ["7"], "split": {"kind": "upstream"}, "max_train_per_class": 5}
    prepare_dataset(reg, "m", cfg, root=root)
    cache = json.loads((tmp_path / "mnist.verified.json").read_text())
    assert set(cache) == {f.name for f in reg.source("mnist").files}  # digested once, then only stat'ed
    # Same size, other bytes: the digest, computed again because the mtime moved, no longer matches.
    labels = root / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(labels.read_bytes())
    data[-1] ^= 0xFF
    labels.write_bytes(bytes(data))
    with pytest.raises(
        ChecksumError, match=r"t10k-labels-idx1-ubyte\.gz: sha256 mismatch .*changed after it was downloaded"
    ):
        prepare_dataset(reg, "m", cfg, root=root)
    labels.unlink()
    with pytest.raises(ChecksumError, match=r"missing 1 file\(s\): t10k-labels-idx1-ubyte\.gz"):
        prepare_dataset(reg, "m", cfg, root=root)
