"""Faults a user hits (issue 11's drills), each with the behaviour that holds now:
no data loss, nothing written outside the project, tampering found, errors
early and named, offline failures fast, byte-identical results, a CLI that
reports instead of crashing."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import torch
import yaml

from aemap.cli import DEFAULT_REGISTRY, main
from aemap.compute import cuda_config_error
from aemap.data.download import (
    DownloadError,
    FetchSettings,
    FileSpec,
    SourceSpec,
    _is_name_resolution_failure,
    fetch_source,
    read_manifest,
    safe_relative_name,
)
from aemap.data.registry import RegistryError, load_registry
from aemap.data.stages import spectrogram_params
from aemap.devices import cuda_available, gpu_driver_present
from aemap.io import atomic_path
from aemap.schema import ConfigError, load_config_file, schema_errors

from .conftest import REPO

FAST = FetchSettings(retries=3, timeout_s=5, backoff_s=1.0, progress=False)


# 1. Data loss ---------------------------------------------------------------------------------


def test_fetch_never_deletes_an_existing_folder(tmp_path, shared_data):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "thesis.tex").write_text("years of work")
    spec = load_registry(DEFAULT_REGISTRY).source("mnist")
    with pytest.raises(DownloadError, match="exists and is not an empty folder: refusing to replace it"):
        fetch_source(spec, dest, mirror=str(shared_data), settings=FAST)
    assert (dest / "thesis.tex").read_text() == "years of work"
    # The CLI says so and exits 1, and an empty folder is fine to fill.
    assert main(["fetch", "mnist", str(dest), "--mirror", str(shared_data)]) == 1
    assert (dest / "thesis.tex").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["fetch", "mnist", str(empty), "--mirror", str(shared_data)]) == 0
    assert len(list(empty.iterdir())) == 4


# 2. Writes outside the project ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../../../x", "/etc/passwd", "a/../../b", "a\\..\\b", "", "C:/x", "a//b"])
def test_file_names_that_leave_the_source_folder_are_refused(name):
    with pytest.raises(DownloadError, match="not a plain relative path"):
        safe_relative_name(name, "sources.mine.files")


def test_registry_and_manifest_refuse_escaping_names(tmp_path):
    digest = {"sha256": "0" * 64}
    bad_file = {"mine": {"mirror_dir": "mine", "files": {"../../../../x": digest}}}
    with pytest.raises(RegistryError, match=r"sources\.mine\.files: '\.\./\.\./\.\./\.\./x' is not a plain"):
        load_registry(DEFAULT_REGISTRY, sources=bad_file)
    with pytest.raises(RegistryError, match=r"sources\.mine\.mirror_dir"):
        load_registry(DEFAULT_REGISTRY, sources={"mine": {"mirror_dir": "../up", "files": {"a": digest}}})
    with pytest.raises(RegistryError, match="does not match"):  # source names become folder names
        load_registry(DEFAULT_REGISTRY, sources={"../escape": {"mirror_dir": "m", "files": {"a": digest}}})
    manifest = tmp_path / "m.sha256"
    manifest.write_text(f"{'0' * 64}  ../outside.wav\n")
    with pytest.raises(ValueError, match=r"m\.sha256:1: '\.\./outside\.wav' is not a plain relative path"):
        read_manifest(manifest)


def test_experiment_names_are_folder_safe():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    entry = {"data": "mnist", "model": {"family": "dense_ae", "encoder": [4]}, "weights": "w.pt"}

    def name_errors(name):
        return [e for e in schema_errors({"experiments": {name: entry}}, schema) if "does not match" in e]

    assert name_errors("ok_name_1") == []
    assert name_errors("../../escape") and name_errors("a/b")


# 3. Tampered raw data: tests/test_datasets.py::test_a_downloaded_file_changed_afterwards_is_refused


# 4. Errors that came late or without their key -----------------------------------------------


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("figures:\n  dpi: 150\n  samples: [1, 2\nrun: []\n")
    with pytest.raises(ConfigError, match=r"config\.yaml:4:\d+: YAML syntax error"):
        load_config_file(bad)
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="holds a mapping of keys, not list"):
        load_config_file(tmp_path / "list.yaml")


def test_spectrogram_errors_name_the_block_they_come_from():
    config = {"default": {"bandpass_hz": [1000, 8000], "fmax_hz": 8000}, "fsdd": {"bandpass_hz": [3000, 1000]}}
    with pytest.raises(ValueError, match=r"spectrogram\.fsdd\.bandpass_hz must be 0 < low < high"):
        spectrogram_params(config, "fsdd")
    config = {"default": {"fmin_hz": 9000, "fmax_hz": 8000}}
    with pytest.raises(ValueError, match=r"spectrogram\.default\.fmin_hz must be below spectrogram\.default\.fmax_hz"):
        spectrogram_params(config, "fsdd")


def test_cuda_on_a_machine_without_it_is_a_config_error():

    if torch.cuda.is_available():
        assert cuda_config_error("cuda:0") is None
        assert "CUDA device(s)" in cuda_config_error(f"cuda:{torch.cuda.device_count()}")
    else:
        assert cuda_config_error("cuda") == (
            "compute.device: 'cuda' but this machine has no CUDA device (use 'auto' or 'cpu')"
        )
    assert cuda_config_error("auto") is None and cuda_config_error("cpu") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="GPU driver device nodes: checked on Linux only")
def test_no_gpu_driver_means_no_cuda_without_asking_torch(tmp_path):
    """The workflow asks whether CUDA is here for every Snakemake call; where no
    GPU driver's device node exists the answer is no, without importing torch."""

    assert not gpu_driver_present((str(tmp_path / "nvidiactl"), str(tmp_path / "nvhost-*")))
    (tmp_path / "nvhost-ctrl").touch()
    assert gpu_driver_present((str(tmp_path / "nvidiactl"), str(tmp_path / "nvhost-*")))
    assert cuda_available() == torch.cuda.is_available()  # the shortcut agrees with torch here
    probe = "import sys; from aemap.devices import cuda_available; print(cuda_available(), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    if not gpu_driver_present():
        assert out == ["False", "False"]
    else:
        assert out == [str(torch.cuda.is_available()), "True"]


def test_a_file_without_digest_is_refused():
    no_digest = {"mine": {"mirror_dir": "mine", "files": {"a.bin": {"size": 10}}}}
    with pytest.raises(RegistryError, match=r"sources\.mine\.files\.a\.bin"):
        load_registry(DEFAULT_REGISTRY, sources=no_digest)


# 5. Slow offline failures ---------------------------------------------------------------------


def test_an_unresolvable_host_fails_at_once_not_after_retries(tmp_path, monkeypatch):
    # The pauses between retries are recorded, not timed: a slow resolver must not fail the test.
    pauses = []
    monkeypatch.setattr("aemap.data.download.time", SimpleNamespace(sleep=pauses.append))
    spec = SourceSpec(
        name="s",
        mirror_dir="s",
        files=(FileSpec("a.bin", sha256="0" * 64),),
        urls=("http://no-such-host.invalid/data/",),
    )
    with pytest.raises(DownloadError, match="cannot reach http://no-such-host.invalid/data/a.bin"):
        fetch_source(spec, tmp_path / "s", settings=FAST)  # 3 retries with 1, 2, 4 s pauses if transient
    assert pauses == []
    assert not (tmp_path / "s").exists() and not (tmp_path / "_archives").exists()  # nothing left behind


def test_failed_downloads_are_those_of_this_run_that_left_no_folder(tmp_path):
    import os

    from aemap.data.failures import failed_downloads

    logs, raw = tmp_path / "logs", tmp_path / "raw"
    logs.mkdir()
    (raw / "fetched").mkdir(parents=True)
    for name in ("fetched", "failed", "earlier"):
        (logs / f"{name}.log").write_text("...")
    os.utime(logs / "earlier.log", (1_000_000, 1_000_000))  # a log of an earlier run
    since = (logs / "failed.log").stat().st_mtime
    sources = ["fetched", "failed", "earlier", "never_run"]
    assert failed_downloads(sources, raw, logs, since) == ["failed"]


def test_name_resolution_is_told_from_transient_failures():
    dns = requests.ConnectionError("HTTPConnectionPool(host='x.invalid'): Max retries exceeded (NameResolutionError)")
    refused = requests.ConnectionError("HTTPConnectionPool(host='127.0.0.1'): [Errno 111] Connection refused")
    assert _is_name_resolution_failure(dns) and not _is_name_resolution_failure(refused)


def test_a_missing_mirror_folder_is_named(tmp_path):
    spec = load_registry(DEFAULT_REGISTRY).source("mnist")
    with pytest.raises(DownloadError, match=r"mirror .*/no-mirror: no such folder"):
        fetch_source(spec, tmp_path / "mnist", mirror=str(tmp_path / "no-mirror"), settings=FAST)


def test_the_download_rule_does_not_repeat_a_checksum_failure():
    text = (REPO / "workflow/rules/data.smk").read_text()
    rule = text[text.index("rule download_source:") : text.index("rule prepare_dataset:")]
    assert "retries:" not in rule  # transient failures are retried inside the download, per file


# 6. Leftovers and claims ----------------------------------------------------------------------


def test_atomic_writes_reach_the_disk_before_the_rename(tmp_path, monkeypatch):
    import os

    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("data")
    assert calls == ["fsync", "replace"] and (tmp_path / "out.txt").read_text() == "data"


def test_the_readme_tells_how_to_resume_a_killed_run():
    assert "--unlock" in (REPO / "README.md").read_text()


# 7. The CLI -----------------------------------------------------------------------------------


def test_cli_reports_errors_and_finds_its_registry_from_anywhere(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # not the repository: the default registry is found from the package
    assert DEFAULT_REGISTRY.is_file()
    assert main(["fetch", "no_such_source", str(tmp_path / "x")]) == 1
    assert "aemap fetch: unknown source 'no_such_source'" in capsys.readouterr().err
    assert main(["fetch", "mnist", str(tmp_path / "x"), "--registry", str(tmp_path / "none.yaml")]) == 1
    assert "none.yaml" in capsys.readouterr().err
    assert main(["manifest", str(tmp_path / "no-folder"), str(tmp_path / "m.sha256")]) in (0, 1)
    Path(tmp_path / "m.sha256").unlink(missing_ok=True)
