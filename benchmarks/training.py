"""Where training time goes: the Arumugam & Kiran DAE (784-128-32, batch 25)
and the Table 3 CNN (batch 64).

Prints seconds per epoch (60,000 MNIST images) of the DAE (2,400 steps) for
  1. a plain PyTorch loop: DataLoader over a TensorDataset, per-batch noise, Adam;
  2. the same loop over in-memory tensors (no DataLoader);
  3. aemap's trainer (one shuffled copy + one noise draw per epoch, contiguous
     slices, BCE from logits, fused Adam);
and the split of aemap's step time into forward, backward and optimiser;
then of the CNN (938 steps) for a plain loop over in-memory tensors and
aemap's trainer in PyTorch's layout (max-pool before ReLU only: the same
weights bit for bit) and channels-last (`train.memory_format: auto` on the
CPU). Each is timed on `--steps` steps and scaled to one epoch, in the same
run; the CNN's rows are the best of `--repeat`.

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
from aemap.models.train import TrainConfig, fit_autoencoder, fit_classifier

SPEC = {"family": "dense_ae", "encoder": [128, 32]}
BATCH, KAPPA, STEPS_PER_EPOCH = 25, 0.1, 2400  # kappa as in config.yaml


CNN = {"family": "cnn", "channels": [32, 64, 64], "kernel_size": 3, "pool": 2, "hidden": [128]}
CNN_BATCH, CNN_STEPS_PER_EPOCH = 64, 60000 / 64


def load_images(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    if path.is_file():
        arrays = load_npz(path)
        return torch.as_tensor(arrays["x_train"]), torch.as_tensor(arrays["y_train"])
    print(f"({path} not found: using random images of the same shape)")
    return torch.rand(60000, 28, 28), torch.randint(0, 10, (60000,))


def cnn_plain_loop(x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """In-memory tensors, shuffled, the model as written (NCHW, ReLU then pool), Adam."""
    torch.manual_seed(0)
    model = build_model(CNN, (28, 28), 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    perm = torch.randperm(len(x))
    t0 = time.perf_counter()
    for i in range(steps):
        idx = perm[i * CNN_BATCH : (i + 1) * CNN_BATCH]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps * CNN_STEPS_PER_EPOCH


def cnn_trainer(x: torch.Tensor, y: torch.Tensor, steps: int, memory_format: str) -> float:
    torch.manual_seed(0)
    model = build_model(CNN, (28, 28), 10)
    cfg = TrainConfig(epochs=1, batch_size=CNN_BATCH, loss="cross_entropy", memory_format=memory_format)
    n = steps * CNN_BATCH
    x_np, y_np = x[:n].numpy(), y[:n].numpy()
    # A 64-image test pass: the epoch time is then the training steps (the plain loop evaluates nothing).
    result = fit_classifier(model, x_np, y_np, x_np[:64], y_np[:64], cfg, torch.device("cpu"), progress=False)
    return result.timing["epoch_seconds"][0] / steps * CNN_STEPS_PER_EPOCH


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
    parser.add_argument("--cnn-steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="the CNN's rows: best of this many runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y = load_images(args.prepared)
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

    cnn_rows = [
        ("plain loop, in-memory tensors", lambda: cnn_plain_loop(x, y, args.cnn_steps)),
        ("aemap trainer, PyTorch's layout", lambda: cnn_trainer(x, y, args.cnn_steps, "contiguous")),
        ("aemap trainer, channels-last", lambda: cnn_trainer(x, y, args.cnn_steps, "channels_last")),
    ]
    print(f"\nTable 3 CNN, batch {CNN_BATCH}, {args.threads} thread(s), best of {args.repeat}")
    print(f"{'loop':<32} {'s / epoch':>10} {'10 epochs (min)':>16} {'speed-up':>9}")
    times = [min(run() for _ in range(args.repeat)) for _, run in cnn_rows]
    for (name, _), sec in zip(cnn_rows, times, strict=True):
        print(f"{name:<32} {sec:>10.2f} {sec * 10 / 60:>16.1f} {times[0] / sec:>8.1f}x")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
