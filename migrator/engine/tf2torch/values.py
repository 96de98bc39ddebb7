"""What the tf2torch analysis knows about a value: a tensor (shape and torch layout), a layer, a
tuple or list of values, a size. Analysis-internal; the transformer reads the annotations only."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from migrator.engine.tf2torch.shapes import Dim, LayerArgs, Shape
from migrator.rules.schema import Rule


def channels_first(rank: int) -> tuple[int, ...]:
    """Keras (N, *S, C) held as torch (N, C, *S): ``torch = keras.permute(perm)``."""
    if rank < 3:
        return tuple(range(rank))
    return (0, rank - 1, *range(1, rank - 1))


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


class LayoutCell:
    """The torch layout of a tensor: a permutation of the Keras axes, or None while unbound (a
    model input whose layout is decided by the first layer that reads it)."""

    __slots__ = ("perm",)

    def __init__(self, perm: tuple[int, ...] | None) -> None:
        self.perm = perm

    def bind(self, perm: tuple[int, ...]) -> None:
        if self.perm is None:
            self.perm = perm


@dataclass
class TensorVal:
    shape: Shape | None
    cell: LayoutCell
    flattened: Shape | None = None  # Keras Flatten of this channels-last (*S, C) map produced it
    flatten_node: int | None = None  # id of that Flatten's constructor

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)


@dataclass
class LayerVal:
    """A Keras layer object: built by ``rule`` at ``node`` (the constructor call)."""

    rule: Rule
    args: LayerArgs
    node: cst.Call
    inner: LayerVal | None = None  # Bidirectional(LSTM(...)): the wrapped layer
    children: list[LayerVal] = field(default_factory=list)  # Sequential
    user_class: str | None = None  # an instance of a Keras class defined in this file
    user_args: tuple[cst.Arg, ...] = ()
    output: TensorVal | None = None  # Sequential: the tensor after its last layer
    attr: str = ""  # functional builders: the attribute (Keras layer name) it becomes
    subst: dict[str, str] = field(default_factory=dict)  # helper parameter -> code at the call site
    factory_args: dict[str, Dim] | None = None  # built inside a layer factory called with these


@dataclass
class TupleVal:
    items: tuple[Val, ...]


@dataclass
class DimVal:
    dim: Dim


@dataclass
class ConstVal:
    """A literal that is not a size (a bool, a string), e.g. a helper's ``activation=True``."""

    value: object


@dataclass
class ModelVal:
    """``keras.Model(inputs, outputs)`` in a functional builder."""

    inputs: Val
    outputs: Val


@dataclass
class SeqBuilder:
    """``keras.Sequential()`` being filled with ``.add`` calls: the shape after the last layer."""

    layer: LayerVal
    current: TensorVal | None


Val = TensorVal | LayerVal | TupleVal | DimVal | ConstVal | ModelVal | SeqBuilder | None


def permute_between(have: tuple[int, ...], want: tuple[int, ...]) -> tuple[int, ...]:
    """The torch ``permute`` that turns a tensor held as ``have`` into one held as ``want``."""
    return tuple(have.index(w) for w in want)


def expanded(perm: tuple[int, ...], axis: int) -> tuple[tuple[int, ...], int]:
    """``expand_dims`` of Keras axis ``axis`` (in [0, rank]) on a tensor held as ``perm``: the new
    layout and the torch axis to ``unsqueeze``. The new axis goes just before the torch axis
    holding the Keras axis it precedes (at the end when it is the new last axis), so a feature map
    stays channels-first."""
    shifted = [p + (p >= axis) for p in perm]
    pos = len(perm) if axis == len(perm) else shifted.index(axis + 1)
    return (*shifted[:pos], axis, *shifted[pos:]), pos
