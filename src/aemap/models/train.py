"""Deterministic, fast training on in-memory tensors.

No DataLoader: the whole dataset is one tensor on the device; each epoch takes
one shuffled copy (and, for denoising, one noise draw) and then slices
contiguous mini-batches out of it, so a step costs only the model's work.
Fused Adam updates every parameter in one kernel. Seeds fix the weight
initialisation, the shuffling and the noise, so on the CPU two runs with the
same thread count give byte-identical weights. A CNN trains with max-pool
before ReLU (bit-identical weights, less work) and, on the CPU, channels-last
feature maps (``train.memory_format``; aemap.models.layout).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aemap.models.factory import ModelConfigError, build_model, load_weights, n_parameters
from aemap.models.layout import MEMORY_FORMATS, channels_last, layout_hint, pool_before_relu, uses_channels_last
from aemap.models.networks import DenseAutoencoder
from aemap.progress import progress_bar

log = logging.getLogger(__name__)

# Seeds of the independent random streams, offset from the experiment's seed.
_SHUFFLE, _NOISE, _TEST_NOISE = 1, 2, 3


@dataclass(frozen=True)
class TrainConfig:
    """Config ``experiments.<name>.train`` (the optimiser is Adam, as in both papers)."""

    epochs: int
    batch_size: int
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    loss: str = "bce"
    shuffle: bool = True
    noise: float = 0.0
    seed: int = 0
    eval_batch_size: int = 4096
    # auto: a CNN's feature maps channels-last on the CPU (an epoch ~1.5x faster there; the
    # weights then differ from the plain layout's by float rounding).
    memory_format: str = "auto"

    @classmethod
    def from_config(cls, cfg: dict[str, Any], key: str = "train") -> TrainConfig:
        cfg = dict(cfg)
        optimizer = dict(cfg.pop("optimizer", {}))
        if optimizer.pop("name", "adam") != "adam":
            raise ModelConfigError(f"{key}.optimizer.name: only 'adam' is implemented")
        cfg.pop("threads", None)  # a resource, read by the workflow
        values = {**cfg, **optimizer}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ModelConfigError(f"{key}: unknown key(s) {sorted(unknown)}")
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        if values.get("memory_format", "auto") not in MEMORY_FORMATS:
            raise ModelConfigError(
                f"{key}.memory_format: {values['memory_format']!r} is not one of {', '.join(MEMORY_FORMATS)}"
            )
        return cls(**values)


def corrupt(x: torch.Tensor, kappa: float, generator: torch.Generator, out: torch.Tensor | None = None) -> torch.Tensor:
    """Arumugam & Kiran Eq. 9: clip(x + kappa * N(0, 1), 0, 1); ``x`` itself when kappa = 0.

    Works in place on the noise (into ``out`` if given): an expression with
    temporaries costs ~10x more on a 60,000-image epoch.
    """
    if kappa == 0:
        return x
    if out is None:
        out = torch.empty_like(x)
    torch.randn(x.shape, generator=generator, out=out)
    return out.mul_(kappa).add_(x).clamp_(0.0, 1.0)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _reconstruction_loss(model: nn.Module, loss: str) -> Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]:
    """loss(inputs, targets, reduction). Sigmoid + BCE is computed from logits (stable, one op)."""
    if loss not in ("bce", "mse"):
        raise ModelConfigError(f"train.loss: {loss!r} is not a reconstruction loss (bce, mse)")
    if loss == "bce" and isinstance(model, DenseAutoencoder) and model.output_activation == "sigmoid":
        encoder, logits = model.encoder, model.decoder_logits

        def bce_logits(x: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(logits(encoder(x)), target.flatten(1), reduction=reduction)

        return bce_logits
    fn = F.binary_cross_entropy if loss == "bce" else F.mse_loss
    return lambda x, target, reduction="mean": fn(model(x), target, reduction=reduction)


@dataclass
class TrainResult:
    """Per-epoch losses and final metrics (deterministic: byte-identical on a rerun)
    and the wall-clock ``timing`` kept apart (it differs on every run)."""

    history: list[dict[str, float]]
    metrics: dict[str, Any]
    timing: dict[str, Any] = field(default_factory=dict)


def _epochs(n: int, name: str, progress: bool):
    return progress_bar(range(n), desc=f"train {name}", unit="epoch", disable=not progress)


@torch.no_grad()
def evaluate_reconstruction(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, cfg: TrainConfig) -> float:
    """Mean per-pixel loss over the whole set, in chunks of ``eval_batch_size``."""
    model.eval()
    loss_fn = _reconstruction_loss(model, cfg.loss)
    total = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for start in range(0, len(inputs), cfg.eval_batch_size):
        sl = slice(start, start + cfg.eval_batch_size)
        total += loss_fn(inputs[sl], targets[sl], "sum").double()
    return float(total / targets.numel())


@contextlib.contextmanager
def _fast_paths(model: nn.Module, cfg: TrainConfig, device: torch.device) -> Iterator[None]:
    """Inside, ``model`` runs max-pool before ReLU (the same weights, bit for
    bit) and, as ``cfg.memory_format`` says, channels-last; its weights are
    back in their own layout afterwards."""
    fast_layout = uses_channels_last(model, device, cfg.memory_format)
    with (
        channels_last(model, fast_layout),
        pool_before_relu(model, keep=None) as pairs,
        layout_hint(fast_layout, "train.memory_format"),
    ):
        if fast_layout or pairs:
            log.info(
                "feature maps %s; %d ReLU -> max-pool pair(s) run pool first",
                "channels-last" if fast_layout else "in PyTorch's layout",
                pairs,
            )
        yield


def _fit(
    model: nn.Module,
    n: int,
    cfg: TrainConfig,
    epoch_batches: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    evaluate: Callable[[], dict[str, float]],
    name: str,
    progress: bool,
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """The one epoch loop of both families: each epoch takes (inputs, targets) of
    the whole training set from ``epoch_batches`` (shuffled, noised), slices
    contiguous mini-batches, and ends with the ``evaluate`` row. Returns
    (history, timing)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, fused=True)
    history: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    start_all = time.perf_counter()
    bar = _epochs(cfg.epochs, name, progress)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        inputs, targets = epoch_batches()
        running = torch.zeros((), device=inputs.device)
        for start in range(0, n, cfg.batch_size):
            xb, tb = inputs[start : start + cfg.batch_size], targets[start : start + cfg.batch_size]
            loss = loss_of(xb, tb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.detach() * len(xb)
        row = {"epoch": epoch + 1, "train_loss": float(running / n), **evaluate()}
        epoch_seconds.append(time.perf_counter() - t0)
        history.append(row)
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k != "epoch"})
        log.info(
            "epoch %d/%d %s (%.1f s)",
            epoch + 1,
            cfg.epochs,
            " ".join(f"{k} {v:.5f}" for k, v in row.items() if k != "epoch"),
            epoch_seconds[-1],
        )
    wall = time.perf_counter() - start_all
    return history, {
        "wall_seconds": wall,
        "seconds_per_epoch": wall / max(cfg.epochs, 1),
        "epoch_seconds": epoch_seconds,
    }


def fit_autoencoder(
    model: nn.Module,
    x_train: np.ndarray,
    x_test: np.ndarray,
    cfg: TrainConfig,
    device: torch.device,
    name: str = "",
    progress: bool = True,
) -> TrainResult:
    """Train to reconstruct clean images from (optionally noisy) inputs."""
    model.to(device)
    x_tr = torch.as_tensor(x_train, device=device)
    x_te = torch.as_tensor(x_test, device=device)
    shuffle_gen = _generator(cfg.seed + _SHUFFLE, torch.device("cpu"))
    noise_gen = _generator(cfg.seed + _NOISE, device)
    test_inputs = corrupt(x_te, cfg.noise, _generator(cfg.seed + _TEST_NOISE, device))
    loss_fn = _reconstruction_loss(model, cfg.loss)
    n = len(x_tr)
    # One shuffled copy and one noisy copy per epoch, in buffers reused every epoch.
    targets = torch.empty_like(x_tr) if cfg.shuffle else x_tr
    noisy = torch.empty_like(x_tr) if cfg.noise > 0 else None

    def epoch_batches() -> tuple[torch.Tensor, torch.Tensor]:
        if cfg.shuffle:
            torch.index_select(x_tr, 0, torch.randperm(n, generator=shuffle_gen).to(device), out=targets)
        return corrupt(targets, cfg.noise, noise_gen, out=noisy), targets

    with _fast_paths(model, cfg, device):
        history, timing = _fit(
            model,
            n,
            cfg,
            epoch_batches,
            loss_fn,
            lambda: {"test_loss": evaluate_reconstruction(model, test_inputs, x_te, cfg)},
            name,
            progress,
        )
        # Final losses by a full pass in eval mode (the running train loss mixes weights of a whole epoch).
        train_inputs = corrupt(x_tr, cfg.noise, _generator(cfg.seed + _TEST_NOISE, device))
        metrics = {
            "train_loss": evaluate_reconstruction(model, train_inputs, x_tr, cfg),
            "test_loss": evaluate_reconstruction(model, test_inputs, x_te, cfg),
            "loss": cfg.loss,
        }
        if cfg.noise > 0:
            metrics["test_loss_clean_input"] = evaluate_reconstruction(model, x_te, x_te, cfg)
    return TrainResult(history, metrics, timing)


@torch.no_grad()
def evaluate_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over the whole set."""
    model.eval()
    total, correct = torch.zeros((), dtype=torch.float64, device=x.device), torch.zeros((), device=x.device)
    for start in range(0, len(x), batch):
        logits = model(x[start : start + batch])
        target = y[start : start + batch]
        total += F.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(1) == target).sum()
    return float(total / len(x)), float(correct / len(x))


def fit_classifier(
    model: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    cfg: TrainConfig,
    device: torch.device,
    name: str = "",
    progress: bool = True,
) -> TrainResult:
    """Train a classifier with cross-entropy on clean images."""
    if cfg.loss != "cross_entropy":
        raise ModelConfigError(f"train.loss: a classifier trains with 'cross_entropy', not {cfg.loss!r}")
    model.to(device)
    x_tr, y_tr = torch.as_tensor(x_train, device=device), torch.as_tensor(y_train, device=device)
    x_te, y_te = torch.as_tensor(x_test, device=device), torch.as_tensor(y_test, device=device)
    shuffle_gen = _generator(cfg.seed + _SHUFFLE, torch.device("cpu"))
    n = len(x_tr)

    def epoch_batches() -> tuple[torch.Tensor, torch.Tensor]:
        order = torch.randperm(n, generator=shuffle_gen).to(device) if cfg.shuffle else torch.arange(n, device=device)
        return x_tr[order], y_tr[order]

    def evaluate() -> dict[str, float]:
        test_loss, test_acc = evaluate_classifier(model, x_te, y_te, cfg.eval_batch_size)
        return {"test_loss": test_loss, "test_accuracy": test_acc}

    with _fast_paths(model, cfg, device):
        history, timing = _fit(
            model, n, cfg, epoch_batches, lambda xb, yb: F.cross_entropy(model(xb), yb), evaluate, name, progress
        )
        train_loss, train_acc = evaluate_classifier(model, x_tr, y_tr, cfg.eval_batch_size)
        test_loss, test_acc = evaluate_classifier(model, x_te, y_te, cfg.eval_batch_size)
    metrics = {
        "train_loss": train_loss,
        "test_loss": test_loss,
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        "loss": cfg.loss,
    }
    return TrainResult(history, metrics, timing)


def evaluate_experiment(
    model: nn.Module, arrays: dict[str, np.ndarray], loss: str, device: torch.device, batch: int = 4096
) -> dict[str, Any]:
    """Train and test metrics of a model trained elsewhere (an imported experiment):
    loss (and accuracy) as training would report them, with clean inputs."""
    model.to(device).eval()
    x_tr, x_te = torch.as_tensor(arrays["x_train"], device=device), torch.as_tensor(arrays["x_test"], device=device)
    if isinstance(model, DenseAutoencoder):
        cfg = TrainConfig(epochs=1, batch_size=batch, loss=loss, eval_batch_size=batch)
        return {
            "train_loss": evaluate_reconstruction(model, x_tr, x_tr, cfg),
            "test_loss": evaluate_reconstruction(model, x_te, x_te, cfg),
            "loss": loss,
        }
    y_tr, y_te = torch.as_tensor(arrays["y_train"], device=device), torch.as_tensor(arrays["y_test"], device=device)
    train_loss, train_acc = evaluate_classifier(model, x_tr, y_tr, batch)
    test_loss, test_acc = evaluate_classifier(model, x_te, y_te, batch)
    return {
        "train_loss": train_loss,
        "test_loss": test_loss,
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        "loss": "cross_entropy",
    }


def train_experiment(
    name: str,
    experiment: dict[str, Any],
    arrays: dict[str, np.ndarray],
    device: torch.device,
    progress: bool = True,
) -> tuple[nn.Module, TrainResult]:
    """Build and train the model of config ``experiments.<name>`` on its prepared arrays."""
    key = f"experiments.{name}"
    cfg = TrainConfig.from_config(experiment["train"], f"{key}.train")
    torch.manual_seed(cfg.seed)  # the weight initialisation
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    spec = experiment["model"]
    input_shape = tuple(arrays["x_train"].shape[1:])
    model = build_model(spec, input_shape, len(arrays["classes"]), key=f"{key}.model")
    if spec["family"] == "cnn":
        result = fit_classifier(
            model, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], cfg, device, name, progress
        )
    else:
        result = fit_autoencoder(model, arrays["x_train"], arrays["x_test"], cfg, device, name, progress)
    result.metrics.update(
        epochs=cfg.epochs,
        device=str(device),
        threads=torch.get_num_threads(),
        n_parameters=n_parameters(model),
        n_train=int(len(arrays["x_train"])),
        n_test=int(len(arrays["x_test"])),
    )
    return model.cpu(), result


def import_experiment(
    name: str, experiment: dict[str, Any], arrays: dict[str, np.ndarray], device: torch.device
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model of config ``experiments.<name>`` and load its ``weights``
    (trained elsewhere) instead of training; returns (model, metrics on its data)."""
    key = f"experiments.{name}"
    spec = experiment["model"]
    model = build_model(spec, tuple(arrays["x_train"].shape[1:]), len(arrays["classes"]), key=f"{key}.model")
    load_weights(model, experiment["weights"], key=f"{key}.weights")
    # An autoencoder is scored with the loss its output suits: BCE for a sigmoid output, else MSE.
    loss = "bce" if spec["family"] == "dense_ae" and spec.get("output_activation", "sigmoid") == "sigmoid" else "mse"
    metrics = evaluate_experiment(model, arrays, loss, device)
    metrics.update(
        weights=str(experiment["weights"]),
        n_parameters=n_parameters(model),
        n_train=int(len(arrays["x_train"])),
        n_test=int(len(arrays["x_test"])),
    )
    return model.cpu(), metrics
