"""Tensor layouts as permutations.

A tracked tensor has a source layout (what the PyTorch code sees) and a target layout (what the
migrated Keras code holds). ``Layout.perm`` relates them: ``target = source.permute(perm)``.
Channels-first feature maps become channels-last: rank 4 has perm (0, 2, 3, 1). A tensor flattened
from a permuted map keeps a ``flattened_from`` note, because its element order differs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flattened:
    """The tensor is ``flatten(start_dim=1)`` of a source tensor whose target layout was ``perm``."""

    perm: tuple[int, ...]
    line: int


@dataclass(frozen=True)
class Layout:
    perm: tuple[int, ...]
    flattened: Flattened | None = None

    @property
    def rank(self) -> int:
        return len(self.perm)

    @property
    def is_identity(self) -> bool:
        return self.flattened is None and self.perm == tuple(range(len(self.perm)))

    def axis(self, dim: int) -> int:
        """Target axis holding source dim ``dim`` (negative dims allowed)."""
        d = dim % self.rank
        return self.perm.index(d)

    def keeps_last_dim(self) -> bool:
        return self.flattened is None and self.perm[-1] == self.rank - 1

    def reduce(self, dims: tuple[int, ...], keepdim: bool) -> Layout:
        if keepdim:
            return self
        gone = {d % self.rank for d in dims}
        kept = [p for p in self.perm if p not in gone]
        order = sorted(kept)
        return Layout(tuple(order.index(p) for p in kept))

    def permuted(self, dims: tuple[int, ...]) -> Layout:
        """Layout after the source does ``x.permute(dims)`` and the target emits nothing."""
        return Layout(tuple(dims.index(p) for p in self.perm))

    def to_source_order(self) -> tuple[int, ...]:
        """The transpose that brings a target tensor back into source order."""
        inv = [0] * self.rank
        for i, p in enumerate(self.perm):
            inv[p] = i
        return tuple(inv)

    def describe(self) -> str:
        if self.flattened is not None:
            return "flattened from channels-last"
        if self.is_identity:
            return "unchanged"
        if self == channels_last(self.rank):
            return "channels-last"
        return f"permuted {self.perm}"


def identity(rank: int) -> Layout:
    return Layout(tuple(range(rank)))


def channels_last(rank: int) -> Layout:
    """Source (N, C, *spatial) held as target (N, *spatial, C)."""
    if rank < 2:
        return identity(rank)
    return Layout((0, *range(2, rank), 1))


def transpose_dims(rank: int, a: int, b: int) -> tuple[int, ...]:
    dims = list(range(rank))
    a, b = a % rank, b % rank
    dims[a], dims[b] = dims[b], dims[a]
    return tuple(dims)
