"""Where training time goes: the Arumugam & Kiran DAE (784-128-32, batch 25).

Prints seconds per epoch (60,000 MNIST images, 2,400 steps) for
  1. a plain PyTorch loop: DataLoader over a TensorDataset, per-batch noise, Adam;
  2. the same loop over in-memory tensors (no DataLoader);
  3. aemap's trainer (one shuffled copy + one noise draw per epoch, contiguous
     slices, BCE from logits, fused Adam);
and the split of aemap's step time into forward, backward and optimiser.
Each is timed on `--steps` steps and scaled to one epoch, in the same run.

    .venv/bin/python benchmarks/training.py [--prepared results/prepared/mnist.npz] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from aemap.io import load_npz
from aemap.models import build_model
from aemap.models.train import TrainConfig, fit_autoencoder

SPEC = {"family": "dense_ae", "encoder": [128, 32]}
BATCH, KAPPA, STEPS_PER_EPOCH = 25, 0.1, 2400  # kappa as in config.yaml


def load_images(path: Path) -> torch.Tensor:
    if path.is_file():
        return torch.as_tensor(load_npz(path)["x_train"])
    print(f"({path} not found: using random images of the same shape)")
    return torch.rand(60000, 28, 28)


def plain_loop(x: torch.Tensor, steps: int, use_loader: bool) -> float:
    torch.manual_seed(0)
    model = build_model(SPEC, (28, 28), 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = DataLoader(TensorDataset(x), batch_size=BATCH, shuffle=True) if use_loader else None
    perm = torch.randperm(len(x))
    it = iter(batches) if batches else None
    t0 = time.perf_counter()
    for i in range(steps):
        xb = next(it)[0] if it else x[perm[i * BATCH : (i + 1) * BATCH]]
        noisy = (xb + KAPPA * torch.randn_like(xb)).clamp(0, 1)
        loss = F.binary_cross_entropy(model(noisy), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps * STEPS_PER_EPOCH


def aemap_trainer(x: torch.Tensor, steps: int) -> float:
    """The trainer's own epoch time (shuffle, noise, steps, a 1,000-image test pass),
    without the one-off final evaluation that fit_autoencoder adds after the last epoch."""
    torch.manual_seed(0)
    model = build_model(SPEC, (28, 28), 10)
    cfg = TrainConfig(epochs=1, batch_size=BATCH, noise=KAPPA, eps=1e-8)
    result = fit_autoencoder(
        model, x[: steps * BATCH].numpy(), x[:1000].numpy(), cfg, torch.device("cpu"), progress=False
    )
    return result.timing["epoch_seconds"][0] / steps * STEPS_PER_EPOCH


def step_breakdown(x: torch.Tensor, steps: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = build_model(SPEC, (28, 28), 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    encoder, logits = model.encoder, model.decoder_logits
    noisy = (x[: steps * BATCH] + KAPPA * torch.randn(steps * BATCH, 28, 28)).clamp(0, 1)
    times = {"forward + loss": 0.0, "backward": 0.0, "optimiser": 0.0}
    for i in range(steps):
        xb, tb = noisy[i * BATCH : (i + 1) * BATCH], x[i * BATCH : (i + 1) * BATCH]
        t0 = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(logits(encoder(xb)), tb.flatten(1))
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        times["forward + loss"] += t1 - t0
        times["backward"] += t2 - t1
        times["optimiser"] += t3 - t2
    return {k: v / steps * STEPS_PER_EPOCH for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepared", type=Path, default=Path("results/prepared/mnist.npz"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=1200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = load_images(args.prepared)
    rows = [
        ("plain loop, DataLoader", plain_loop(x, args.steps, use_loader=True)),
        ("plain loop, in-memory tensors", plain_loop(x, args.steps, use_loader=False)),
        ("aemap trainer", aemap_trainer(x, args.steps)),
    ]
    print(f"\nDAE 784-128-32, batch {BATCH}, kappa {KAPPA}, {args.threads} thread(s), torch {torch.__version__}")
    print(f"{'loop':<32} {'s / epoch':>10} {'100 epochs (min)':>17} {'speed-up':>9}")
    base = rows[0][1]
    for name, sec in rows:
        print(f"{name:<32} {sec:>10.2f} {sec * 100 / 60:>17.1f} {base / sec:>8.1f}x")
    parts = step_breakdown(x, args.steps)
    total = sum(parts.values())
    print(f"\naemap step time per epoch: {total:.2f} s")
    for name, sec in parts.items():
        print(f"  {name:<16} {sec:>6.2f} s  {100 * sec / total:>5.1f} %")
    print("  (the rest of the trainer's epoch: shuffling, noise, evaluation on the test set)")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
