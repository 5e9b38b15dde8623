"""Permutation importance: the paper's loop vs aemap's batched implementation.

For two encoders, the Arumugam & Kiran DAE encoder (784-128-32) on real MNIST
test images and the Inglis et al. audio encoder (1024 -> 512 ... 64 -> 32) on
spectrograms, with N = 1,000 and 10,000 rows and P = 4 permutations, prints
seconds for the reference loop (one full re-encode per pixel and permutation,
as `aim`), the fast path, the speed-up, and the achieved GFLOP/s against this
machine's float32 matrix-multiply rate, all measured in the same run.

Weights come from results/{arumugam_dae,inglis_fsdd}/model.pt when they exist
(the FSDD model has the AudioMNIST architecture), else from a seeded random
initialisation; images from results/prepared/mnist.npz and
results/spectrograms/fsdd.npz (rows repeated to reach N), else random images
with the same share of exact zeros. Timings do not depend on the weights.

    .venv/bin/python benchmarks/permutation.py [--threads 2] [--device cpu|cuda]
        [--reference-features K]   # time the loop on K pixels and extrapolate
        [--encoders dae audio] [--sizes 1000 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aemap.explain.permutation import PIXEL_STREAM, feature_permutation, pixel_latent_importance
from aemap.explain.reference import pixel_latent_importance_reference
from aemap.io import load_npz
from aemap.models import build_model, load_checkpoint

P = 4


def linear_flops(net: nn.Module) -> int:
    return sum(2 * m.in_features * m.out_features for m in net.modules() if isinstance(m, nn.Linear))


def matmul_rate(device: torch.device, size: int = 2048, reps: int = 10) -> float:
    a, b = torch.rand(size, size, device=device), torch.rand(size, size, device=device)
    a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * reps / (time.perf_counter() - t0) / 1e9


def encoder_and_images(name: str, n: int) -> tuple[nn.Module, np.ndarray, str]:
    if name == "dae":
        spec, shape, ckpt, data = {"family": "dense_ae", "encoder": [128, 32]}, (28, 28), "arumugam_dae", None
        path = Path("results/prepared/mnist.npz")
        if path.is_file():
            data = load_npz(path)["x_test"]
    else:
        widths = [512, 450, 384, 256, 192, 128, 96, 64, 32]
        spec, shape, ckpt, data = {"family": "dense_ae", "encoder": widths}, (32, 32), "inglis_fsdd", None
        path = Path("results/spectrograms/fsdd.npz")
        if path.is_file():
            data = load_npz(path)["x"]
    source = "trained" if Path(f"results/{ckpt}/model.pt").is_file() else "random init"
    if source == "trained":
        model, _ = load_checkpoint(f"results/{ckpt}/model.pt")
    else:
        torch.manual_seed(0)
        model = build_model(spec, shape, 10)
    if data is None:
        rng = np.random.default_rng(0)
        data = rng.uniform(0, 1, (n, *shape)).astype(np.float32)
        data[rng.uniform(size=data.shape) < 0.7] = 0
        images = "random"
    else:
        images = f"{path} ({len(data)} rows)"
    x = np.resize(data, (n, *shape)).astype(np.float32)  # repeats rows if there are fewer than n
    return model.encoder.eval(), x, f"weights: {source}; images: {images}"


def changed_pairs(x: np.ndarray, seed: int = 0) -> int:
    flat = x.reshape(len(x), -1)
    return sum(
        int(np.count_nonzero(flat[feature_permutation(seed, PIXEL_STREAM, r, j, len(x)).numpy(), j] != flat[:, j]))
        for r in range(P)
        for j in range(flat.shape[1])
    )


def reference_seconds(encoder: nn.Module, x: np.ndarray, features: int | None) -> tuple[float, bool]:
    """Seconds for the full loop; with `features`, timed on that many pixels and scaled."""
    n_features = int(np.prod(x.shape[1:]))
    if features is None or features >= n_features:
        t0 = time.perf_counter()
        pixel_latent_importance_reference(encoder, x, P)
        return time.perf_counter() - t0, False
    # Time the same loop body on the first `features` pixels only.
    xt = torch.as_tensor(x)
    flat = xt.reshape(len(x), -1)
    t0 = time.perf_counter()
    with torch.no_grad():
        z = encoder(xt)
        for r in range(P):
            for j in range(features):
                permuted = flat.clone()
                permuted[:, j] = flat[feature_permutation(0, PIXEL_STREAM, r, j, len(x)), j]
                ((encoder(permuted.view_as(xt)) - z) ** 2).mean(0)
    return (time.perf_counter() - t0) * n_features / features, True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reference-features", type=int, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--encoders", nargs="+", choices=["dae", "audio"], default=["dae", "audio"])
    parser.add_argument("--repeats", type=int, default=3, help="fast path: best of this many runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rate = matmul_rate(device)
    print(f"float32 matmul rate on {device} ({args.threads} threads): {rate:.0f} GFLOP/s; torch {torch.__version__}")
    header = (
        f"{'encoder':<10} {'N':>6} {'reference s':>12} {'fast s':>8} {'speed-up':>9} "
        f"{'changed rows':>13} {'eff. GFLOP/s':>13} {'exec. GFLOP/s':>14} {'% of matmul':>12}"
    )
    print(header)
    print("-" * len(header))
    notes = []
    for name in args.encoders:
        for n in args.sizes:
            encoder, x, origin = encoder_and_images(name, n)
            if n == args.sizes[0]:
                notes.append(f"{name}: {origin}")
            ref_s, scaled = reference_seconds(encoder, x, args.reference_features)
            enc = encoder.to(device)
            fast_s = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                pixel_latent_importance(enc, x, P, progress=False)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                fast_s = min(fast_s, time.perf_counter() - t0)
            enc.cpu()
            features = int(np.prod(x.shape[1:]))
            per_row = linear_flops(encoder)
            first = 2 * features * encoder[1].out_features
            changed = changed_pairs(x)
            reference_flops = P * features * n * per_row
            executed = n * first + changed * (per_row - first + 2 * encoder[1].out_features)
            mark = "*" if scaled else " "
            print(
                f"{name:<10} {n:>6} {ref_s:>11.2f}{mark} {fast_s:>8.2f} {ref_s / fast_s:>8.1f}x "
                f"{100 * changed / (P * features * n):>12.1f}% {reference_flops / fast_s / 1e9:>13.0f} "
                f"{executed / fast_s / 1e9:>14.1f} {100 * executed / fast_s / 1e9 / rate:>11.1f}%"
            )
    print("\n" + "\n".join(notes))
    print("eff. GFLOP/s: the reference loop's FLOPs / fast seconds; exec.: the FLOPs the fast path performs.")
    print(f"fast s: best of {args.repeats} runs; reference s: one run.")
    if args.reference_features:
        print(f"* reference timed on {args.reference_features} pixels and scaled to all pixels")


if __name__ == "__main__":
    main()
