"""Running the workflow from the tests: Snakemake's command line, and the smoke run of
every experiment, which conftest starts in the background as the session begins.

The smoke run takes minutes and leaves one of a 2-core machine's cores idle much of
the time, as do the single-threaded tests; started early, it runs while the rest of
the suite does (conftest orders the tests that read it last)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from aemap.io import file_digest

from .conftest import REPO, write_audiomnist_fixture, write_emnist_fixture

BIN = Path(sys.executable).parent
# The smoke run alone takes about 7 minutes on a 2-core machine; beside the rest of the
# suite, longer. Past this it is stopped and its tests fail with its log.
SMOKE_TIMEOUT_S = 1800


def snakemake_command(*args: str, cwd: Path | None = None) -> list[str]:
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), *args]
    if cwd is not None:
        cmd += ["-d", str(cwd)]
    return cmd


def snakemake_env(env: dict | None = None) -> dict:
    """The tests' environment for Snakemake: the caller's mirror setting must not leak
    in, each test says where data comes from."""
    return {k: v for k, v in os.environ.items() if k != "AEMAP_DATA_MIRROR"} | (env or {})


def snakemake(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        snakemake_command(*args, cwd=cwd),
        cwd=cwd or REPO,
        env=snakemake_env(env),
        capture_output=True,
        text=True,
        timeout=900,
    )


def fixture_mirror(root: Path, shared: Path) -> dict:
    """A mirror with the real MNIST, Fashion-MNIST and FSDD, and EMNIST / AudioMNIST
    fixtures; returns the config that points the registry at the fixtures' digests."""
    for name in ("mnist", "fashion-mnist", "fsdd"):
        (root / name).symlink_to(shared / name)
    write_emnist_fixture(root / "emnist")
    names = write_audiomnist_fixture(root / "audiomnist", shared)
    manifest = root / "audiomnist.sha256"
    manifest.write_text("".join(f"{file_digest(root / 'audiomnist' / n)}  {n}\n" for n in names))
    wavs = [n for n in names if n.endswith(".wav")]
    return {
        "data": {
            "mirror": str(root),
            "sources": {
                "emnist": {
                    "mirror_dir": "emnist",
                    "files": {
                        p.name: {"sha256": file_digest(p), "size": p.stat().st_size}
                        for p in sorted((root / "emnist").iterdir())
                    },
                },
                "audiomnist": {
                    "mirror_dir": "audiomnist",
                    "manifest": str(manifest),
                    "expect": {"pattern": r"data/\d\d/\d_\d\d_\d+\.wav", "count": len(wavs)},
                },
            },
        }
    }


@dataclass
class SmokeRun:
    """The smoke run (tests/smoke.yaml) of every experiment, running in the background."""

    work: Path  # Snakemake's working directory
    args: tuple[str, ...]  # its arguments besides the working directory
    process: subprocess.Popen
    stdout: Path
    stderr: Path
    started: float

    def finished(self) -> tuple[Path, tuple[str, ...]]:
        """Waits for the run; (work, args) if it succeeded, else the test fails with its log."""
        left = SMOKE_TIMEOUT_S - (time.monotonic() - self.started)
        try:
            code = self.process.wait(timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            self.stop()
            code = f"stopped after {SMOKE_TIMEOUT_S} s"
        if code != 0:
            raise AssertionError(
                f"the smoke run failed ({code}); its log:\n"
                + self.stdout.read_text()[-3000:]
                + self.stderr.read_text()[-6000:]
            )
        return self.work, self.args

    def stop(self) -> None:
        """Stops Snakemake and its jobs if still running (an interrupted session)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_smoke_run(work: Path, mirror: Path, shared: Path) -> SmokeRun:
    fixtures = work / "fixtures.yaml"
    fixtures.write_text(yaml.safe_dump(fixture_mirror(mirror, shared)))
    args = ("--cores", "2", "--configfile", str(REPO / "tests/smoke.yaml"), str(fixtures))
    stdout, stderr = work.parent / f"{work.name}.stdout", work.parent / f"{work.name}.stderr"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            snakemake_command(*args, cwd=work),
            cwd=work,
            env=snakemake_env(),
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: stop() ends its jobs too
        )
    return SmokeRun(work, args, process, stdout, stderr, time.monotonic())
