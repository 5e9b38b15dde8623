"""Saliency Jacobians: the paper's per-pixel complex-step loop, the batched
complex step, and autograd, for the DAE encoder (784-128-32) and the audio
encoder (1024 -> ... -> 32), in the same run. Prints milliseconds per image
and seconds per 1,000 images.

    .venv/bin/python benchmarks/saliency.py [--threads 2] [--images 256]

All three run on the same --images images (the loop: one pass per pixel over
all images, as the paper describes; the batched CSDA: all pixels of 32 images
per pass). Weights from
results/{arumugam_dae,inglis_fsdd}/model.pt when present, else random.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from aemap.explain.reference import csda_jacobian_loop
from aemap.explain.saliency import autograd_jacobian, csda_jacobian
from aemap.io import load_npz
from aemap.models import build_model, load_checkpoint

ENCODERS = {
    "784-128-32": ("arumugam_dae", [128, 32], (28, 28), "results/prepared/mnist.npz", "x_test"),
    "audio 1024-...-32": (
        "inglis_fsdd",
        [512, 450, 384, 256, 192, 128, 96, 64, 32],
        (32, 32),
        "results/spectrograms/fsdd.npz",
        "x",
    ),
}


def setup(name: str, n: int):
    experiment, widths, shape, data_path, key = ENCODERS[name]
    ckpt = Path(f"results/{experiment}/model.pt")
    if ckpt.is_file():
        model, _ = load_checkpoint(ckpt)
    else:
        torch.manual_seed(0)
        model = build_model({"family": "dense_ae", "encoder": widths}, shape, 10)
    x = (
        load_npz(data_path)[key][:n]
        if Path(data_path).is_file()
        else np.random.default_rng(0).uniform(size=(n, *shape))
    )
    return model.encoder.eval(), np.asarray(x, dtype=np.float32), "trained" if ckpt.is_file() else "random"


def per_image_ms(fn, x) -> float:
    fn(x[:2])  # warm-up (vmap tracing, allocations)
    t0 = time.perf_counter()
    fn(x)
    return (time.perf_counter() - t0) / len(x) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s), torch {torch.__version__}; ms per image (= s per 1,000 images)")
    header = (
        f"{'encoder':<20} {'weights':<8} {'per-pixel loop':>15} {'batched CSDA':>13} {'autograd':>9} "
        f"{'CSDA x':>7} {'autograd x':>10}"
    )
    print(header)
    print("-" * len(header))
    for name in ENCODERS:
        encoder, x, weights = setup(name, args.images)
        loop = per_image_ms(lambda v, e=encoder: csda_jacobian_loop(e, v), x)
        batched = per_image_ms(lambda v, e=encoder: csda_jacobian(e, v, images_per_pass=32), x)
        auto = per_image_ms(lambda v, e=encoder: autograd_jacobian(e, v, images_per_pass=256), x)
        print(
            f"{name:<20} {weights:<8} {loop:>15.2f} {batched:>13.2f} {auto:>9.2f} "
            f"{loop / batched:>6.1f}x {loop / auto:>9.1f}x"
        )


if __name__ == "__main__":
    main()
