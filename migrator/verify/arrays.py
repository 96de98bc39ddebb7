"""Array helpers shared by both verification directions: flattening model outputs, moving arrays
between layouts, and comparing a layer's output when its layout is not recorded."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from migrator.verify.compare import Diff, diff

Array = npt.NDArray[Any]
Perm = list[int] | None  # target = source.permute(perm); None when unknown


def flat(out: Any) -> list[Any]:
    """A model's outputs as a flat list (dicts in key order, nested tuples and lists in order)."""
    if isinstance(out, dict):
        return [v for _, v in sorted(out.items())]
    if isinstance(out, list | tuple):
        items: list[Any] = []
        for o in out:
            items.extend(flat(o))
        return items
    return [out]


def to_numpy(x: Any) -> Array:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def to_source(arr: Array, perm: Perm) -> Array:
    """A target-layout array back in source layout (perm maps target = source.permute(perm))."""
    if not perm or len(perm) != arr.ndim:
        return arr
    return np.transpose(arr, np.argsort(perm))


def to_target(arr: Array, perm: Perm) -> Array:
    """A source-layout array in target layout (target = source.permute(perm))."""
    if not perm or len(perm) != arr.ndim:
        return arr
    return np.ascontiguousarray(np.transpose(arr, perm))


def to_targets(xs: Sequence[Array], perms: Sequence[Perm]) -> list[Array]:
    """Model inputs in the migrated model's layout (inputs without a recorded perm are unchanged)."""
    return [to_target(x, perms[i] if i < len(perms) else None) for i, x in enumerate(xs)]


def spatial_axes(perm: Perm) -> tuple[int, ...]:
    """The spatial axes of a source-layout feature map, from the perm that moves its channels:
    channels-first source ([0, 2, ..., 1]) or channels-last source ([0, n-1, 1, ...])."""
    if perm is None or len(perm) < 3:
        return ()
    n = len(perm)
    if list(perm) == [0, *range(2, n), 1]:
        return tuple(range(2, n))
    if list(perm) == [0, n - 1, *range(1, n - 1)]:
        return tuple(range(1, n - 1))
    return ()


def _candidates(ref: Array, cand: Array) -> list[Array]:
    """The candidate array read in the reference layout, for every axis order that fits the shapes
    (unchanged, channels-last, batch-major, ...)."""
    if cand.ndim != ref.ndim or cand.size != ref.size:
        return []
    if ref.ndim > 5:
        return [cand] if ref.shape == cand.shape else []
    out = []
    for perm in itertools.permutations(range(ref.ndim)):
        if tuple(ref.shape[p] for p in perm) == cand.shape:
            out.append(np.transpose(cand, np.argsort(perm)))
    return out


def layer_diff(ref: Array, cand: Array) -> Diff | None:
    """When several layouts fit (H == W == C), the one that matches is the layout: a correct layer
    differs by float noise in it and by O(1) in the others."""
    options = _candidates(ref, cand)
    if not options:
        return None
    return min((diff(ref, c) for c in options), key=lambda d: d.max_abs)


def keras_layers(layer: Any) -> Iterator[Any]:
    """Every Keras layer reachable from ``layer`` (itself included), each once."""
    seen: set[int] = set()
    stack = [layer]
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        stack.extend(getattr(cur, "_layers", []) or [])
        stack.extend(getattr(cur, "layers", []) or [])
