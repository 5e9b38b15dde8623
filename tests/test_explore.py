"""The explorer: its data layer against known answers (what it reads, how it orders
dims, rotation and flips against numpy, safe paths, corrupt files), the command
line, and the app in Chromium on a synthetic results folder (every control of the
importance view, hover, empty and corrupt folders). The app on the smoke run's
results is tested in test_workflow.py."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aemap.cli import host_warning
from aemap.explore.data import (
    CorruptFile,
    Explorer,
    ResultsFolder,
    UnsafePath,
    class_dims,
    dim_heatmaps,
    orient,
    pixel_ranks,
)

from .conftest import free_port, write_importance_results

BIN = Path(sys.executable).parent


# --- safe paths and reading -------------------------------------------------------------------


def test_paths_outside_the_folder_are_refused(tmp_path):
    root = tmp_path / "results"
    (root / "exp").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("no")
    (root / "exp" / "inside.txt").write_text("yes")
    (root / "exp" / "out").symlink_to(tmp_path / "secret.txt")
    (root / "exp" / "in").symlink_to(root / "exp" / "inside.txt")
    folder = ResultsFolder(root)
    assert folder.path("exp", "inside.txt").read_text() == "yes"
    assert folder.path("exp", "in").read_text() == "yes"  # a link that stays inside is fine
    for parts in (("..", "secret.txt"), ("exp", "..", "..", "secret.txt"), (str(tmp_path / "secret.txt"),)):
        with pytest.raises(UnsafePath):
            folder.path(*parts)
    with pytest.raises(UnsafePath, match="leads outside"):
        folder.path("exp", "out")
    assert not folder.has("..", "secret.txt")
    # Names come from the browser: only listed experiments, views and layers are read.
    explorer = Explorer(root)
    for name in ("..", "../results/exp", "/etc"):
        with pytest.raises(UnsafePath, match="is not an experiment"):
            explorer.describe(name)
    with pytest.raises(UnsafePath, match="is not a latent view"):
        explorer.latent_view("exp", "../../secret")
    with pytest.raises(UnsafePath, match="is not an attribution layer"):
        explorer.attribution_inputs("exp", "..")


def test_attribution_shows_what_the_last_collected_run_holds(tmp_path):
    """Layers and perturbations removed from the config leave their files
    behind; once a run has collected metrics.csv only its pairs are shown
    (before it, every file on disk)."""
    base = tmp_path / "results" / "exp" / "attribution"
    for layer in ("conv1", "conv2"):
        (base / layer).mkdir(parents=True)
        for name in ("attributions", "none", "blur"):
            np.savez(base / layer / f"{name}.npz", a=np.zeros(1))
    explorer = Explorer(tmp_path / "results")
    assert explorer.attribution_layers("exp") == ["conv1", "conv2"]
    assert explorer.attribution_perturbations("exp", "conv2") == ["none", "blur"]
    pd.DataFrame({"layer": ["conv2", "conv2"], "perturbation": ["blur", "blur"], "image": [0, 1]}).to_csv(
        base / "metrics.csv", index=False
    )
    assert explorer.attribution_layers("exp") == ["conv2"]
    assert explorer.attribution_perturbations("exp", "conv2") == ["blur"]
    with pytest.raises(UnsafePath, match="is not an attribution layer"):
        explorer.attribution_perturbations("exp", "conv1")


def test_experiments_are_folders_with_results_only(tmp_path):
    root = tmp_path / "results"
    write_importance_results(root, "b_ae")
    (root / "a_cnn").mkdir()
    (root / "a_cnn" / "metrics.json").write_text("{}")
    for name in ("figures", "prepared", "empty", ".hidden"):
        (root / name).mkdir()
    (root / "figures" / "metrics.json").write_text("{}")
    outside = tmp_path / "elsewhere"
    write_importance_results(outside, "x")
    (root / "linked").symlink_to(outside / "x")
    assert ResultsFolder(root).experiments() == ["a_cnn", "b_ae"]


def test_npz_is_read_without_pickle_and_bad_files_are_named(tmp_path):
    root = tmp_path / "results"
    (root / "e" / "importance").mkdir(parents=True)
    np.savez(root / "e" / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    (root / "e" / "importance" / "pixel_latent.npz").write_bytes(b"not a zip")
    (root / "e" / "metrics.json").write_text("{broken")
    folder = ResultsFolder(root)
    with pytest.raises(CorruptFile, match=r"e/objects.npz: cannot be read \(ValueError: Object arrays"):
        folder.npz("e", "objects.npz")
    with pytest.raises(CorruptFile, match="e/importance/pixel_latent.npz: cannot be read"):
        folder.npz("e", "importance", "pixel_latent.npz")
    with pytest.raises(CorruptFile, match="e/metrics.json: cannot be read"):
        Explorer(root).describe("e")
    with pytest.raises(FileNotFoundError, match="no results folder"):
        ResultsFolder(tmp_path / "nowhere")


def test_describe_reads_the_view_shape_classes_and_what_is_missing(tmp_path):
    root = tmp_path / "results"
    write_importance_results(root, "ae", shape=(4, 6), n_dims=5, classes=("cat", "dog"))
    (root / "prepared").mkdir()
    view = root / "prepared" / "pets.npz"
    np.savez(view, x_test=np.zeros((2, 4, 6)))
    (root / "prepared" / "pets.provenance.json").write_text(json.dumps({"params": {"view": {"dataset": "pets_raw"}}}))
    np.savez(root / "prepared" / "other.npz", x=np.zeros(3))
    digest = hashlib.sha256(view.read_bytes()).hexdigest()
    (root / "ae" / "metrics.json").write_text(json.dumps({"data": {"bytes": view.stat().st_size, "sha256": digest}}))
    (root / "cnn").mkdir()
    (root / "cnn" / "metrics.json").write_text(json.dumps({"test_accuracy": 0.9}))
    explorer = Explorer(root)
    info = explorer.describe("ae")
    assert (info.family, info.view, info.dataset, info.image_shape) == ("dense_ae", "pets", "pets_raw", (4, 6))
    assert info.classes == ["cat", "dog"]
    assert info.analyses["importance"] and not info.analyses["saliency"]
    missing = {a: target for a, _, target in info.missing()}
    assert set(missing) == {"latent", "saliency", "sanity", "attribution"}
    assert missing["saliency"] == "results/ae/saliency/maps.npz"
    cnn = explorer.describe("cnn")
    assert cnn.family == "cnn" and [a for a, _, _ in cnn.missing()] == ["attribution"]
    # A classifier of spectrograms: only its attributions say how its images stand.
    layer = root / "cnn" / "attribution" / "conv1"
    layer.mkdir(parents=True)
    pd.DataFrame({"layer": ["conv1"], "perturbation": ["none"]}).to_csv(layer.parent / "metrics.csv", index=False)
    images, classes = np.zeros((2, 4, 6)), np.array(["yes", "no"])
    np.savez(layer / "attributions.npz", images=images, classes=classes, image_origin=np.array("lower"))
    cnn = explorer.describe("cnn")
    assert (cnn.classes, cnn.image_shape, cnn.image_origin) == (["yes", "no"], (4, 6), "lower")
    assert info.image_display == "ink"  # no image_style.json: as every figure drew images before it


def test_describe_draws_images_as_the_runs_image_style_says(tmp_path):
    """image_style.json (rule describe_image_style) sets the explorer's colours
    of an experiment's images, as the figures'; a bad one is named, not guessed."""
    root = tmp_path / "results"
    write_importance_results(root, "ae", shape=(4, 6), n_dims=3, classes=("cat", "dog"))
    style = root / "ae" / "image_style.json"
    style.write_text(json.dumps({"dataset": "pets", "image_origin": "upper", "display": "natural"}))
    info = Explorer(root).describe("ae")
    assert (info.image_origin, info.image_display) == ("upper", "natural")
    style.write_text(json.dumps({"image_origin": "upper", "display": "sepia"}))
    with pytest.raises(CorruptFile, match=r"image_style\.json: unknown display 'sepia'"):
        Explorer(root).describe("ae")


# --- how dims are chosen and drawn ------------------------------------------------------------


def _table():
    return pd.DataFrame(
        {
            "class": ["a"] * 5 + ["b"] * 5,
            "dim": [1, 2, 3, 4, 5] * 2,
            "importance": [0.0, 0.5, 0.9, 0.1, 0.0, 1, 2, 3, 4, 5],
            "std": [0.0] * 10,
            "rank": [4, 2, 1, 3, 5, 5, 4, 3, 2, 1],
        }
    )


def test_class_dims_top_k_filter_and_sort():
    table = _table()
    assert class_dims(table, "a", 3, filter_unused=True, sort=True)["dim"].tolist() == [3, 2, 4]
    assert class_dims(table, "a", 10, filter_unused=True, sort=True)["dim"].tolist() == [3, 2, 4]
    assert class_dims(table, "a", 10, filter_unused=False, sort=True)["dim"].tolist() == [3, 2, 4, 1, 5]
    assert class_dims(table, "a", 3, filter_unused=True, sort=False)["dim"].tolist() == [2, 3, 4]
    assert class_dims(table, "b", 2, filter_unused=True, sort=True)["dim"].tolist() == [5, 4]
    with pytest.raises(KeyError, match="no class 'c'; known: a, b"):
        class_dims(table, "c", 3, True, True)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    rotation=st.sampled_from([0, 90, 180, 270]),
    flip_h=st.booleans(),
    flip_v=st.booleans(),
)
def test_orientation_matches_numpy(rows, cols, rotation, flip_h, flip_v):
    image = np.arange(rows * cols).reshape(rows, cols)
    expected = np.rot90(image, k=-rotation // 90)  # clockwise
    if flip_h:
        expected = expected[:, ::-1]
    if flip_v:
        expected = expected[::-1]
    assert np.array_equal(orient(image, rotation, flip_h, flip_v), expected)


def test_orientation_by_hand():
    image = np.array([[1, 2], [3, 4]])
    assert orient(image, 90).tolist() == [[3, 1], [4, 2]]  # clockwise: the left column becomes the top row
    assert orient(image, 180).tolist() == [[4, 3], [2, 1]]
    assert orient(image, 0, flip_horizontal=True).tolist() == [[2, 1], [4, 3]]
    assert orient(image, 0, flip_vertical=True).tolist() == [[3, 4], [1, 2]]
    with pytest.raises(ValueError, match="rotation"):
        orient(image, 45)


def test_heatmaps_are_the_dims_columns_and_ranks_by_magnitude():
    signed = np.arange(12, dtype=float).reshape(6, 2) - 5  # 2x3 image, 2 dims
    maps = dim_heatmaps(signed, (2, 3), "upper", [2, 1])
    assert maps[0].tolist() == [[-4, -2, 0], [2, 4, 6]]
    assert maps[1].tolist() == [[-5, -3, -1], [1, 3, 5]]
    spectro = dim_heatmaps(signed, (2, 3), "lower", [1])[0]
    assert spectro.tolist() == [[1, 3, 5], [-5, -3, -1]]  # frequency upward: row 0 of the array at the bottom
    assert pixel_ranks(np.array([[0.1, -3.0], [2.0, 0.1]])).tolist() == [[3, 1], [2, 4]]


# --- the command line --------------------------------------------------------------------------


def test_bar_chart_axis_ends_on_a_labelled_value_above_every_whisker():
    from aemap.explore.app import _tick_values, bar_chart_svg

    assert _tick_values(0.52) == pytest.approx([0.0, 0.2, 0.4, 0.6])
    assert _tick_values(0.6) == pytest.approx([0.0, 0.2, 0.4, 0.6])  # a top on a tick ends there
    assert _tick_values(5.2e-4)[-1] >= 5.2e-4 and len(_tick_values(5.2e-4)) <= 6
    svg = bar_chart_svg([4, 1], np.array([5.1e-4, 2.7e-4]), np.array([1e-5, 5e-5]), "t")
    labels = [float(v) for v in re.findall(r'text-anchor="end">([^<]+)</text>', svg)]
    assert labels[0] == 0 and labels[-1] >= 5.2e-4  # the axis reaches past the tallest whisker
    whisker_tops = [float(v) for v in re.findall(r'<path d="M[\d.]+ ([\d.]+)V', svg)]
    plot_top = 28  # bar_chart_svg's top margin
    assert min(whisker_tops) > plot_top  # headroom: no whisker on the frame's edge


def test_host_warning_only_off_this_machine():
    assert host_warning("127.0.0.1") is None and host_warning("localhost") is None
    assert "reachable from other machines" in host_warning("0.0.0.0")


def test_explore_refuses_a_missing_folder(tmp_path):
    result = subprocess.run(
        [str(BIN / "aemap"), "explore", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "no results folder at" in result.stderr and "Traceback" not in result.stderr


# --- the app in Chromium -----------------------------------------------------------------------


class Server:
    """``aemap explore`` in a subprocess on a free port; its URL once it answers."""

    def __init__(self, results: Path):
        self.port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [str(BIN / "aemap"), "explore", str(results), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        line = self.process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        self.url = match.group(0)
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(self.url, timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the explorer did not answer at {self.url}")

    def stop(self) -> str:
        """Stop it; what it printed after its first line."""
        self.process.terminate()
        self.process.wait(timeout=20)
        return self.process.stdout.read()


@pytest.fixture
def serve():
    servers = []

    def start(results: Path) -> str:
        servers.append(Server(results))
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def open_page(browser, url, errors):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page


def heat_values(page) -> list[np.ndarray]:
    """The heatmaps as the page holds them (the values behind the hover readout)."""
    images = page.locator("#heatmap-grid img")
    out = []
    for i in range(images.count()):
        img = images.nth(i)
        rows, cols = int(img.get_attribute("data-rows")), int(img.get_attribute("data-cols"))
        out.append(np.array(json.loads(img.get_attribute("data-values"))).reshape(rows, cols))
    return out


def shown_dims(page) -> list[int]:
    images = page.locator("#heatmap-grid img")
    return [int(images.nth(i).get_attribute("data-dim")) for i in range(images.count())]


def wait_changed(page, before: list[int] | None = None, count: int | None = None):
    """Wait until the heatmap grid differs from ``before`` (dims) or has ``count`` heatmaps."""
    page.wait_for_function(
        """([before, count]) => {
            const imgs = [...document.querySelectorAll('#heatmap-grid img')];
            const dims = imgs.map(i => Number(i.dataset.dim));
            if (count !== null && imgs.length !== count) return false;
            return before === null || JSON.stringify(dims) !== JSON.stringify(before);
        }""",
        arg=[before, count],
        timeout=15000,
    )


def wait_dims(page, expected: list[int]):
    """Wait until the heatmap grid shows exactly the dims ``expected``, in order."""
    page.wait_for_function(
        """(expected) => JSON.stringify([...document.querySelectorAll('#heatmap-grid img')]
            .map(i => Number(i.dataset.dim))) === JSON.stringify(expected)""",
        arg=expected,
        timeout=15000,
    )


def test_every_importance_control_in_chromium(tmp_path, browser, serve, artifacts):
    root = tmp_path / "results"
    written = write_importance_results(root, "synthetic", shape=(6, 4), n_dims=8, classes=("a", "b", "c"))
    signed = written["signed"]
    errors = []
    page = open_page(browser, serve(root), errors)
    page.wait_for_selector("#heatmap-grid img")
    # aim's default: the top 5 dims of the first class, by importance; unused dim 8 filtered.
    assert shown_dims(page) == [7, 6, 5, 4, 3]  # class a: dim d (1-based) has importance d, dim 8 unused
    assert all(
        np.allclose(h, signed[:, d - 1].reshape(6, 4)) for h, d in zip(heat_values(page), [7, 6, 5, 4, 3], strict=True)
    )
    bars_before = page.locator("#bars svg").inner_html()
    # Class: another class's dims, and the bar chart is redrawn.
    page.select_option("#class_name", "b")
    wait_changed(page, [7, 6, 5, 4, 3])
    assert shown_dims(page) == [1, 7, 6, 5, 4]  # class b: dim 1 highest, then 7 down
    page.wait_for_function("(svg) => document.querySelector('#bars svg').innerHTML !== svg", arg=bars_before)
    assert page.locator("#bars rect.aemap-bar").count() == 5
    # Top-k: as many heatmaps as asked.
    page.fill("#top_k", "3")
    page.press("#top_k", "Tab")
    wait_changed(page, count=3)
    assert shown_dims(page) == [1, 7, 6]
    # Rotation and flips: the drawn values are the dim's map turned as numpy turns it.
    base = signed[:, 0].reshape(6, 4)
    page.check("#rotation input[value='90']")
    page.wait_for_function("() => document.querySelector('#heatmap-grid img').dataset.rows === '4'")
    assert np.allclose(heat_values(page)[0], np.rot90(base, -1))
    page.check("#flip_h")
    page.wait_for_timeout(50)
    page.wait_for_function(
        "(v) => JSON.parse(document.querySelector('#heatmap-grid img').dataset.values)[0] === v",
        arg=float(np.round(np.rot90(base, -1)[:, ::-1][0, 0], 8)),
    )
    page.check("#flip_v")
    expected = np.rot90(base, -1)[:, ::-1][::-1]
    page.wait_for_function(
        "(v) => JSON.parse(document.querySelector('#heatmap-grid img').dataset.values)[0] === v",
        arg=float(np.round(expected[0, 0], 8)),
    )
    assert np.allclose(heat_values(page)[0], expected)
    # Filter unused: with all dims asked for, the unused dim 8 appears only when not filtered.
    page.fill("#top_k", "8")
    page.press("#top_k", "Tab")
    wait_changed(page, count=7)
    page.uncheck("#filter_unused")
    wait_changed(page, count=8)
    assert shown_dims(page)[-1] == 8
    # Sort: off shows the same dims in dimension order.
    page.uncheck("#sort")
    wait_dims(page, list(range(1, 9)))
    # Hover: the pixel's value and rank.
    img = page.locator("#heatmap-grid img").first
    box = img.bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    readout = page.locator("#heat-hover").inner_text()
    assert re.search(r"dim 1, row 0, col 0: value -?[\d.e-]+, rank \d+ of 24", readout), readout
    # Theme: dark mode darkens the page, and the chart's ink turns light with it.
    background = "getComputedStyle(document.body).backgroundColor"
    ink = "getComputedStyle(document.querySelector('#bars svg')).color"
    light_background, light_ink = page.evaluate(background), page.evaluate(ink)
    page.locator("#theme").click()
    page.wait_for_function(f"(c) => {background} !== c", arg=light_background)

    def brightness(rgb: str) -> float:
        return sum(map(float, re.findall(r"[\d.]+", rgb)[:3]))

    assert brightness(page.evaluate(background)) < brightness(light_background)
    assert brightness(page.evaluate(ink)) > brightness(light_ink)
    page.screenshot(path=str(artifacts / "explorer_synthetic_dark.png"), full_page=True)
    assert errors == []


def test_empty_and_corrupt_folders_say_what_to_do(tmp_path, browser, serve):
    errors = []
    empty = tmp_path / "empty"
    empty.mkdir()
    page = open_page(browser, serve(empty), errors)
    assert "No results in" in page.inner_text("body") and "make reproduce" in page.inner_text("body")
    root = tmp_path / "results"
    write_importance_results(root, "broken", n_dims=4)
    (root / "broken" / "importance" / "pixel_latent.npz").write_bytes(b"garbage")
    page = open_page(browser, serve(root), errors)
    page.wait_for_selector("text=broken/importance/pixel_latent.npz: cannot be read")
    assert "Traceback" not in page.inner_text("body")
    assert errors == []
