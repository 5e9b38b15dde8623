"""Named hidden layers of our networks, and the two halves of a network split
at one of them.

Shi, Li & Yamaguchi attribute the neurons of one hidden layer. A layer is
named here by what it is:

* ``ConvClassifier``: ``conv1`` .. ``convN`` (the activation of each conv
  block, before its pool: full spatial resolution), ``dense1`` .. (the dense
  hidden activations);
* ``DenseAutoencoder``: ``hidden1`` .. (the encoder's hidden activations) and
  ``latent`` (the code itself);
* any model: a dotted module path as in ``model.named_modules()``.

Every named activation is a module instance of its own: Captum hooks a module,
and a shared activation module would be hooked at every place it is used.

Splitting at a layer uses hooks, not the model's structure, so it works for
any network whose later layers see the hidden layer only through that module
(no skip connection around it):

* the *trunk* runs the model up to the layer and stops there (the rest is
  never computed);
* the *head* maps a given activation tensor to the model's output by
  replacing the layer's output during a forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from aemap.compute import call_model
from aemap.models.networks import ConvClassifier, DenseAutoencoder


class LayerError(ValueError):
    """A layer name that does not exist in the model (lists the ones that do)."""


def named_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The hidden layers of ``model`` by their short names (see module doc)."""
    layers: dict[str, nn.Module] = {}
    if isinstance(model, ConvClassifier):
        blocks = [m for m in model.features if not isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
        for i, m in enumerate(blocks, 1):
            layers[f"conv{i}"] = m
        dense = [m for m in list(model.classifier)[:-1] if not isinstance(m, (nn.Flatten, nn.Linear))]
        for i, m in enumerate(dense, 1):
            layers[f"dense{i}"] = m
    elif isinstance(model, DenseAutoencoder):
        acts = [m for m in model.encoder if not isinstance(m, (nn.Flatten, nn.Linear))]
        for i, m in enumerate(acts[:-1], 1):
            layers[f"hidden{i}"] = m
        layers["latent"] = acts[-1]
    ids = [id(m) for m in layers.values()]
    if len(set(ids)) != len(ids):
        raise LayerError("two layer names share one activation module; give each layer its own module")
    return layers


def resolve_layer(model: nn.Module, name: str, key: str = "layer") -> nn.Module:
    """The module called ``name``: a short name, else a dotted module path."""
    layers = named_layers(model)
    if name in layers:
        return layers[name]
    try:
        return model.get_submodule(name)
    except AttributeError:
        known = ", ".join(layers) or "(none; use a dotted module path)"
        raise LayerError(f"{key}: {type(model).__name__} has no layer {name!r}; known: {known}") from None


def target_function(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """What the attributions explain: class logits of a classifier (before the
    softmax, as the authors), or the latent code of an autoencoder."""
    if isinstance(model, DenseAutoencoder):
        return model.encoder
    return model


class _Stop(Exception):
    """Raised by the trunk's hook once the layer has been computed."""


def trunk(forward: Callable[[torch.Tensor], torch.Tensor], layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The activation of ``layer`` for input ``x``; the layers after it are not run."""
    captured: list[torch.Tensor] = []

    def hook(_module, _inputs, output):
        captured.append(output)
        raise _Stop

    handle = layer.register_forward_hook(hook)
    try:
        forward(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not captured:
        raise LayerError(f"layer {type(layer).__name__} was not reached by the forward pass")
    return captured[0]


def check_split(
    forward: Callable[[torch.Tensor], torch.Tensor],
    layer: nn.Module,
    example: torch.Tensor,
    layer_name: str,
    targets: Sequence[int] | None = None,
) -> None:
    """Run ``forward`` once on ``example`` (a batch of one input) and check
    what the attribution needs of it.

    Clear errors where a user's model would otherwise fail deep inside:
    the model rejects inputs of that shape, ``layer`` does not run exactly
    once per forward pass (an activation module shared by several places:
    the trunk would stop at its first use), or a target is not one of the
    outputs."""
    calls: list[tuple[int, ...]] = []

    def count(_module, _inputs, output):
        calls.append(tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else ())

    handle = layer.register_forward_hook(count)
    try:
        with torch.no_grad():
            out = call_model(forward, example, "images", " (one image; attribution passes them to the model as given)")
    finally:
        handle.remove()
    what = f"attribution layer {layer_name!r} ({type(layer).__name__})"
    if not calls:
        raise LayerError(f"{what} is not reached by the model's forward pass")
    if len(calls) > 1:
        shapes = ", ".join(str(s) for s in calls)
        raise LayerError(
            f"{what} runs {len(calls)} times in one forward pass (outputs {shapes}): one module shared by several "
            "places of the network cannot name one layer. Give each place its own module, e.g. a new nn.ReLU()"
        )
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model's output must be (batch, outputs) to pick a target from; it is {shape}")
    n_out = int(out.shape[1])
    bad = [int(t) for t in (targets if targets is not None else []) if not 0 <= int(t) < n_out]
    if bad:
        raise ValueError(
            f"targets {sorted(set(bad))[:10]} are not outputs of the model: it has {n_out} (indices 0..{n_out - 1})"
        )


def head(
    forward: Callable[[torch.Tensor], torch.Tensor],
    layer: nn.Module,
    input_shape: Sequence[int],
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function from activations of ``layer`` to the model's output.

    The forward pass runs on a zero input of the right batch size and the
    layer's output is replaced by the given activations, so everything after
    the layer sees them (Captum's IntegratedGradients differentiates it)."""
    shape = tuple(int(s) for s in input_shape)

    def run(activations: torch.Tensor) -> torch.Tensor:
        handle = layer.register_forward_hook(lambda _m, _i, _o: activations)
        try:
            x = torch.zeros((activations.shape[0], *shape), dtype=activations.dtype, device=activations.device)
            return forward(x)
        finally:
            handle.remove()

    return run


def layer_shape(
    forward: Callable[[torch.Tensor], torch.Tensor], layer: nn.Module, input_shape: Sequence[int]
) -> tuple[int, ...]:
    """Shape of one item's activation at ``layer``."""
    with torch.no_grad():
        p = next(iter(getattr(forward, "parameters", lambda: iter([]))()), None)
        device = p.device if p is not None else torch.device("cpu")
        out = trunk(forward, layer, torch.zeros((1, *input_shape), device=device))
    return tuple(out.shape[1:])
