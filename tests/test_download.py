"""Downloads through a real HTTP server on 127.0.0.1 serving ../shared/data."""

import shutil

import pytest

from aemap.data.download import (
    ChecksumError,
    DownloadError,
    FetchSettings,
    FileSpec,
    SourceSpec,
    fetch_file,
    fetch_source,
)
from aemap.data.registry import load_registry
from aemap.data.stages import MIRROR_ENV, resolve_mirror

from .conftest import REPO, free_port

LABELS = "t10k-labels-idx1-ubyte.gz"
LABELS_SHA = "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
FAST = dict(retries=2, timeout_s=5, backoff_s=0.01, progress=False)


@pytest.fixture(scope="module")
def registry():
    return load_registry(REPO / "workflow/resources/datasets.yaml")


def test_fetch_from_http_mirror_verifies_checksum(tmp_path, shared_data, http_server, registry):
    base, state = http_server(shared_data)
    where = fetch_source(registry.source("mnist"), tmp_path / "mnist", mirror=base, settings=FetchSettings(**FAST))
    assert where == f"{base}/mnist"
    for f in registry.source("mnist").files:
        assert (tmp_path / "mnist" / f.name).stat().st_size == f.size
    assert sorted(state["requests"]) == sorted(f"/mnist/{f.name}" for f in registry.source("mnist").files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist"]  # no partial folders left


def test_corrupted_byte_is_a_clear_error_and_leaves_nothing(tmp_path, shared_data, http_server):
    served = tmp_path / "served" / "mnist"
    served.mkdir(parents=True)
    data = bytearray((shared_data / "mnist" / LABELS).read_bytes())
    data[1000] ^= 0xFF
    (served / LABELS).write_bytes(bytes(data))
    base, _ = http_server(tmp_path / "served")
    spec = FileSpec(LABELS, sha256=LABELS_SHA, size=4542)
    target = tmp_path / "out" / LABELS
    with pytest.raises(ChecksumError) as err:
        fetch_file([f"{base}/mnist/{LABELS}"], target, spec, FetchSettings(**FAST))
    message = str(err.value)
    assert LABELS in message and f"expected {LABELS_SHA}" in message
    actual = __import__("hashlib").sha256(bytes(data)).hexdigest()
    assert f"got {actual}" in message
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_corrupt_source_leaves_no_output_folder(tmp_path, shared_data, http_server, registry):
    served = tmp_path / "served"
    shutil.copytree(shared_data / "mnist", served / "mnist")
    (served / "mnist" / LABELS).write_bytes(b"\x00" * 4542)  # right size, wrong content
    base, _ = http_server(served)
    spec = registry.source("mnist")
    offline = SourceSpec(spec.name, spec.mirror_dir, spec.files)  # no upstream: the mirror alone
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fetch_source(offline, tmp_path / "raw" / "mnist", mirror=base, settings=FetchSettings(**FAST))
    assert not (tmp_path / "raw").exists() or list((tmp_path / "raw").iterdir()) == []


def test_size_mismatch_is_reported_before_hashing(tmp_path, shared_data):
    spec = FileSpec(LABELS, sha256=LABELS_SHA, size=9999)
    with pytest.raises(ChecksumError, match="expected 9999 bytes, got 4542"):
        fetch_file([str(shared_data / "mnist" / LABELS)], tmp_path / LABELS, spec, FetchSettings(**FAST))


def test_unreachable_host_is_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/mnist/{LABELS}"
    spec = FileSpec(LABELS, sha256=LABELS_SHA)
    with pytest.raises(DownloadError, match=r"cannot reach http://127\.0\.0\.1:\d+/mnist/.*ConnectionError") as err:
        fetch_file([url], tmp_path / LABELS, spec, FetchSettings(**FAST))
    assert not isinstance(err.value, ChecksumError)
    assert list(tmp_path.iterdir()) == []


def test_transient_failures_are_retried(tmp_path, shared_data, http_server):
    base, state = http_server(shared_data, fail_first=2)
    spec = FileSpec(LABELS, sha256=LABELS_SHA, size=4542)
    fetch_file([f"{base}/mnist/{LABELS}"], tmp_path / LABELS, spec, FetchSettings(**FAST))
    assert len(state["requests"]) == 3 and (tmp_path / LABELS).stat().st_size == 4542


def test_missing_file_is_not_retried_and_next_location_is_tried(tmp_path, shared_data, http_server):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_base, bad_state = http_server(empty)
    good_base, _ = http_server(shared_data)
    spec = FileSpec(LABELS, sha256=LABELS_SHA, size=4542)
    used = fetch_file(
        [f"{bad_base}/mnist/{LABELS}", f"{good_base}/mnist/{LABELS}"],
        tmp_path / "x" / LABELS,
        spec,
        FetchSettings(**FAST),
    )
    assert used.startswith(good_base) and len(bad_state["requests"]) == 1


def test_mirror_miss_falls_back_to_upstream(tmp_path, shared_data, http_server, registry):
    upstream, _ = http_server(shared_data / "mnist")
    spec = registry.source("mnist")
    with_upstream = SourceSpec(spec.name, spec.mirror_dir, spec.files, urls=(f"{upstream}/",))
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    where = fetch_source(with_upstream, tmp_path / "raw", mirror=str(empty_mirror), settings=FetchSettings(**FAST))
    assert where.startswith("upstream")
    assert len(list((tmp_path / "raw").iterdir())) == 4


def test_local_folder_mirror_and_tree_manifest(tmp_path, shared_data, registry):
    spec = registry.source("fsdd")
    assert len(spec.files) == 3000
    fetch_source(spec, tmp_path / "fsdd", mirror=f"file://{shared_data}", settings=FetchSettings(**FAST))
    assert len(list((tmp_path / "fsdd" / "recordings").glob("*.wav"))) == 3000


def test_archive_upstream_is_extracted_and_verified(tmp_path, shared_data, http_server):
    # A GitHub-style archive: a top folder named after the commit, files below it.
    top = tmp_path / "pkg" / "repo-abc123"
    shutil.copytree(shared_data / "audiomnist-sample", top)
    (top / "README.md").write_text("not part of the dataset")
    shutil.make_archive(str(tmp_path / "served" / "abc123"), "zip", tmp_path / "pkg")
    base, _ = http_server(tmp_path / "served")
    registry = load_registry(
        REPO / "workflow/resources/datasets.yaml",
        sources={
            "audiomnist": {
                "mirror_dir": "audiomnist",
                "archive": {"url": f"{base}/abc123.zip", "prefix": "repo-abc123/", "include": ["data/"]},
                "manifest": str(REPO / "workflow/resources/manifests/audiomnist.sha256"),
                "expect": {"pattern": r"data/\d\d/\d_\d\d_\d+\.wav", "count": 6},
            }
        },
    )
    fetch_source(registry.source("audiomnist"), tmp_path / "raw" / "audiomnist", settings=FetchSettings(**FAST))
    root = tmp_path / "raw" / "audiomnist"
    got = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert "README.md" not in got and len([g for g in got if g.endswith(".wav")]) == 6
    assert "data/audioMNIST_meta.txt" in got


def test_audiomnist_sample_matches_manifest_but_is_incomplete(tmp_path, shared_data, registry):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "audiomnist").symlink_to(shared_data / "audiomnist-sample")
    spec = registry.source("audiomnist")
    offline = SourceSpec(spec.name, spec.mirror_dir, spec.files, expect=spec.expect)
    with pytest.raises(DownloadError, match="expected 30000 files .* found 6; the copy is incomplete"):
        fetch_source(offline, tmp_path / "raw" / "audiomnist", mirror=str(mirror), settings=FetchSettings(**FAST))
    # Every file whose digest is known was copied and verified before the count check.
    assert not (tmp_path / "raw" / "audiomnist").exists()


def test_mirror_from_environment(monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, "/data/mirror")
    assert resolve_mirror(None) == "/data/mirror"
    assert resolve_mirror("http://host/m") == "http://host/m"
    monkeypatch.delenv(MIRROR_ENV)
    assert resolve_mirror(None) is None


def test_cli_manifest_and_fetch(tmp_path, shared_data, capsys):
    from aemap.cli import main

    assert (
        main(["manifest", str(shared_data / "audiomnist-sample"), str(tmp_path / "m.sha256"), "--pattern", r"data/.*"])
        == 0
    )
    lines = (tmp_path / "m.sha256").read_text().splitlines()
    known = [
        line
        for line in (REPO / "workflow/resources/manifests/audiomnist.sha256").read_text().splitlines()
        if line[:1] != "#"
    ]
    assert sorted(lines) == sorted(known)  # the committed manifest is exactly the sample's digests
    registry = str(REPO / "workflow/resources/datasets.yaml")
    assert main(["fetch", "mnist", str(tmp_path / "mnist"), "--registry", registry, "--mirror", str(shared_data)]) == 0
    assert len(list((tmp_path / "mnist").iterdir())) == 4


def test_progress_in_a_log_file_is_whole_lines(tmp_path, shared_data, http_server, monkeypatch):
    """A job's stderr is its log file: the transfer's bar writes lines there, not a redrawn bar."""
    import io
    import sys

    base, _ = http_server(shared_data)
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    settings = FetchSettings(**{**FAST, "progress": True})
    fetch_file([f"{base}/mnist/{LABELS}"], tmp_path / LABELS, FileSpec(LABELS, sha256=LABELS_SHA, size=4542), settings)
    assert "\r" not in log.getvalue()
    assert log.getvalue().startswith(f"{LABELS}: 4.54k/4.54k B (100%) [")
