"""Build a model from its config entry; save and load checkpoints that carry
the config they were trained with."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from aemap.io import atomic_path
from aemap.models.networks import ACTIVATIONS, ConvClassifier, DenseAutoencoder


class ModelConfigError(ValueError):
    """A model setting is impossible (names the key)."""


def build_model(spec: dict[str, Any], input_shape: Sequence[int], n_classes: int, key: str = "model") -> nn.Module:
    """The model described by config ``experiments.<name>.model``."""
    family = spec.get("family")
    n_in = math.prod(input_shape)
    for name in ("activation", "latent_activation", "output_activation"):
        if name in spec and spec[name] not in ACTIVATIONS:
            raise ModelConfigError(f"{key}.{name}: unknown activation {spec[name]!r}; known: {', '.join(ACTIVATIONS)}")
    try:
        if family == "dense_ae":
            widths = list(spec.get("encoder", []))
            if not widths:
                raise ModelConfigError(
                    f"{key}.encoder: empty layer list; give the hidden widths, the last = latent size"
                )
            if any(w < 1 for w in widths) or any(w < 1 for w in spec.get("decoder") or []):
                raise ModelConfigError(f"{key}: layer widths must be positive, got {widths}")
            if widths[-1] > n_in:
                raise ModelConfigError(
                    f"{key}.encoder: latent size {widths[-1]} is larger than the input ({n_in} = {tuple(input_shape)})"
                )
            return DenseAutoencoder(
                input_shape,
                widths,
                decoder_widths=spec.get("decoder"),
                activation_name=spec.get("activation", "relu"),
                latent_activation=spec.get("latent_activation", "relu"),
                output_activation=spec.get("output_activation", "sigmoid"),
            )
        if family == "cnn":
            channels = list(spec.get("channels", []))
            if not channels:
                raise ModelConfigError(f"{key}.channels: empty layer list")
            return ConvClassifier(
                input_shape,
                n_classes,
                channels=channels,
                kernel_size=spec.get("kernel_size", 3),
                pool=spec.get("pool", 2),
                hidden=spec.get("hidden", [128]),
                activation_name=spec.get("activation", "relu"),
            )
    except ValueError as err:
        if isinstance(err, ModelConfigError):
            raise
        raise ModelConfigError(f"{key}: {err}") from err
    raise ModelConfigError(f"{key}.family: unknown model family {family!r}; known: dense_ae, cnn")


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, **meta: Any) -> None:
    """Weights plus everything needed to rebuild the model (``model_spec``,
    ``input_shape``, ``n_classes``) and the run's config; written atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # torch.save names the archive's inner folder after the file; saving to a
    # buffer keeps it fixed ("archive"), so equal weights give equal bytes.
    buffer = io.BytesIO()
    torch.save({"state_dict": state, **meta}, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model of a checkpoint in eval mode; returns (model, checkpoint)."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    model = build_model(ckpt["model_spec"], ckpt["input_shape"], ckpt["n_classes"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt


def load_weights(model: nn.Module, path: str | os.PathLike[str], key: str = "weights") -> nn.Module:
    """Load a user's trained weights into ``model`` (built from the experiment's
    model block): a state dict, or an aemap checkpoint (its ``state_dict``).
    Unpickling is restricted to tensors and plain containers (``weights_only``).
    Errors name ``key`` and say which parameters do not fit."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ModelConfigError(f"{key}: cannot read {path} as a state dict ({type(err).__name__}: {err})") from None
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelConfigError(f"{key}: {path} holds no state dict (a mapping of parameter names to tensors)")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k} {tuple(state[k].shape)} (model: {tuple(own[k].shape)})"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        parts = [
            f"missing {missing}" if missing else "",
            f"unexpected {unexpected}" if unexpected else "",
            f"shape differs: {', '.join(wrong)}" if wrong else "",
        ]
        raise ModelConfigError(
            f"{key}: {path} does not fit the experiment's model block: "
            + "; ".join(p for p in parts if p)
            + f". The model's parameters: {', '.join(f'{k} {tuple(v.shape)}' for k, v in own.items())}"
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return model.eval()
