"""The rule schema as frozen dataclasses. Every value that stands for code is Python source text,
parsed with libcst when used and never evaluated."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class RuleKind(enum.Enum):
    LAYER = "layer"  # a constructor that builds a module (nn.Conv2d)
    FUNCTION = "function"  # a function call (F.relu, torch.cat)
    METHOD = "method"  # a method on a tensor (x.view); ``match`` is ``Tensor.<name>``
    ATTRIBUTE = "attribute"  # a dotted name used as a value or annotation (torch.Tensor, x.shape)
    BASE = "base"  # a base class (nn.Module)


class Contract(enum.Enum):
    """What a layer or op needs from the layout of its tensor operand, and what it gives back."""

    NONE = "none"  # not a tensor operation
    ELEMENTWISE = "elementwise"  # any layout; output has the input's layout
    CHANNELS = "channels"  # channels-first in the source, channels-last in the target (conv, pool, BN)
    LAST_DIM = "last_dim"  # acts on the last axis, which must be the same axis on both sides (Linear)
    AXIS = "axis"  # takes axis arguments that are remapped through the operand's layout
    FLATTEN = "flatten"  # flattens all but the batch axis (order depends on layout)
    EMBEDDING = "embedding"  # integer ids in, a new trailing feature axis out
    CONTAINER = "container"  # Sequential / ModuleList: composed of its elements
    SEQUENCE = "sequence"  # recurrent layers: (N, T, F) in Keras; torch is (T, N, F) unless batch_first
    PARTS = "parts"  # returns a sequence of tensors (split, chunk, top_k), each in the layout the hook gives


class ValueTransform(enum.Enum):
    ONE_MINUS = "one_minus"  # BatchNorm momentum: keras = 1 - torch
    NOT = "not"  # boolean inverse


@dataclass(frozen=True)
class ArgSpec:
    """How one source argument maps to the target call."""

    to: str | None = None  # target keyword (None: same name)
    drop: bool = False  # no effect on the computation (device, dtype, inplace)
    skip_if: str | None = None  # omit the target keyword when the source value is this literal
    values: Mapping[str, str] = field(default_factory=dict)  # literal value table source -> target
    only: tuple[str, ...] = ()  # the literal values the rule can migrate; others are unsupported
    reason: str = ""  # why other values are unsupported / what to review
    axis: bool = False  # the value is a source dim (int or tuple of ints), remapped by layout
    value: ValueTransform | None = None
    positional: bool = False  # emit positionally, in signature order (tensor operands)
    review: str = ""  # when present, the argument's presence is flagged for review with this text
    default: str | None = None  # the source default (code), for axis arguments that must be explicit
    activation: bool = False  # tf2torch: a Keras `activation=` argument, applied after the layer


class TrainRole(enum.Enum):
    """What a training rule builds; the training pass treats each differently."""

    OPTIMIZER = "optimizer"
    LOSS = "loss"  # a loss object (nn.CrossEntropyLoss()); its calls swap to (y_true, y_pred)
    LOSS_FN = "loss_fn"  # a functional loss (F.cross_entropy(input, target))
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class TrainingSpec:
    """How a training rule decides between the stock target API and a runtime helper.

    ``emit`` of the rule is the helper (exact by construction); ``stock`` is used instead when
    every ``stock_unless`` argument is absent or has its listed default, no ``stock_unless_scheduled``
    argument is set while a scheduler changes the learning rate, and the reduction is one of
    ``stock_reductions``. ``template`` (schedules) is target code with ``{name}`` placeholders."""

    role: TrainRole
    stock: str | None = None
    stock_unless: Mapping[str, str] = field(default_factory=dict)
    stock_unless_scheduled: tuple[str, ...] = ()
    stock_set: Mapping[str, str] = field(default_factory=dict)
    stock_reductions: tuple[str, ...] = ()
    targets: str | None = None  # losses: class_index | binary | probs | real
    compare_params: bool = False  # optimizers of the SGD family: parameters compare across frameworks
    template: str | None = None
    defaults: Mapping[str, str] = field(default_factory=dict)  # source defaults for template names
    split: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # betas -> (beta_1, beta_2)
    # arguments whose absence or other value the target cannot honour: flagged for review
    # (the message is the rule's first note)
    review_unless: Mapping[str, str] = field(default_factory=dict)
    stock_if: Mapping[str, str] = field(default_factory=dict)  # arguments stock needs given, with this value
    # tf2torch: source arguments joined into one target tuple (beta_1, beta_2 -> betas); a missing
    # one takes its value from ``defaults``
    join: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Example:
    before: str
    after: str


@dataclass(frozen=True)
class Rule:
    id: str
    kind: RuleKind
    match: tuple[str, ...]
    source: Path
    params: tuple[str, ...] = ()
    emit: str | None = None
    args: Mapping[str, ArgSpec] = field(default_factory=dict)
    set: Mapping[str, str] = field(default_factory=dict)  # target keywords added when not mapped
    hook: str | None = None
    weights: str | None = None
    contract: Contract = Contract.NONE
    rank: int | None = None  # spatial dims + 2 for CHANNELS layers (Conv2d: 4); None = any
    summary: str = ""
    notes: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()
    unchanged: tuple[str, ...] = ()
    unsupported: str | None = None  # a rule that only explains why an API cannot be migrated
    # tf2torch only: how the output shape follows from the input (a name in SHAPES), which target
    # arguments are read off the input shape, the target's positional order, and the Lazy fallback.
    shape: str | None = None
    infer: Mapping[str, str] = field(default_factory=dict)  # target keyword -> "channels"
    signature: tuple[str, ...] = ()
    lazy: str | None = None
    training: TrainingSpec | None = None
