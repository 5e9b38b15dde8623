"""Random streams per fixed block of items, so that what a visualisation
draws does not depend on how its job is split into chunks.

The items of a job (image x initialisation x target) are cut into blocks of
``block`` consecutive items; block k draws from its own generator, seeded
from (seed, k x block). A chunk is a run of whole blocks, and every draw
(initial parameters, noise, transformations) is made block by block and
joined along the item axis. Item i therefore sees the same random numbers
whatever the memory budget or ``max_batch``; only the block size and the
device type (a GPU's generator is another algorithm) change them.

A job of at most one block draws exactly what one generator seeded from
(seed, 0) draws for the whole job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

import numpy as np
import torch


def seeded_generator(seed: int, first_item: int, device: torch.device | str) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(np.random.SeedSequence([seed, first_item]).generate_state(1)[0]))
    return g


class ItemStreams:
    """The generators of the blocks covering items [start, start + n)."""

    def __init__(self, seed: int, start: int, n: int, block: int, device: torch.device | str):
        if block < 1 or start % block:
            raise ValueError(f"ItemStreams: start {start} must be a multiple of the block size {block} (>= 1)")
        firsts = range(start, start + n, block)
        self.n = n
        self.counts = [min(block, start + n - first) for first in firsts]
        self.generators = [seeded_generator(seed, first, device) for first in firsts]

    def __len__(self) -> int:
        return self.n

    def draw(self, fn: Callable[..., torch.Tensor], shape: Sequence[int], item_dim: int = 0, **kw) -> torch.Tensor:
        shape = tuple(shape)
        if shape[item_dim] != self.n:
            raise ValueError(f"a draw for {shape[item_dim]} items from the streams of {self.n}")
        parts = [
            fn((*shape[:item_dim], count, *shape[item_dim + 1 :]), generator=g, **kw)
            for g, count in zip(self.generators, self.counts, strict=True)
        ]
        return parts[0] if len(parts) == 1 else torch.cat(parts, item_dim)


Random = Union[torch.Generator, ItemStreams, None]  # noqa: UP007 (a runtime alias)


def random_tensor(
    rng: Random, fn: Callable[..., torch.Tensor], shape: Sequence[int], item_dim: int = 0, **kw
) -> torch.Tensor:
    """``fn(shape, generator=..., **kw)`` (``torch.rand``, ``torch.randn``)
    from one generator, or block by block from ``ItemStreams`` along
    ``item_dim``."""
    if isinstance(rng, ItemStreams):
        return rng.draw(fn, shape, item_dim, **kw)
    return fn(tuple(shape), generator=rng, **kw)
