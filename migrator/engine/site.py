"""What the engine hands a rule hook, and what a hook hands back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import libcst as cst

from migrator.engine.layout import Layout
from migrator.rules.schema import Contract, Rule
from migrator.types import Severity

if TYPE_CHECKING:
    from migrator.engine.train_plan import TrainingPlan


@dataclass(frozen=True)
class ModuleInfo:
    """What the engine knows statically about a module-valued expression (a layer, a container)."""

    contract: Contract
    rank: int | None = None  # CHANNELS layers: the tensor rank they take (Conv2d: 4)
    rule_id: str | None = None
    transform: str | None = None  # named weight transform
    children: tuple[ModuleInfo, ...] = ()  # Sequential, in order
    repeated: ModuleInfo | None = None  # ModuleList whose elements all look like this
    user_class: str | None = None
    target_suffix: str = ""  # where the weighted layer sits inside a wrapper ("1")
    line: int = 0
    axis: tuple[int, int] | None = None  # (source dim, target axis) chosen at construction
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Note:
    severity: Severity
    message: str


@dataclass(frozen=True)
class CallSite:
    """A matched call: the rule, the call as the engine sees it, its arguments bound to names."""

    rule: Rule
    call: cst.Call
    bound: Mapping[str, cst.BaseExpression]
    layouts: Mapping[str, Layout | None]  # layouts of bound tensor arguments (and "self" for methods)
    line: int


@dataclass(frozen=True)
class HookResult:
    expr: cst.BaseExpression
    layout: Layout | None = None  # for tensor-valued results
    module: ModuleInfo | None = None  # for layer constructors
    notes: tuple[Note, ...] = ()
    context: cst.BaseExpression | None = (
        None  # a context manager the statement must run in (writer.as_default())
    )


@dataclass(frozen=True)
class MappedArgs:
    args: tuple[cst.Arg, ...]
    notes: tuple[Note, ...]
    unsupported: str | None  # set when a value makes the call unmigratable


class Tools(Protocol):
    """Services the engine offers hooks (implemented by the transformer for one run)."""

    def name(self, qualified: str) -> cst.BaseExpression: ...

    def call(self, qualified: str, args: Sequence[cst.Arg]) -> cst.Call: ...

    def map_args(self, site: CallSite, skip: Sequence[str] = ()) -> MappedArgs: ...

    def layout_of(self, expr: cst.BaseExpression) -> Layout | None: ...

    def module_of(self, expr: cst.BaseExpression) -> ModuleInfo | None: ...

    def list_modules(self, expr: cst.BaseExpression) -> tuple[ModuleInfo, ...]: ...

    def code(self, text: str) -> cst.BaseExpression: ...

    def mark_shape(self, expr: cst.BaseExpression, src: cst.BaseExpression) -> None: ...

    def convert(self, expr: cst.BaseExpression, have: Layout, want: Layout) -> cst.BaseExpression: ...

    def training_plan(self) -> TrainingPlan: ...

    def original_call(self) -> cst.Call: ...

    def channels_last_models(self) -> list[str]: ...
