"""Building PyTorch code: names and imports, activations, and layer constructors with the input
sizes the analysis inferred (or a ``nn.Lazy*`` module when it could not)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import libcst as cst

from migrator.engine.emitter import commas, int_node, kwarg, parse_dotted
from migrator.engine.tf2torch.shapes import Dim
from migrator.engine.values import parse_code

# target module prefix -> (local alias, import statement)
_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("torch.nn.functional.", "F", "import torch.nn.functional as F"),
    ("torch.nn.", "nn", "from torch import nn"),
    ("torch.utils.data.", "data", ""),
    ("torch.utils.tensorboard.", "tensorboard", ""),
    ("torch.", "torch", "import torch"),
    ("functools.", "functools", "import functools"),
    ("itertools.", "itertools", "import itertools"),
    ("os.", "os", "import os"),
    ("migrator.runtime.torch_support.", "torch_support", "from migrator.runtime import torch_support"),
)
# prefixes whose names are imported one by one (``DataLoader``), not through a module alias
_DIRECT = frozenset({"data", "tensorboard"})
# standard-library modules, always imported whole (``import itertools``)
_STDLIB = frozenset({"functools", "itertools", "os"})


class TorchEmitter:
    """One per run: short names (``nn.Conv2d``, ``F.gelu``, ``torch.cat``) and the imports they need."""

    def __init__(self, taken_names: frozenset[str]) -> None:
        self._short = {alias: alias not in taken_names for _, alias, _ in _PREFIXES}
        self.used: set[str] = set()
        self.direct: dict[str, set[str]] = {}  # alias -> names imported one by one (DataLoader)

    def name(self, qualified: str) -> cst.BaseExpression:
        for prefix, alias, _ in _PREFIXES:
            if qualified.startswith(prefix):
                rest = qualified[len(prefix) :]
                if alias in _DIRECT:
                    self.direct.setdefault(alias, set()).add(rest)
                    return parse_dotted(rest)
                if alias in _STDLIB or alias == "torch_support":
                    self.used.add(alias)
                    return parse_dotted(f"{alias}.{rest}")
                if alias == "torch" or not self._short[alias]:
                    self.used.add("torch")
                    return parse_dotted(qualified)
                self.used.add(alias)
                return parse_dotted(f"{alias}.{rest}")
        raise ValueError(f"cannot emit {qualified!r}: unknown target module")

    def call(self, qualified: str, args: Sequence[cst.Arg]) -> cst.Call:
        return cst.Call(func=self.name(qualified), args=commas(args))

    def import_lines(self) -> list[str]:
        lines = []
        if "torch" in self.used:
            lines.append("import torch")
        for prefix, alias, stmt in _PREFIXES:
            if alias in _DIRECT:
                names = sorted(self.direct.get(alias, ()))
                if names:
                    lines.append(f"from {prefix[:-1]} import {', '.join(names)}")
            elif alias != "torch" and alias in self.used:
                lines.append(stmt)
        return lines


@dataclass(frozen=True)
class Activation:
    module: str  # torch module class
    function: str  # torch function
    kwargs: Mapping[str, str] = field(default_factory=dict)  # code, for both forms
    axis: bool = False  # takes dim= (softmax): the torch axis of Keras's last axis


def _act(module: str, function: str, axis: bool = False, **kwargs: str) -> Activation:
    return Activation(module, function, MappingProxyType(kwargs), axis)


# Keras activation names (strings and keras.activations.*) -> torch, with Keras's defaults made
# explicit where torch's differ (leaky_relu slope 0.2; gelu is exact in keras.activations).
ACTIVATIONS: Mapping[str, Activation] = MappingProxyType(
    {
        "relu": _act("torch.nn.ReLU", "torch.relu"),
        "sigmoid": _act("torch.nn.Sigmoid", "torch.sigmoid"),
        "tanh": _act("torch.nn.Tanh", "torch.tanh"),
        "softmax": _act("torch.nn.Softmax", "torch.softmax", axis=True),
        "log_softmax": _act("torch.nn.LogSoftmax", "torch.log_softmax", axis=True),
        "swish": _act("torch.nn.SiLU", "torch.nn.functional.silu"),
        "silu": _act("torch.nn.SiLU", "torch.nn.functional.silu"),
        "gelu": _act("torch.nn.GELU", "torch.nn.functional.gelu"),
        "relu6": _act("torch.nn.ReLU6", "torch.nn.functional.relu6"),
        "elu": _act("torch.nn.ELU", "torch.nn.functional.elu"),
        "selu": _act("torch.nn.SELU", "torch.nn.functional.selu"),
        "softplus": _act("torch.nn.Softplus", "torch.nn.functional.softplus"),
        "softsign": _act("torch.nn.Softsign", "torch.nn.functional.softsign"),
        "leaky_relu": _act("torch.nn.LeakyReLU", "torch.nn.functional.leaky_relu", negative_slope="0.2"),
        "hard_sigmoid": _act("torch.nn.Hardsigmoid", "torch.nn.functional.hardsigmoid"),
        "hard_swish": _act("torch.nn.Hardswish", "torch.nn.functional.hardswish"),
        "hard_silu": _act("torch.nn.Hardswish", "torch.nn.functional.hardswish"),
        "mish": _act("torch.nn.Mish", "torch.nn.functional.mish"),
    }
)
NO_ACTIVATION = frozenset({"linear", None})


def dim_node(d: Dim) -> cst.BaseExpression:
    if isinstance(d, int):
        return int_node(d)
    assert d is not None
    return parse_code(d)


def activation_module(emit: TorchEmitter, act: Activation, dim: int | None) -> cst.Call:
    args = [kwarg(k, parse_code(v)) for k, v in act.kwargs.items()]
    if act.axis:
        args.append(kwarg("dim", int_node(dim if dim is not None else -1)))
    return emit.call(act.module, args)


def activation_call(emit: TorchEmitter, act: Activation, x: cst.BaseExpression, dim: int | None) -> cst.Call:
    args = [cst.Arg(x), *(kwarg(k, parse_code(v)) for k, v in act.kwargs.items())]
    if act.axis:
        args.append(kwarg("dim", int_node(dim if dim is not None else -1)))
    return emit.call(act.function, args)


def order_positional(args: Sequence[cst.Arg], signature: Sequence[str]) -> list[cst.Arg]:
    """Keyword arguments named in ``signature`` become positional, in that order, while they are
    contiguous from the start (``nn.Conv2d(3, 16, 3, stride=2)``)."""
    by_name = {a.keyword.value: a for a in args if a.keyword is not None}
    positional: list[cst.Arg] = [a for a in args if a.keyword is None]
    used: set[str] = set()
    if not positional:
        for name in signature:
            a = by_name.get(name)
            if a is None:
                break
            positional.append(cst.Arg(a.value))
            used.add(name)
    rest = [a for a in args if a.keyword is not None and a.keyword.value not in used]
    return positional + rest
