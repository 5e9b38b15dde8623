"""`make gpu-check`: the GPU path in one command, with one table at the end.

On a machine with a CUDA GPU: the GPU tests (tests/test_gpu.py: fast
permutation == reference loop, complex step == autograd, deterministic
training, attribution; all on ``cuda``), each method timed on ``cuda`` beside
the CPU, and the smoke reproduction with ``compute.device: cuda``. Without a
GPU it says so and exits 0 having run nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def best_seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def timings(threads: int, accelerator: str = "cuda") -> list[tuple[str, float, float]]:
    """(what, CPU seconds, ``accelerator`` seconds) for each method at a realistic size."""
    from aemap.attribution.settings import resolve
    from aemap.attribution.stage import attribute_and_visualise
    from aemap.explain.permutation import pixel_latent_importance
    from aemap.explain.saliency import autograd_jacobian
    from aemap.models import build_model
    from aemap.models.train import TrainConfig, fit_autoencoder

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = (rng.uniform(size=(10_000, 28, 28)) * (rng.uniform(size=(10_000, 28, 28)) > 0.8)).astype(np.float32)
    rows = []
    for name, fn in [
        (
            "permutation importance, 784-128-32, N=10,000, P=4",
            lambda d: pixel_latent_importance(
                build_model({"family": "dense_ae", "encoder": [128, 32]}, (28, 28), 10).encoder.to(d),
                x,
                4,
                progress=False,
            ),
        ),
        (
            "saliency (autograd), 784-128-32, 1,000 images",
            lambda d: autograd_jacobian(
                build_model({"family": "dense_ae", "encoder": [128, 32]}, (28, 28), 10).encoder.to(d),
                x[:1000],
                images_per_pass=256,
            ),
        ),
        (
            "training, DAE 784-128-32-128-784, 1 epoch of 10,000 at batch 25",
            lambda d: fit_autoencoder(
                build_model({"family": "dense_ae", "encoder": [128, 32]}, (28, 28), 10),
                x,
                x[:1000],
                TrainConfig(epochs=1, batch_size=25, noise=0.1),
                d,
                progress=False,
            ),
        ),
    ]:
        cpu = best_seconds(lambda fn=fn: fn(torch.device("cpu")), repeats=1)
        gpu = best_seconds(lambda fn=fn: fn(torch.device(accelerator)))
        rows.append((name, cpu, gpu))

    model = build_model({"family": "cnn", "channels": [32, 64, 64], "hidden": [128]}, (28, 28), 10).eval()
    images, targets = x[:64], np.arange(64) % 10

    def visualise(device: torch.device, precision: str = "float32") -> None:
        settings = resolve(
            {
                "optimise": {"steps": 128, "inits": 1, "precision": precision},
                "ig": {"steps": 50},
                "beta": {"fallback": 0.3},
            }
        )
        model.to(device)
        attribute_and_visualise(model, "conv3", images, targets, "pyramid", settings, device)

    for precision in ("float32", "bfloat16"):  # attribution.optimise.precision
        rows.append(
            (
                f"attribution, conv3, 64 images x 128 steps, pyramid, {precision}",
                best_seconds(lambda p=precision: visualise(torch.device("cpu"), p), repeats=1),
                best_seconds(lambda p=precision: visualise(torch.device(accelerator), p)),
            )
        )
    return rows


# Every experiment whose data the real mirror holds (EMNIST and AudioMNIST need the test fixtures).
SMOKE_RUN = ["inglis_mnist01", "inglis_fmnist", "inglis_fsdd", "arumugam_dae", "arumugam_cnn", "shi_fmnist_cnn"]


def smoke_reproduction(mirror: Path, run: list[str]) -> tuple[float, int]:
    """The smoke configuration with compute.device: cuda, on the data mirror ``mirror``."""
    work = Path(tempfile.mkdtemp(prefix="aemap-gpu-smoke-"))
    overlay = work / "cuda.yaml"
    overlay.write_text(f"run: {run}\ncompute: {{device: cuda}}\n")
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(work),
        "--cores",
        "all",
        "--configfile",
        str(REPO / "tests/smoke.yaml"),
        str(overlay),
    ]
    t0 = time.perf_counter()
    result = subprocess.run(cmd, env={**os.environ, "AEMAP_DATA_MIRROR": str(mirror)})
    return time.perf_counter() - t0, result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument(
        "--mirror",
        type=Path,
        default=Path(os.environ.get("AEMAP_DATA_MIRROR", "")),
        help="local data mirror for the smoke run (default: $AEMAP_DATA_MIRROR; none: the smoke run is skipped)",
    )
    parser.add_argument("--skip-smoke", action="store_true")
    parser.add_argument(
        "--run",
        nargs="+",
        default=SMOKE_RUN,
        help="experiments of the smoke run (default: all whose data the real mirror holds)",
    )
    args = parser.parse_args()
    args.mirror = args.mirror.resolve()  # the smoke run works in a folder of its own
    if not torch.cuda.is_available():
        print(
            f"gpu-check: no CUDA GPU on this machine (torch {torch.__version__}: torch.cuda.is_available() "
            "is False); nothing was run."
        )
        return 0
    print(f"gpu-check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, Python {sys.version.split()[0]}")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", str(REPO / "tests/test_gpu.py")], cwd=REPO)
    rows = timings(args.threads)
    smoke = (None, None)
    if not args.skip_smoke and (args.mirror / "mnist").is_dir():
        smoke = smoke_reproduction(args.mirror, args.run)
    print("\n| check | CPU | CUDA | speed-up |\n| --- | --- | --- | --- |")
    print(f"| GPU tests (tests/test_gpu.py) | | {'passed' if tests.returncode == 0 else 'FAILED'} | |")
    for name, cpu, gpu in rows:
        print(f"| {name} | {cpu:.2f} s | {gpu:.3f} s | {cpu / gpu:.1f}x |")
    if smoke[0] is None:
        print("| smoke reproduction, compute.device: cuda | | not run (no data mirror: set AEMAP_DATA_MIRROR) | |")
    else:
        outcome = "passed" if smoke[1] == 0 else f"FAILED (exit {smoke[1]})"
        print(f"| smoke reproduction ({', '.join(args.run)}), compute.device: cuda | | {smoke[0]:.0f} s, {outcome} | |")
    return int(tests.returncode != 0 or (smoke[1] not in (None, 0)))


if __name__ == "__main__":
    sys.exit(main())
