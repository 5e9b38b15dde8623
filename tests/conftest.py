"""Shared fixtures: the real data mirror, a local HTTP server, fixture writers."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    return Path(os.environ.get("AEMAP_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real dataset mirror (../shared/data). Missing: skip locally, fail in CI."""
    root = _shared_data_dir()
    if not (root / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file():
        message = (
            f"real data mirror not found at {root}: these tests need ../shared/data "
            "(or AEMAP_SHARED_DATA pointing at it)"
        )
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must not skip them")
        pytest.skip(message)
    return root


# The smoke run of the whole workflow (tests/workflow_run.py) starts in the background as
# the session begins, if a selected test reads it, and those tests run last: the rest of
# the suite runs meanwhile, on the core it leaves idle much of the time.
SMOKE_FIXTURE = "smoke_run"


def _reads_smoke_run(item: pytest.Item) -> bool:
    return SMOKE_FIXTURE in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    items.sort(key=_reads_smoke_run)  # stable: the order is otherwise the files'


@pytest.fixture(scope="session")
def smoke_run_started(tmp_path_factory, shared_data):
    from .workflow_run import start_smoke_run

    run = start_smoke_run(tmp_path_factory.mktemp("smoke"), tmp_path_factory.mktemp("mirror"), shared_data)
    yield run
    run.stop()


@pytest.fixture(scope="session", autouse=True)
def _smoke_run_in_the_background(request):
    if not any(_reads_smoke_run(item) for item in request.session.items):
        return
    # No data mirror: the smoke tests say so themselves (skip, or fail under CI).
    with contextlib.suppress(pytest.skip.Exception, pytest.fail.Exception):
        request.getfixturevalue("smoke_run_started")


def _chromium() -> str | None:
    import shutil

    return os.environ.get("AEMAP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's package, driven by Playwright; no browser download).
    Missing: skip locally, fail in CI."""
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        message = "no Chromium (apt-get install chromium, or AEMAP_CHROMIUM=/path) or no playwright package"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must not skip the browser tests")
        pytest.skip(message)
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where browser tests save screenshots: $AEMAP_TEST_ARTIFACTS, else test-artifacts/ in the repository."""
    folder = Path(os.environ.get("AEMAP_TEST_ARTIFACTS", REPO / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; can answer the first N requests with 503 to test retries."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        state = self.server.state  # type: ignore[attr-defined]
        state["requests"].append(self.path)
        if state["fail_first"] > 0:
            state["fail_first"] -= 1
            self.send_error(503, "try again")
            return
        super().do_GET()


@pytest.fixture
def http_server():
    """Start a server on 127.0.0.1 for a folder: ``serve(folder) -> (base_url, state)``."""
    servers = []

    def serve(folder: Path, fail_first: int = 0):
        handler = functools.partial(_Handler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.state = {"fail_first": fail_first, "requests": []}  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server.state  # type: ignore[attr-defined]

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tone(path: Path, freq_hz: float, rate: int, seconds: float = 0.5, start_s: float = 0.0) -> None:
    """A sine burst (16-bit PCM WAV) starting at ``start_s`` in a file of ``seconds``."""
    t = np.arange(int(seconds * rate)) / rate
    x = np.where(t >= start_s, 0.5 * np.sin(2 * np.pi * freq_hz * t), 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, rate, subtype="PCM_16")


def write_emnist_fixture(folder: Path, n_per_class: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """EMNIST ByClass files in the upstream format: gzipped IDX with each image
    stored *transposed*. The images are an upright bar on the left edge (a
    shape whose orientation is unambiguous) of varying intensity."""
    from aemap.data.idx import write_idx

    rng = np.random.default_rng(seed)
    upright = np.zeros((28, 28), np.uint8)
    upright[4:24, 3:7] = 255  # a vertical bar near the left edge
    labels = np.repeat(np.arange(62, dtype=np.uint8), n_per_class)
    rng.shuffle(labels)
    out = {}
    for split, n in (("train", len(labels)), ("test", len(labels) // 2)):
        y = labels[:n]
        x = np.stack([(upright * rng.uniform(0.5, 1.0)).astype(np.uint8) for _ in range(n)])
        write_idx(folder / f"emnist-byclass-{split}-images-idx3-ubyte.gz", x.transpose(0, 2, 1))
        write_idx(folder / f"emnist-byclass-{split}-labels-idx1-ubyte.gz", y)
        out[split] = y
    return out


def write_audiomnist_fixture(folder: Path, shared: Path, speakers=("03", "04"), reps: int = 2) -> list[str]:
    """An AudioMNIST tree (data/NN/D_NN_I.wav at 48 kHz + audioMNIST_meta.txt):
    the six real recordings plus synthetic vowel-like tones for more speakers."""
    import shutil

    sample = shared / "audiomnist-sample" / "data"
    data = folder / "data"
    names = []
    for wav in sorted(sample.glob("*/*.wav")):
        target = data / wav.parent.name / wav.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wav, target)
        names.append(f"data/{wav.parent.name}/{wav.name}")
    for spk in speakers:
        for digit in range(10):
            for rep in range(reps):
                name = f"data/{spk}/{digit}_{spk}_{rep}.wav"
                write_tone(folder / name, 1200 + 300 * digit + 40 * rep, 48000, seconds=0.6, start_s=0.1)
                names.append(name)
    shutil.copyfile(sample / "audioMNIST_meta.txt", data / "audioMNIST_meta.txt")
    return sorted(names)


def write_importance_results(
    root: Path, name: str = "ae", shape=(28, 28), n_dims: int = 32, classes=tuple("0123456789"), seed: int = 0
) -> dict:
    """A results folder with one autoencoder's permutation importance in the documented
    formats (importance/latent_by_class.csv, importance/pixel_latent.npz, metrics.json):
    dim d (0-based) of class c has importance (d - c) % n_dims + 1, except the last dim of
    every class (0: unused). Returns the arrays written."""
    import json

    import pandas as pd

    rng = np.random.default_rng(seed)
    folder = root / name / "importance"
    folder.mkdir(parents=True, exist_ok=True)
    n = int(np.prod(shape))
    signed = rng.normal(size=(n, n_dims))
    np.savez(
        folder / "pixel_latent.npz",
        signed=signed,
        importance=np.abs(signed),
        image_shape=np.array(shape),
        image_origin=np.array("upper"),
    )
    rows = []
    for c, cname in enumerate(classes):
        scores = np.array([float((d - c) % n_dims) + 1.0 for d in range(n_dims)])
        scores[-1] = 0.0
        order = np.argsort(-scores, kind="stable")
        ranks = np.empty(n_dims, int)
        ranks[order] = np.arange(1, n_dims + 1)
        rows += [
            {"class": cname, "dim": d + 1, "importance": scores[d], "std": 0.1 * scores[d], "rank": ranks[d]}
            for d in range(n_dims)
        ]
    table = pd.DataFrame(rows)
    table.to_csv(folder / "latent_by_class.csv", index=False)
    (root / name / "metrics.json").write_text(json.dumps({"train_loss": 0.1, "test_loss": 0.1}))
    return {"signed": signed, "table": table}
