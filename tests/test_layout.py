"""The layout algebra, checked against numpy: a tracked permutation must always describe how the
target tensor relates to the source tensor."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.engine.layout import Layout, channels_last, identity, transpose_dims


@st.composite
def perms(draw: st.DrawFn, min_rank: int = 2, max_rank: int = 5) -> tuple[int, ...]:
    rank = draw(st.integers(min_rank, max_rank))
    return tuple(draw(st.permutations(range(rank))))


def _tensor(rank: int) -> np.ndarray:
    shape = tuple(2 + i for i in range(rank))  # every axis a different size
    return np.arange(int(np.prod(shape))).reshape(shape)


@settings(max_examples=60, deadline=None)
@given(perms(), st.data())
def test_absorbed_permute_keeps_the_relation(perm: tuple[int, ...], data: st.DataObject) -> None:
    t = _tensor(len(perm))
    k = t.transpose(perm)  # the target tensor
    dims = tuple(data.draw(st.permutations(range(len(perm)))))
    after = Layout(perm).permuted(dims)
    # source does t.permute(dims); target emits nothing
    np.testing.assert_array_equal(k, t.transpose(dims).transpose(after.perm))


@settings(max_examples=60, deadline=None)
@given(perms(), st.data())
def test_axis_maps_source_dims(perm: tuple[int, ...], data: st.DataObject) -> None:
    t = _tensor(len(perm))
    k = t.transpose(perm)
    lay = Layout(perm)
    d = data.draw(st.integers(-len(perm), len(perm) - 1))
    assert t.shape[d] == k.shape[lay.axis(d)]


@settings(max_examples=60, deadline=None)
@given(perms(), st.data(), st.booleans())
def test_reduce_layout(perm: tuple[int, ...], data: st.DataObject, keep: bool) -> None:
    t = _tensor(len(perm)).astype(float)
    lay = Layout(perm)
    dims = tuple(
        sorted(data.draw(st.sets(st.integers(0, len(perm) - 1), min_size=1, max_size=len(perm) - 1)))
    )
    source = t.sum(axis=dims, keepdims=keep)
    target = t.transpose(perm).sum(axis=tuple(lay.axis(d) for d in dims), keepdims=keep)
    out = lay.reduce(dims, keep)
    np.testing.assert_array_equal(target, source.transpose(out.perm))


@settings(max_examples=40, deadline=None)
@given(perms())
def test_to_source_order_inverts(perm: tuple[int, ...]) -> None:
    t = _tensor(len(perm))
    lay = Layout(perm)
    np.testing.assert_array_equal(t.transpose(perm).transpose(lay.to_source_order()), t)


def test_channels_last() -> None:
    assert channels_last(4).perm == (0, 2, 3, 1)
    assert channels_last(3).perm == (0, 2, 1)
    assert channels_last(2).is_identity
    assert identity(3).is_identity
    assert transpose_dims(3, 1, 2) == (0, 2, 1)
    # NCHW -> permute(0, 2, 3, 1) of a channels-last tensor is already in source order
    assert channels_last(4).permuted((0, 2, 3, 1)).is_identity
