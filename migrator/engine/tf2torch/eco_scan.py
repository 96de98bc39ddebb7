"""The code around a Keras model, found before anything is rewritten (tf2torch): device blocks,
``tf.distribute`` strategies and their scopes, TensorBoard writers, the mixed-precision policy in
force at each training statement, loss-scaled optimizers and ``tf.data`` pipelines.
``engine.tf2torch.ecosystem`` and ``engine.tf2torch.training`` rewrite them from this plan."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from migrator.engine.values import literal

Resolve = Callable[[cst.BaseExpression], "str | None"]

FROM_TENSOR_SLICES = "tensorflow.data.Dataset.from_tensor_slices"
POLICY = "keras.mixed_precision.set_global_policy"
LOSS_SCALE = "keras.mixed_precision.LossScaleOptimizer"
WRITER = "tensorflow.summary.create_file_writer"
DEVICE = "tensorflow.device"
TRAINING_METHODS = ("compile", "fit", "evaluate", "predict", "export")


class StrategyKind(enum.Enum):
    """The ``tf.distribute`` strategies with a torch form."""

    MIRRORED = "tensorflow.distribute.MirroredStrategy"
    MULTI_WORKER = "tensorflow.distribute.MultiWorkerMirroredStrategy"
    ONE_DEVICE = "tensorflow.distribute.OneDeviceStrategy"
    DEFAULT = "tensorflow.distribute.get_strategy"

    @property
    def replicated(self) -> bool:
        """Keras runs the model on every local device (nn.DataParallel in torch)."""
        return self in (StrategyKind.MIRRORED, StrategyKind.MULTI_WORKER)


STRATEGIES = {k.value: k for k in StrategyKind}


@dataclass(frozen=True)
class Step:
    """One method of a ``tf.data`` chain: ``.batch(16, drop_remainder=True)``."""

    method: str
    call: cst.Call  # the original call


@dataclass(frozen=True)
class Pipeline:
    """``tf.data.Dataset.from_tensor_slices(...)`` and the methods chained on it, inner first."""

    base: cst.Call
    steps: tuple[Step, ...]
    name: str | None  # the name it is assigned to, if any

    @property
    def repeats(self) -> bool:
        return any(s.method == "repeat" for s in self.steps)

    @property
    def components(self) -> list[cst.BaseExpression]:
        """The tensors sliced: ``(x, y)`` -> [x, y]; ``x`` -> [x]."""
        arg = self.base.args[0].value if self.base.args else None
        if isinstance(arg, cst.Tuple | cst.List):
            return [e.value for e in arg.elements]
        return [arg] if arg is not None else []


@dataclass
class EcoPlan:
    device_withs: set[int] = field(default_factory=set)  # id(With) over tf.device(...)
    strategies: dict[str, StrategyKind] = field(default_factory=dict)  # name -> strategy kind
    strategy_assigns: dict[int, tuple[str, StrategyKind]] = field(default_factory=dict)  # id(Assign)
    strategy_calls: set[int] = field(default_factory=set)  # id(strategy constructor) assigned to a name
    scope_withs: dict[int, str] = field(default_factory=dict)  # id(With) -> strategy name
    replicated: dict[str, StrategyKind] = field(default_factory=dict)  # model built in a scope
    device_statements: set[int] = field(default_factory=set)  # training statements that see `device`
    writers: set[str] = field(default_factory=set)  # names of tf.summary file writers
    writer_withs: dict[int, str] = field(default_factory=dict)  # id(With) -> writer name
    summaries: dict[int, tuple[str, cst.BaseExpression | None]] = field(
        default_factory=dict
    )  # id(tf.summary.* call) -> (writer, the as_default step)
    policies: dict[int, str] = field(default_factory=dict)  # id(training statement) -> policy name
    loss_scale_calls: set[int] = field(default_factory=set)  # id(LossScaleOptimizer(...) calls)
    loss_scaled: dict[str, cst.Call] = field(
        default_factory=dict
    )  # optimizer name -> LossScaleOptimizer(...)
    pipelines: dict[int, Pipeline] = field(default_factory=dict)  # id(outermost call) -> pipeline
    bases: dict[int, Pipeline] = field(default_factory=dict)  # id(from_tensor_slices call) -> pipeline
    named: dict[str, Pipeline] = field(default_factory=dict)  # name -> pipeline
    users: dict[int, str] = field(default_factory=dict)  # id(from_tensor_slices) -> model fed by it
    decorators: set[int] = field(default_factory=set)  # id(FunctionDef) decorated with tf.function

    def amp(self, stmt: cst.CSTNode) -> str | None:
        """``float16`` / ``bfloat16`` when a mixed policy is in force at this training statement."""
        policy = self.policies.get(id(stmt))
        return policy.removeprefix("mixed_") if policy is not None else None


def _call_of(stmt: cst.BaseStatement) -> tuple[cst.BaseSmallStatement, cst.Call] | None:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    value = small.value if isinstance(small, cst.Expr | cst.Assign) else None
    return (small, value) if isinstance(value, cst.Call) else None


def _target(small: cst.BaseSmallStatement) -> str | None:
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        t = small.targets[0].target
        return t.value if isinstance(t, cst.Name) else None
    return None


def chain(call: cst.Call, resolve: Resolve) -> tuple[cst.Call, tuple[Step, ...]] | None:
    """The ``from_tensor_slices`` call at the root of a method chain, and the methods, inner first."""
    steps: list[Step] = []
    node: cst.BaseExpression = call
    while isinstance(node, cst.Call):
        if resolve(node.func) == FROM_TENSOR_SLICES:
            return node, tuple(reversed(steps))
        if not isinstance(node.func, cst.Attribute):
            return None
        steps.append(Step(node.func.attr.value, node))
        node = node.func.value
    return None


class _Scan(cst.CSTVisitor):
    def __init__(self, plan: EcoPlan, resolve: Resolve) -> None:
        super().__init__()
        self.plan = plan
        self._resolve = resolve
        self.scopes: list[bool] = [False]  # per function: `device` bound so far
        self.writers: list[tuple[str, cst.BaseExpression | None]] = []  # active as_default blocks
        self.policy = "float32"
        self.scopes_active: list[str] = []  # strategy scopes entered
        self.interior: set[int] = set()
        self.compiled: dict[str, str] = {}  # model -> optimizer name given to its compile

    # scopes ---------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append(False)
        for d in node.decorators:
            expr = d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
            if self._resolve(expr) == "tensorflow.function":
                self.plan.decorators.add(id(node))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append(False)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scopes.pop()

    def _device_bound(self) -> None:
        self.scopes[-1] = True

    def _sees_device(self) -> bool:
        return self.scopes[-1] or self.scopes[0]

    # with blocks -----------------------------------------------------------
    def visit_With(self, node: cst.With) -> None:
        if len(node.items) != 1:
            return
        item = node.items[0].item
        if not isinstance(item, cst.Call):
            return
        if self._resolve(item.func) == DEVICE and node.items[0].asname is None:
            self.plan.device_withs.add(id(node))
            self._device_bound()
        func = item.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and not item.args:
            owner = func.value.value
            if func.attr.value == "scope" and owner in self.plan.strategies:
                self.plan.scope_withs[id(node)] = owner
                self.scopes_active.append(owner)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            owner = func.value.value
            if func.attr.value == "as_default" and owner in self.plan.writers:
                step = next((a.value for a in item.args if a.keyword and a.keyword.value == "step"), None)
                self.plan.writer_withs[id(node)] = owner
                self.writers.append((owner, step))

    def leave_With(self, original_node: cst.With) -> None:
        if id(original_node) in self.plan.scope_withs:
            self.scopes_active.pop()
        if id(original_node) in self.plan.writer_withs:
            self.writers.pop()

    # statements -----------------------------------------------------------
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        hit = _call_of(node)
        if hit is None:
            return
        small, call = hit
        name = _target(small)
        qual = self._resolve(call.func)
        if qual in STRATEGIES and name is not None:
            kind = STRATEGIES[qual]
            self.plan.strategies[name] = kind
            self.plan.strategy_assigns[id(small)] = (name, kind)
            self.plan.strategy_calls.add(id(call))
            self._device_bound()
        elif qual == WRITER and name is not None:
            self.plan.writers.add(name)
        elif qual == POLICY and call.args:
            value = literal(call.args[0].value)
            self.policy = value if isinstance(value, str) else "float32"
        elif qual == LOSS_SCALE and name is not None:
            self.plan.loss_scaled[name] = call
        if name is not None and self.scopes_active and isinstance(call.func, cst.Name | cst.Attribute):
            self.plan.replicated[name] = self.plan.strategies[self.scopes_active[-1]]
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in TRAINING_METHODS:
            if self._sees_device():
                self.plan.device_statements.add(id(node))
            if self.policy.startswith("mixed_"):
                self.plan.policies[id(node)] = self.policy
            model = call.func.value.value if isinstance(call.func.value, cst.Name) else None
            if model is not None:
                self._link(call, model)

    def _link(self, call: cst.Call, model: str) -> None:
        """``model.fit(ds)``: the pipeline ``ds`` feeds this model (its targets take the dtype of
        the model's loss, its inputs the model's layout)."""
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "compile":
            opt = call.args[0].value if call.args and call.args[0].keyword is None else None
            opt = next((a.value for a in call.args if a.keyword and a.keyword.value == "optimizer"), opt)
            if isinstance(opt, cst.Name):
                self.compiled[model] = opt.value
            return
        for a in call.args:
            if a.keyword is not None and a.keyword.value not in ("x", "validation_data"):
                continue
            if isinstance(a.value, cst.Name) and a.value.value in self.plan.named:
                self.plan.users[id(self.plan.named[a.value.value].base)] = model

    # calls ----------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        qual = self._resolve(node.func)
        if qual == LOSS_SCALE:
            self.plan.loss_scale_calls.add(id(node))
        if qual is not None and qual.startswith("tensorflow.summary.") and qual != WRITER and self.writers:
            self.plan.summaries[id(node)] = self.writers[-1]
        if id(node) in self.interior:
            return
        found = chain(node, self._resolve)
        if found is None:
            return
        base, steps = found
        self.interior.update(id(s.call) for s in steps)
        self.interior.add(id(base))
        pipeline = Pipeline(base, steps, None)
        self.plan.pipelines[id(node)] = pipeline
        self.plan.bases[id(base)] = pipeline

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        if not isinstance(node.value, cst.Call):
            return
        found = chain(node.value, self._resolve)
        if found is not None:
            name = node.targets[0].target.value
            pipeline = Pipeline(found[0], found[1], name)
            self.plan.named[name] = pipeline


def scan(module: cst.Module, resolve: Resolve) -> EcoPlan:
    plan = EcoPlan()
    module.visit(_Scan(plan, resolve))
    return plan


def describe(pipeline: Pipeline) -> str:
    """``from_tensor_slices(...).shuffle(...).batch(...)`` (for messages)."""
    return "from_tensor_slices(...)" + "".join(f".{s.method}(...)" for s in pipeline.steps)
