"""The two model families: a dense autoencoder and a convolutional classifier.

Every autoencoder exposes ``encoder`` and ``decoder`` as modules of their own
(later stages permute encodings and differentiate the encoder), and
``decoder_logits`` (the decoder without its output activation) for
numerically stable losses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "linear": nn.Identity,
}


def activation(name: str, key: str = "activation") -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"{key}: unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


class DenseAutoencoder(nn.Module):
    """Fully connected autoencoder for (N, *input_shape) inputs.

    ``encoder_widths`` are the hidden widths of the encoder, the last being the
    latent size (``[12]``: 784 -> 12; ``[128, 32]``: 784 -> 128 -> 32).
    The decoder mirrors the encoder unless ``decoder_widths`` (hidden widths
    between latent and output) is given.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        encoder_widths: Sequence[int],
        decoder_widths: Sequence[int] | None = None,
        activation_name: str = "relu",
        latent_activation: str = "relu",
        output_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        n_in = math.prod(self.input_shape)
        widths = [n_in, *encoder_widths]
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            last = i == len(widths) - 2
            layers += [nn.Linear(a, b), activation(latent_activation if last else activation_name)]
        self.encoder = nn.Sequential(*layers)
        hidden = list(decoder_widths) if decoder_widths is not None else list(encoder_widths[-2::-1])
        widths = [encoder_widths[-1], *hidden, n_in]
        layers = []
        for a, b in zip(widths[:-2], widths[1:-1], strict=True):
            layers += [nn.Linear(a, b), activation(activation_name)]
        layers += [nn.Linear(widths[-2], widths[-1])]
        self.decoder = nn.Sequential(
            *layers, activation(output_activation, "output_activation"), nn.Unflatten(1, self.input_shape)
        )
        self.latent_dim = int(encoder_widths[-1])
        self.output_activation = output_activation

    @property
    def decoder_logits(self) -> nn.Sequential:
        """The decoder up to (not including) its output activation, flat output."""
        return self.decoder[:-2]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ConvClassifier(nn.Module):
    """Conv -> activation -> max-pool blocks, then dense layers to class logits.

    With ``channels=[32, 64, 64]``, 3x3 'same' convolutions and 2x2 pools on
    28x28 inputs this is Arumugam & Kiran's Table 3: 28 -> 14 -> 7 -> 3,
    flattened to 3 x 3 x 64 = 576, then 128, then 10.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        channels: Sequence[int] = (32, 64, 64),
        kernel_size: int = 3,
        pool: int = 2,
        hidden: Sequence[int] = (128,),
        activation_name: str = "relu",
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        self.input_shape = shape
        in_channels = 1 if len(shape) == 2 else shape[0]
        layers: list[nn.Module] = []
        for c in channels:
            layers += [
                nn.Conv2d(in_channels, c, kernel_size, padding=kernel_size // 2),
                activation(activation_name),
                nn.MaxPool2d(pool),
            ]
            in_channels = c
        self.features = nn.Sequential(*layers)
        try:
            with torch.no_grad():
                flat = self.features(torch.zeros(1, *self._channel_shape(shape))).numel()
        except RuntimeError:
            flat = 0
        if flat == 0:
            raise ValueError(f"channels: {len(channels)} pooling layers shrink a {shape} input to nothing")
        self.flat_features = flat
        widths = [flat, *hidden]
        dense: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            dense += [nn.Linear(a, b), activation(activation_name)]
        dense.append(nn.Linear(widths[-1], n_classes))
        self.classifier = nn.Sequential(*dense)
        self.n_classes = n_classes

    @staticmethod
    def _channel_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
        return (1, *shape) if len(shape) == 2 else shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # (N, H, W) grey images: add the channel axis
            x = x.unsqueeze(1)
        return self.classifier(self.features(x))
