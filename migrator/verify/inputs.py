"""Seeded test inputs, in the original model's layout."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from migrator.verify.spec import InputSpec


def make_input(spec: InputSpec, shape: tuple[int, ...], rng: np.random.Generator) -> npt.NDArray[np.generic]:
    if spec.dtype.startswith("int"):
        assert spec.low is not None and spec.high is not None
        return rng.integers(int(spec.low), int(spec.high), size=shape).astype(spec.dtype)
    if spec.dtype == "bool":
        return rng.random(shape) < 0.5
    if spec.low is not None and spec.high is not None:
        return rng.uniform(spec.low, spec.high, size=shape).astype(spec.dtype)
    # non-zero mean so LayerNorm / RMSNorm mistakes show (SEMANTICS.md 9, rule 4)
    return (rng.standard_normal(shape) + 0.5).astype(spec.dtype)


def shape_variants(
    spec: InputSpec, spatial: bool, samples: int, channels_last: bool = False
) -> list[tuple[int, ...]]:
    """Sample 0 is the shape asked for; for feature-map inputs, sample 1 flips every spatial size
    between even and odd (stride-2 padding bugs show only on even sizes); later ones repeat.
    Spatial sizes are ``shape[2:]`` (N, C, *S), or ``shape[1:-1]`` (N, *S, C) with channels_last."""
    base = spec.shape
    out = [base]
    for i in range(1, samples):
        if i == 1 and spatial and len(base) >= 3:
            lo, hi = (1, len(base) - 1) if channels_last else (2, len(base))
            flipped = tuple(d + 1 if d % 2 == 0 else d - 1 if d > 2 else d + 1 for d in base[lo:hi])
            out.append((*base[:lo], *flipped, *base[hi:]))
        else:
            out.append(base)
    return out
