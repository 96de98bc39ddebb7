"""The libcst transformer that applies tf2torch rules, using the shapes and layouts the analysis
inferred. One instance per file; the tree is walked once, post-order.

What it rewrites: Keras layer constructors (with ``in_channels``/``in_features`` filled in, or a
Lazy module), ``keras.Sequential`` (list and ``.add`` forms, an ``activation=`` becoming the next
module), subclassed ``keras.Model``/``keras.layers.Layer`` (base, ``super().__init__``, ``call`` to
``forward``, ``training`` to module modes, activations applied at the call sites), ops in ``call``
(axes remapped to the NCHW layout), and the layout conversions the analysis asked for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from migrator.engine.args import bind_arguments, map_arguments, map_axis
from migrator.engine.emitter import code_of, int_node, kwarg
from migrator.engine.layout import Layout
from migrator.engine.names import ImportTable, local_names, without
from migrator.engine.positions import PositionTracker
from migrator.engine.site import CallSite, MappedArgs, Note
from migrator.engine.tf2torch import data, ecosystem
from migrator.engine.tf2torch.analysis import (
    IN_CHANNELS,
    Analysis,
    Annotations,
    canonical,
    keras_side,
    operand_params,
    range_count,
)
from migrator.engine.tf2torch.eco_scan import Pipeline, describe
from migrator.engine.tf2torch.emit import (
    ACTIVATIONS,
    NO_ACTIVATION,
    Activation,
    TorchEmitter,
    activation_call,
    activation_module,
    dim_node,
    order_positional,
)
from migrator.engine.tf2torch.recurrent import (
    MASK_REASON,
    RnnInfo,
    call_args,
    has_mask,
    initial_of,
    output,
    state_unpacking,
)
from migrator.engine.tf2torch.shapes import LayerArgs, Shape
from migrator.engine.tf2torch.train_scan import LOSS_NAMES, OPTIMIZER_NAMES, KerasTrainingPlan
from migrator.engine.tf2torch.training import TrainingRewriter, torch_weights_path
from migrator.engine.tf2torch.values import TensorVal, identity, permute_between
from migrator.engine.train_bindings import literal_names
from migrator.engine.train_rewrite import lead
from migrator.engine.values import literal, parse_code
from migrator.rules.loader import RuleSet
from migrator.rules.schema import Contract, Rule, RuleKind
from migrator.transforms.keras_ecosystem import REMOVED
from migrator.types import Finding, LayerRecord, Severity

MARKER = "# fwmigrate:"


@dataclass
class LayerOut:
    """A rewritten layer constructor and what its call sites and containers must add."""

    expr: cst.BaseExpression
    activation: Activation | None = None
    act_dim: int | None = None
    rule: Rule | None = None
    transform: str | None = None
    suffix: str = ""  # the weighted module inside a wrapper (nn.Sequential(pad, conv) -> "1")
    extra: dict[str, Any] = field(default_factory=dict)  # transform context for verify
    children: list[tuple[str, str, LayerOut]] = field(default_factory=list)  # (torch, keras, layer)
    line: int = 0
    rnn: RnnInfo | None = None  # recurrent layers: what the call site must take from the output
    attention: Any = None  # MultiHeadAttention: its calls are rewritten (transforms/keras_attention.py)


@dataclass
class ClassState:
    name: str
    attrs: dict[str, LayerOut] = field(default_factory=dict)


_KERAS_ORDER_FLATTEN = (
    "flattens a feature map that is read by more than a Dense (or is an output): the channels move "
    "last first, so the values keep Keras's order (runtime helper: torch_support.ChannelsLastFlatten)"
)


class KerasToTorch(cst.CSTTransformer):
    def __init__(
        self,
        rules: RuleSet,
        imports: ImportTable,
        emitter: TorchEmitter,
        analysis: Analysis,
        positions: PositionTracker,
        train_plan: KerasTrainingPlan | None = None,
    ) -> None:
        super().__init__()
        self.train_plan = train_plan or KerasTrainingPlan()
        self.trainer = TrainingRewriter(self.train_plan, self)
        self.train_code: dict[int, tuple[str, str]] = {}  # id(original training call) -> source, target
        self._notes: list[Note] = []  # notes a hook left for the call being migrated
        self.rules = rules
        self.imports = imports
        self.emit = emitter
        self.analysis = analysis
        self.ann: Annotations = analysis.ann
        self.positions = positions
        self.findings: list[Finding] = []
        self.records: list[LayerRecord] = []
        self.kept_roots: set[str] = set()
        self._layers: dict[int, LayerOut] = {}  # id(new node) -> layer
        self._by_original: dict[int, LayerOut] = {}
        self._markers: list[list[str]] = []
        self._classes: list[ClassState] = []
        self._method: list[str] = []
        self._seq_vars: set[str] = set()
        self._drop_statement = False
        self._pending_append: cst.Call | None = None
        self._appends: dict[int, list[cst.BaseSmallStatement]] = {}
        self._import_stack: list[ImportTable] = []  # the tables outside the current function
        self._seq_out: dict[str, LayerOut] = {}  # Sequential variables filled with .add
        self._seq_next: dict[str, tuple[int, int]] = {}  # next (Keras, torch) index per variable
        self.builders: set[str] = set()  # functions that build and return a model
        self._factory_out: dict[str, LayerOut] = {}  # function -> the layers it returns
        self.functional_classes: dict[str, Any] = {}  # generated class -> its trace
        self.trace_layouts: dict[str, Any] = {}  # variable -> TensorVal, for ops in traced code
        self.inlined: dict[str, tuple[int, int]] = {}  # helper inlined into a builder -> its span
        self.generated_findings: set[int] = set()  # findings about generated model classes
        self.support: set[str] = set()  # helper classes the output defines (support.py)
        self._class_names: set[str] = set(analysis.classes) | set(analysis.functions)
        # the tensors an op being migrated reads, by parameter (shapes and layouts, for its hook)
        self.operands: dict[str, TensorVal] = {}
        self.original_layer: cst.Call | None = None  # the layer constructor a hook is migrating
        self.original_call: cst.Call | None = None  # the (original) call a function hook is migrating
        self.eco_strategies: set[str] = set()  # strategy names whose assignment became `device`

    # ------------------------------------------------------------------ bookkeeping
    def _find(
        self, node: cst.CSTNode, severity: Severity, api: str, message: str, rule_id: str | None = None
    ) -> None:
        line, col = self.positions.position(node)
        self.findings.append(Finding(line, col, severity, api, message, rule_id))
        if severity is not Severity.MIGRATED and self._markers:
            tag = "unsupported" if severity is Severity.UNSUPPORTED else "review"
            self._markers[-1].append(f"{MARKER} {tag}: {api}: {message}")

    # the training rewriter's Lookup -----------------------------------------
    def torch_name(self, qualified: str) -> str:
        return code_of(self.emit.name(qualified))

    def report(self, node: cst.CSTNode, severity: Severity, api: str, message: str) -> None:
        self._find(node, severity, api, message)

    def input_perm(self, builder: str) -> tuple[int, ...] | None:
        """How the model a class or builder function makes takes its first input: the permutation
        from the Keras layout (None when unknown)."""
        inputs = self.ann.inputs.get(builder)
        return inputs[0][1].cell.perm if inputs else None

    def input_example(self, builder: str) -> tuple[int, ...] | None:
        """The torch-side shape (without the batch) of the first input of the model a builder
        makes, when every size is a known int (None otherwise)."""
        inputs = self.ann.inputs.get(builder)
        if not inputs or len(inputs) != 1:
            return None
        t = inputs[0][1]
        if t.shape is None or not all(isinstance(d, int) for d in t.shape[1:]):
            return None
        perm = t.cell.perm or tuple(range(len(t.shape)))
        torch_shape = [t.shape[p] for p in perm]
        return tuple(int(d) for d in torch_shape[1:])  # type: ignore[arg-type]

    def known_names(self, side: str) -> dict[str, str]:
        """Definitions the training record may need: literal locals, and the training objects
        (optimizers, schedules, callbacks) the file assigns to names, in each file's code."""
        known = literal_names(self.analysis.module)
        for name, (call, _) in self.train_plan.assigned.items():
            known[name] = code_of(call) if side == "source" else self.target_code(call)
        return known

    def target_code(self, call: cst.Call) -> str:
        return self.train_code.get(id(call), ("", code_of(call)))[1]

    def note(self, note: Note) -> None:
        """A hook's note about the call being migrated (reported with its rule)."""
        self._notes.append(note)

    def migrate_text(self, text: str, where: cst.CSTNode) -> cst.BaseExpression | None:
        """Migrate a Keras constructor given as text (``keras.optimizers.Adam()`` for "adam")."""
        call = cst.parse_expression(text)
        assert isinstance(call, cst.Call)
        rule = self.rules.by_name.get(text.split("(", 1)[0])
        if rule is None:
            return None
        out = self._op(rule, call, call)
        self.train_code[id(where)] = (text, code_of(out))
        return out

    def source_code(self, expr: cst.BaseExpression, module: str) -> str:
        """An (original) optimizer or loss argument as code the verifier can evaluate."""
        if isinstance(expr, cst.SimpleString):  # the class compile builds for this string
            names = LOSS_NAMES if module == "keras.losses" else OPTIMIZER_NAMES
            key = names.get(str(expr.evaluated_value))
            return f"{module}.{key}()" if key else f"{module}.get({code_of(expr)})"
        return code_of(expr)

    def training_rule(self, expr: cst.BaseExpression, module: str) -> Rule | None:
        """The rule of a compile's (original) optimizer or loss argument: a string, a call or a name."""
        if isinstance(expr, cst.SimpleString):
            names = LOSS_NAMES if module == "keras.losses" else OPTIMIZER_NAMES
            key = names.get(str(expr.evaluated_value))
            return self.rules.by_name.get(f"{module}.{key}") if key else None
        if isinstance(expr, cst.Name) and expr.value in self.train_plan.assigned:
            return self.train_plan.assigned[expr.value][1]
        if isinstance(expr, cst.Call):
            name = canonical(self.imports.resolve(expr.func))
            return self.rules.by_name.get(name) if name is not None else None
        return None

    def code(self, text: str) -> cst.BaseExpression:
        return parse_code(text)

    def name(self, qualified: str) -> cst.BaseExpression:
        return self.emit.name(qualified)

    def call(self, qualified: str, args: Sequence[cst.Arg]) -> cst.Call:
        return self.emit.call(qualified, args)

    # ------------------------------------------------------------------ statements
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._markers.append([])

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> Any:
        if self.train_plan.found:
            rewritten = self.trainer.statement(original_node, updated_node)
            if rewritten is not None:
                markers = [m for m in dict.fromkeys(self._markers.pop())]
                lines = [*lead(rewritten[0]), *(cst.EmptyLine(comment=cst.Comment(m)) for m in markers)]
                rewritten[0] = rewritten[0].with_changes(leading_lines=lines)
                return cst.FlattenSentinel(rewritten)
        markers = self._markers.pop()
        expand: list[cst.BaseSmallStatement] = []
        for small in updated_node.body:
            expand.append(small)
            expand.extend(self._appends.pop(id(small), []))
        if not expand and markers:  # removed, but a marker must stay visible
            expand = [cst.Pass()]
        if not expand:
            return cst.RemovalSentinel.REMOVE
        present = {ln.comment.value for ln in updated_node.leading_lines if ln.comment is not None}
        markers = [m for m in dict.fromkeys(markers) if m not in present]
        lines = [*updated_node.leading_lines, *(cst.EmptyLine(comment=cst.Comment(m)) for m in markers)]
        out = [updated_node.with_changes(body=[expand[0]], leading_lines=lines)]
        for s in expand[1:]:
            out.append(cst.SimpleStatementLine(body=[s]))
        if len(out) == 1 and len(updated_node.body) == len(expand):
            return updated_node.with_changes(leading_lines=lines)
        return cst.FlattenSentinel(out)

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    # ------------------------------------------------------------------ blocks (ecosystem.py)
    def visit_With(self, node: cst.With) -> None:
        self._markers.append([])  # findings about the with's items

    def leave_With(self, original_node: cst.With, updated_node: cst.With) -> Any:
        markers = self._markers.pop()
        out = ecosystem.with_block(self, original_node, updated_node, markers)
        if out is not None:
            return out
        present = {ln.comment.value for ln in updated_node.leading_lines if ln.comment is not None}
        comments = [cst.EmptyLine(comment=cst.Comment(m)) for m in dict.fromkeys(markers) if m not in present]
        return updated_node.with_changes(leading_lines=[*updated_node.leading_lines, *comments])

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> Any:
        return ecosystem.gpu_test(self, original_node, updated_node)

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> Any:
        if not updated_node.body:  # every statement was TensorFlow-only configuration
            return updated_node.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        return updated_node

    def _pipeline(self, original: cst.Call, updated: cst.Call, pipeline: Pipeline) -> cst.BaseExpression:
        """A ``tf.data`` chain whose source migrated: one DataLoader (``data.py``)."""
        base: cst.BaseExpression = updated
        for _ in pipeline.steps:
            assert isinstance(base, cst.Call) and isinstance(base.func, cst.Attribute)
            base = base.func.value
        if isinstance(base, cst.Call) and code_of(base.func) == code_of(pipeline.base.func):
            return updated  # the source was not migrated (its marker says why)
        code, notes = data.compose(self, pipeline, base)
        api = "tf.data pipeline"
        for note in notes:
            if note.severity is not Severity.MIGRATED:
                self._find(original, note.severity, api, note.message)
        infos = "; ".join(n.message for n in notes if n.severity is Severity.MIGRATED)
        message = f"{describe(pipeline)} -> DataLoader" + (f" ({infos})" if infos else "")
        self._find(original, Severity.MIGRATED, api, message)
        return self.code(code)

    # ------------------------------------------------------------------ classes
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._classes.append(ClassState(node.name.value))

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> Any:
        self._classes.pop()
        if original_node.name.value not in self.analysis.classes:
            return updated_node
        bases = []
        for b in updated_node.bases:
            if canonical(self.imports.resolve(b.value)) in ("keras.Model", "keras.layers.Layer"):
                b = b.with_changes(value=self.name("torch.nn.Module"))
            bases.append(b)
        self._find(
            original_node,
            Severity.MIGRATED,
            "keras class",
            f"{original_node.name.value} becomes an nn.Module",
        )
        return updated_node.with_changes(bases=bases)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._method.append(node.name.value)
        self._import_stack.append(self.imports)
        self.imports = without(self.imports, local_names(node))

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> Any:
        updated_node = ecosystem.strip_tf_function(self, original_node, updated_node)
        self._method.pop()
        self.imports = self._import_stack.pop()
        cls = self._classes[-1] if self._classes else None
        info = self.analysis.functions.get(original_node.name.value)
        if (
            cls is None
            and not self._method
            and info is not None
            and (info.is_builder or self._needs_class(info))
        ):
            return self._functional(original_node, updated_node, info)
        if cls is None or cls.name not in self.analysis.classes:
            return updated_node
        name = original_node.name.value
        if name == "call":
            params = [p for p in updated_node.params.params if p.name.value not in ("training", "mask")]
            if params:
                params[-1] = params[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated_node.with_changes(
                name=cst.Name("forward"), params=updated_node.params.with_changes(params=params)
            )
        if name == "__init__" and cls.name in self.ann.needs_in and self.in_alias(cls.name) is None:
            params = list(updated_node.params.params)
            new = cst.Param(
                cst.Name("in_channels"), comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
            params.insert(1, new)
            params[0] = params[0].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            return updated_node.with_changes(params=updated_node.params.with_changes(params=params))
        if name == "build":
            self._find(
                original_node,
                Severity.UNSUPPORTED,
                "build",
                "a custom build() (weights made with add_weight) has no rule yet",
            )
        return updated_node

    def leave_Param(self, original_node: cst.Param, updated_node: cst.Param) -> cst.Param:
        """``def train(path="model.weights.h5")`` with ``model.save_weights(path)``: a ``.pt`` default."""
        default = updated_node.default
        if original_node.name.value in self.train_plan.weight_paths and isinstance(default, cst.SimpleString):
            code, renamed = torch_weights_path(default)
            if renamed is not None:
                self._find(original_node, Severity.MIGRATED, f"{original_node.name.value}=", renamed)
                return updated_node.with_changes(default=cst.parse_expression(code))
        return updated_node

    def visit_Param(self, node: cst.Param) -> bool:
        return False

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> Any:
        if original_node.keyword is not None:
            return updated_node.with_changes(keyword=original_node.keyword)
        return updated_node

    def _in_call_method(self) -> bool:
        return bool(self._method) and self._method[-1] == "call" and bool(self._classes)

    def _needs_class(self, info: Any) -> bool:
        """A builder returning a Sequential with a layer nn.Sequential cannot hold (a recurrent
        layer returns a tuple in torch): it becomes a generated class like a functional model."""
        found = {"sequential": False, "rnn": False}
        analysis = self.analysis

        class V(cst.CSTVisitor):
            def visit_Call(inner, node: cst.Call) -> None:
                rule = analysis.rule_for(node.func)
                if rule is not None and rule.hook == "sequential":
                    found["sequential"] = True
                if rule is not None and rule.hook in ("keras_rnn", "keras_bidirectional"):
                    found["rnn"] = True

        info.node.visit(V())
        conflicts = self.ann.seq_conflicts

        class C(cst.CSTVisitor):
            def visit_Call(inner, node: cst.Call) -> None:
                if id(node) in conflicts:
                    found["rnn"] = True

        info.node.visit(C())
        return found["sequential"] and found["rnn"]

    def _functional(self, original: cst.FunctionDef, updated: cst.FunctionDef, info: Any) -> Any:
        from migrator.engine.tf2torch.functional import generate
        from migrator.engine.tf2torch.trace import TraceError

        start, end = self.positions.spans.get(id(original), (0, 0))
        before = len(self.findings)
        try:
            gen = generate(self, original, info, self._class_names)
        except TraceError as err:
            del self.findings[before:]
            self._find(err.node, Severity.UNSUPPORTED, "functional model", err.reason)
            return updated
        fresh = self.findings[before:]
        self.generated_findings.update(id(f) for f in fresh)
        self.findings = [f for f in self.findings[:before] if not start <= f.line <= end] + fresh
        for name in gen.helpers:
            self.inlined[name] = (0, 0)
        self._find(original, Severity.MIGRATED, "functional model", f"{info.name} builds an nn.Module class")
        return cst.FlattenSentinel(gen.statements)

    def support_class(self, name: str) -> str:
        """Use a helper class the output defines for itself (see support.py); returns its name."""
        self.support.add(name)
        return name

    def layer_of(self, expr: cst.BaseExpression) -> LayerOut | None:
        """The rewritten layer an (already rewritten) expression stands for."""
        return self._layers.get(id(expr))

    def build_layer(self, original: cst.Call, call: cst.Call) -> LayerOut | None:
        """Rewrite one layer constructor (for generated code: ``call`` has the call site's values)."""
        rule = self.analysis.rule_for(call.func)
        if rule is None or rule.kind is not RuleKind.LAYER:
            return None
        return self._layer(rule, original, call)

    def record_layer(self, owner: str, keras_path: str, torch_path: str, out: LayerOut) -> None:
        self._record(owner, keras_path, torch_path, out)

    def emit_plain_call(self, name: str, args: Sequence[cst.Arg]) -> cst.Call:
        from migrator.engine.emitter import commas

        return cst.Call(cst.Name(name), commas(args))

    def rewrite_op(self, original: cst.Call, node: cst.Call) -> cst.BaseExpression:
        """An op in traced code: operands are variables whose layouts the trace knows."""
        rule = self.analysis.rule_for(node.func)
        if rule is None or rule.kind is not RuleKind.FUNCTION:
            api = canonical(self.imports.resolve(node.func)) or code_of(node.func)
            self._find(original, Severity.UNSUPPORTED, api, "no tf2torch rule for this API yet")
            return node
        return self._op(rule, original, node, traced=True)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> Any:
        if updated_node.value == "training" and self._in_call_method():
            return cst.Attribute(value=cst.Name("self"), attr=cst.Name("training"))
        return self._converted(original_node, updated_node)

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> Any:
        updated_node = ecosystem.strategy_target(self, original_node, updated_node)
        updated_node = self._state_assign(original_node, updated_node)
        updated_node = self._module_list(original_node, updated_node)
        cls = self._classes[-1] if self._classes else None
        value = updated_node.value
        out = self._layers.get(id(value))
        if cls is not None and out is not None:
            for t in original_node.targets:
                if (
                    isinstance(t.target, cst.Attribute)
                    and isinstance(t.target.value, cst.Name)
                    and t.target.value.value == "self"
                ):
                    cls.attrs[t.target.attr.value] = out
                    self._record(cls.name, t.target.attr.value, t.target.attr.value, out)
        value_node = original_node.value
        if (
            cls is not None
            and out is None
            and isinstance(value_node, cst.Call)
            and isinstance(value_node.func, cst.Name)
            and value_node.func.value in self._factory_out
        ):  # self.stem = conv_bn_relu(3, width): the factory's layers, recorded per use
            built = self._factory_out[value_node.func.value]
            for t in original_node.targets:
                if _is_self_attr(t.target):
                    attr = t.target.attr.value  # type: ignore[attr-defined]
                    self._record(cls.name, attr, attr, built)
        for t in original_node.targets:
            if (
                isinstance(t.target, cst.Name)
                and self.analysis.rule_for_value(original_node.value) == "sequential"
            ):
                self._seq_vars.add(t.target.value)
                if out is not None:
                    self._seq_out[t.target.value] = out
                    if not self._method:  # a module-level model: its owner is the variable
                        self._record(t.target.value, "", "", out)
        return updated_node

    def _module_list(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        """``self.heads = [layers.Dense(4) for _ in range(3)]``: Keras tracks layers in a list
        attribute, torch only in an nn.ModuleList."""
        value = updated.value
        if not self._classes or not isinstance(value, cst.List | cst.ListComp):
            return updated
        targets = [t.target for t in original.targets]
        if not all(_is_self_attr(t) for t in targets):
            return updated
        elements = [value.elt] if isinstance(value, cst.ListComp) else [e.value for e in value.elements]
        outs = [self._layers.get(id(e)) for e in elements]
        if not outs or any(o is None for o in outs):
            return updated
        wrapped = self.call("torch.nn.ModuleList", [cst.Arg(value)])
        out = LayerOut(wrapped, rule=None)
        count = range_count(value.for_in.iter) if isinstance(value, cst.ListComp) else len(outs)
        first = outs[0]
        assert first is not None
        if isinstance(value, cst.ListComp):
            out.children = [(str(i), str(i), first) for i in range(count or 0)]
        else:
            out.children = [(str(i), str(i), o) for i, o in enumerate(outs) if o is not None]
        self._layers[id(wrapped)] = out
        return updated.with_changes(value=wrapped)

    def _state_assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        """``seq, h = self.gru(x)`` (return_state=True): torch returns (seq, h_n)."""
        value = original.value
        if not isinstance(value, cst.Call) or len(original.targets) != 1:
            return updated
        layer = self._applied_layer(value)
        if layer is None or layer.rnn is None or not layer.rnn.state:
            return updated
        target = original.targets[0].target
        elements = list(target.elements) if isinstance(target, cst.Tuple) else []
        names = [e.value.value for e in elements if isinstance(e.value, cst.Name)]
        if len(names) != len(elements):
            names = []
        plan = state_unpacking(names, layer.rnn, self.emit)
        if plan is None:
            self._find(
                value, Severity.UNSUPPORTED, "return_state", "unpack the outputs into names (out, h[, c])"
            )
            return updated
        new_target, lines = plan
        new = updated.with_changes(targets=[updated.targets[0].with_changes(target=new_target)])
        self._appends[id(new)] = [_small(line) for line in lines]
        return new

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> Any:
        """A builder function returning a Sequential owns its layers (``--model build_model()``)."""
        if self._classes or not self._method or original_node.value is None:
            return updated_node
        value = original_node.value
        out = self._by_original.get(id(value))
        if out is None and isinstance(value, cst.Name):
            out = self._seq_out.get(value.value)
        if out is not None and out.children:
            self._record(self._method[-1], "", "", out)
            self.builders.add(self._method[-1])
            self._factory_out[self._method[-1]] = out
        return updated_node

    def _record(self, owner: str, keras_path: str, torch_path: str, out: LayerOut) -> None:
        """Record which Keras layer became which torch module, and the weight transform."""
        for t, k, child in out.children:
            self._record(
                owner,
                f"{keras_path}.{k}" if keras_path else k,
                f"{torch_path}.{t}" if torch_path else t,
                child,
            )
        if out.children or out.rule is None or out.transform is None:
            return
        target = f"{torch_path}.{out.suffix}" if out.suffix else torch_path
        self.records.append(
            LayerRecord(owner, keras_path, target, out.rule.id, out.transform, out.line, dict(out.extra))
        )

    # ------------------------------------------------------------------ expressions
    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> Any:
        if (
            updated_node.attr.value == "history"
            and isinstance(updated_node.value, cst.Name)
            and updated_node.value.value in self.train_plan.histories
        ):
            return updated_node.value  # fit's History became the dict of per-epoch lists
        count = ecosystem.replicas(self, original_node)
        if count is not None:
            return count
        return self._converted(original_node, updated_node)

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> Any:
        size = self._shape_index(original_node)
        if size is not None:
            return size
        return self._converted(original_node, updated_node)

    def _shape_index(self, node: cst.Subscript) -> cst.BaseExpression | None:
        """``ops.shape(x)[i]`` -> ``x.shape[j]``, j the torch axis holding Keras axis i."""
        value = node.value
        if not isinstance(value, cst.Call) or len(node.slice) != 1 or not value.args:
            return None
        rule = self.analysis.rule_for(value.func)
        idx = node.slice[0].slice
        if rule is None or rule.hook != "keras_shape" or not isinstance(idx, cst.Index):
            return None
        i = literal(idx.value)
        operand = value.args[0].value
        t = self.ann.tensors.get(id(operand))
        if not isinstance(operand, cst.Name) or not isinstance(i, int) or t is None:
            return None
        if t.cell.perm is None or t.rank is None:
            return None
        axis = Layout(t.cell.perm).axis(i % t.rank)
        shape = cst.Attribute(cst.Name(operand.value), cst.Name("shape"))
        return cst.Subscript(shape, [cst.SubscriptElement(cst.Index(int_node(axis)))])

    def leave_BinaryOperation(
        self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
    ) -> Any:
        return self._converted(original_node, updated_node)

    def _converted(self, original: cst.BaseExpression, node: cst.BaseExpression) -> cst.BaseExpression:
        conv = self.ann.converts.get(id(original))
        if conv is None:
            return node
        have, want = conv
        perm = permute_between(have, want)
        if not isinstance(node, cst.Name | cst.Attribute | cst.Call | cst.Subscript) and not node.lpar:
            node = node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])  # (y * 2.0).permute
        if len(perm) == 3 and perm == (0, 2, 1):
            return cst.Call(
                cst.Attribute(node, cst.Name("transpose")),
                [cst.Arg(int_node(1), comma=_comma()), cst.Arg(int_node(2))],
            )
        args = [
            cst.Arg(int_node(p), comma=_comma() if i < len(perm) - 1 else cst.MaybeSentinel.DEFAULT)
            for i, p in enumerate(perm)
        ]
        return cst.Call(cst.Attribute(node, cst.Name("permute")), args)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> Any:
        count = ecosystem.device_count(self, original_node)
        if count is not None:
            return count
        pipeline = self.train_plan.eco.pipelines.get(id(original_node))
        if pipeline is not None and pipeline.steps:
            return self._pipeline(original_node, updated_node, pipeline)
        name = canonical(self.imports.resolve(original_node.func))
        rule = self.rules.by_name.get(name) if name is not None else None
        if name == "keras.Input":
            self._find(
                original_node,
                Severity.MIGRATED,
                name,
                "keras.Input declares the input shape; torch modules take tensors directly",
            )
            return updated_node
        if rule is not None and rule.kind is RuleKind.LAYER:
            out = self._layer(rule, original_node, updated_node)
            if out is None:
                return original_node  # left as it was, wrapped layers included
            self._layers[id(out.expr)] = out
            self._by_original[id(original_node)] = out
            return out.expr
        if rule is not None and rule.kind is RuleKind.FUNCTION:
            return self._converted(original_node, self._op(rule, original_node, updated_node))
        if name == "keras.Model":
            self._find(
                original_node,
                Severity.UNSUPPORTED,
                name,
                "functional models (keras.Model(inputs, outputs)) are not migrated yet",
            )
            return updated_node
        if self.train_plan.unhandled(original_node):
            self._find(
                original_node,
                Severity.UNSUPPORTED,
                f"model.{original_node.func.attr.value}",  # type: ignore[attr-defined]
                "inside an expression: assign its result in a statement of its own to migrate it",
            )
            return updated_node
        if name is not None and rule is None and keras_side(name):
            self._find(original_node, Severity.UNSUPPORTED, name, "no tf2torch rule for this API yet")
            return updated_node
        func = original_node.func
        if (
            isinstance(func, cst.Name)
            and func.value in self.ann.needs_in
            and func.value in self.analysis.classes
        ):
            return self._with_in_channels(original_node, updated_node, func.value)
        if isinstance(func, cst.Attribute):
            attr = func.attr.value
            if attr == "add" and isinstance(func.value, cst.Name) and func.value.value in self._seq_vars:
                return self._seq_add(original_node, updated_node)
            if attr == "append" and len(original_node.args) == 1:
                self._list_append(original_node, updated_node)
            if attr == "build" and isinstance(func.value, cst.Name):
                self._find(
                    original_node,
                    Severity.MIGRATED,
                    "build",
                    "shapes were inferred from this call; torch modules need no build()",
                )
                self._drop_statement = True
                return updated_node
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
            inner = func.value.func
            if isinstance(inner, cst.Name) and inner.value == "super" and func.attr.value == "__init__":
                if updated_node.args:
                    self._find(
                        original_node,
                        Severity.MIGRATED,
                        "super().__init__",
                        "Keras layer arguments (name=, **kwargs) have no nn.Module counterpart; dropped",
                    )
                return updated_node.with_changes(args=[])
        if (
            self._in_call_method()
            and isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
        ):
            kept = [
                a
                for a in updated_node.args
                if a.keyword is None or a.keyword.value not in ("training", "mask")
            ]
            if len(kept) != len(updated_node.args):
                if kept:
                    kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                updated_node = updated_node.with_changes(args=kept)
        # a layer attribute applied: self.conv(x, training=training)
        layer = self._applied_layer(original_node)
        if layer is not None:
            args = [
                a
                for a in updated_node.args
                if a.keyword is None or a.keyword.value not in ("training", "mask")
            ]
            if args:
                args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            new: cst.BaseExpression = updated_node.with_changes(args=args)
            if layer.attention is not None and isinstance(new, cst.Call):
                from migrator.transforms.keras_attention import attention_call

                new = attention_call(self, original_node, new, layer.attention)
            if layer.activation is not None:
                dim = self._act_dim(original_node, layer)
                new = activation_call(self.emit, layer.activation, new, dim)
            if layer.rnn is not None and isinstance(new, cst.Call):
                if has_mask(original_node):
                    rule_id = layer.rule.id if layer.rule is not None else None
                    self._find(original_node, Severity.UNSUPPORTED, "mask=", MASK_REASON, rule_id)
                new = self._rnn_call(new, layer.rnn)
            if layer.rnn is not None and not layer.rnn.state:
                new = output(self.emit, new, layer.rnn)
            return self._converted(original_node, new)
        return self._converted(original_node, updated_node)

    def in_alias(self, cls: str) -> str | None:
        """The constructor parameter of a layer class that equals its input channels wherever it
        is used (``in_planes``): then it stands for them, and no ``in_channels`` is added."""
        uses = self.ann.class_uses.get(cls)
        if not uses or any(c is None for c, _ in uses):
            return None
        for p in uses[0][1]:
            if all(args.get(p) == c for c, args in uses):
                return p
        return None

    def _with_in_channels(self, original: cst.Call, call: cst.Call, cls: str) -> cst.BaseExpression:
        """A layer class that now takes its input channels first: pass them where it is built."""
        from migrator.engine.emitter import commas
        from migrator.engine.tf2torch.emit import dim_node

        if self.in_alias(cls) is not None:
            return call  # one of its own parameters already says it
        shape = self._input_shape(original)
        channels = shape[-1] if shape else None
        if channels is None:
            self._find(original, Severity.UNSUPPORTED, cls, "its input channels could not be inferred here")
            return call
        return call.with_changes(args=commas([cst.Arg(dim_node(channels)), *call.args]))

    def _applied_layer(self, node: cst.Call) -> LayerOut | None:
        func = node.func
        cls = self._classes[-1] if self._classes else None
        if (
            cls is not None
            and isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
        ):
            return cls.attrs.get(func.attr.value)
        if (  # a recurrent layer of a list: self.rnns[0](x)
            isinstance(func, cst.Subscript)
            and isinstance(func.value, cst.Attribute)
            and len(func.slice) == 1
            and isinstance(func.slice[0].slice, cst.Index)
        ):
            owner = self._applied_layer(cst.Call(func.value))
            i = literal(func.slice[0].slice.value)
            if owner is not None and isinstance(i, int) and -len(owner.children) <= i < len(owner.children):
                child = owner.children[i][2]
                return child if child.rnn is not None else None
        return None

    def _rnn_call(self, call: cst.Call, rnn: RnnInfo) -> cst.Call:
        """A recurrent layer's call with torch's arguments: the input (reversed for go_backwards)
        and ``hx`` from ``initial_state=``."""
        x = next((a.value for a in call.args if a.keyword is None), None)
        state = next((a.value for a in call.args if a.keyword and a.keyword.value == "initial_state"), None)
        if x is None:
            return call
        initial = initial_of(state, rnn) if state is not None else None
        return call.with_changes(args=call_args(self.emit, x, initial, rnn))

    def _act_dim(self, node: cst.Call, layer: LayerOut) -> int | None:
        t = self.ann.tensors.get(id(node))
        if t is None or t.cell.perm is None or t.rank is None:
            return -1
        return Layout(t.cell.perm).axis(t.rank - 1)

    # ------------------------------------------------------------------ Sequential
    def _seq_add(self, original: cst.Call, updated: cst.Call) -> Any:
        if not updated.args:
            return updated
        value = original.args[0].value
        if (
            canonical(self.imports.resolve(value.func)) == "keras.Input"
            if isinstance(value, cst.Call)
            else False
        ):
            self._drop_statement = True
            return updated
        func = updated.func
        assert isinstance(func, cst.Attribute)
        new = updated.with_changes(func=func.with_changes(attr=cst.Name("append")))
        out = self._by_original.get(id(value))
        var = func.value.value if isinstance(func.value, cst.Name) else ""
        seq = self._seq_out.get(var)
        if seq is not None and out is not None:
            k, t = self._seq_next.get(var, (0, 0))
            seq.children.append((str(t), str(k), out))
            self._seq_next[var] = (k + 1, t + (2 if out.activation is not None else 1))
        if out is not None and out.activation is not None:
            act = activation_module(self.emit, out.activation, out.act_dim)
            self._pending_append = new.with_changes(args=[cst.Arg(act)])
        return new

    def _list_append(self, original: cst.Call, updated: cst.Call) -> None:
        """``layers.append(layers.Dense(8, activation="tanh"))``: the activation is appended after
        the layer as its own module, which is right for a list that becomes a Sequential."""
        out = self._by_original.get(id(original.args[0].value))
        if out is None or out.activation is None:
            return
        act = activation_module(self.emit, out.activation, out.act_dim)
        self._pending_append = updated.with_changes(args=[cst.Arg(act)])
        self._find(
            original,
            Severity.REVIEW,
            "activation",
            "appended as its own module after the layer: right when the list runs in order (a Sequential)",
        )

    def leave_Expr(self, original_node: cst.Expr, updated_node: cst.Expr) -> Any:
        if updated_node.value is REMOVED:  # TensorFlow-only configuration (keras_ecosystem.removed)
            return cst.RemovalSentinel.REMOVE
        if self._drop_statement:
            self._drop_statement = False
            return cst.RemovalSentinel.REMOVE
        pending = self._pending_append
        if pending is not None:
            self._pending_append = None
            self._appends[id(updated_node)] = [cst.Expr(pending)]
        return updated_node

    # ------------------------------------------------------------------ layers
    def _report_hook(self, original: cst.Call, api: str, rule: Rule, default: str) -> None:
        """The finding of a call a hook migrated, with the notes the hook left (``note``)."""
        notes, self._notes = self._notes, []
        for note in notes:
            if note.severity is not Severity.MIGRATED:
                self._find(original, note.severity, api, note.message, rule.id)
        infos = [n.message for n in notes if n.severity is Severity.MIGRATED]
        message = (rule.summary or default) + (f" ({'; '.join(infos)})" if infos else "")
        self._find(original, Severity.MIGRATED, api, message, rule.id)

    def _layer(self, rule: Rule, original: cst.Call, call: cst.Call) -> LayerOut | None:
        api = canonical(self.imports.resolve(original.func)) or rule.match[0]
        if rule.unsupported is not None:
            self._find(original, Severity.UNSUPPORTED, api, rule.unsupported, rule.id)
            return None
        bound, err = bind_arguments(rule, call, None)
        if err is not None:
            self._find(original, Severity.UNSUPPORTED, api, err, rule.id)
            return None
        if rule.hook == "sequential":
            return self._sequential(rule, original, call, bound)
        shape = self._input_shape(original)
        perm = self.ann.layer_layout.get(id(original))
        line, _ = self.positions.position(original)
        site = CallSite(rule, call, bound, {}, line)
        act_args = [n for n, s in rule.args.items() if s.activation]
        activation: Activation | None = None
        for n in act_args:
            if n in bound:
                v = literal(bound[n])
                if v in NO_ACTIVATION:
                    continue
                if not isinstance(v, str) or v not in ACTIVATIONS:
                    self._find(
                        original,
                        Severity.UNSUPPORTED,
                        api,
                        f"{n}={code_of(bound[n])}: no torch activation for it",
                        rule.id,
                    )
                    return None
                activation = ACTIVATIONS[v]
        if rule.hook is not None:
            from migrator.transforms.keras_layers import KERAS_HOOKS

            self._notes = []
            self.original_layer = original
            result = KERAS_HOOKS[rule.hook](self, site, shape, perm)
            if isinstance(result, str):
                self._find(original, Severity.UNSUPPORTED, api, result, rule.id)
                return None
            result.activation = result.activation or activation
            result.act_dim = self._dim_of_last(shape, perm)
            result.line = line
            result.extra.update(self._context(rule, bound, original))
            self._report_hook(original, api, rule, f"becomes {code_of(result.expr).split('(')[0]}")
            return result
        mapped = self.map_args(site, skip=act_args)
        if mapped.unsupported is not None:
            self._find(original, Severity.UNSUPPORTED, api, mapped.unsupported, rule.id)
            return None
        for note in mapped.notes:
            self._find(original, note.severity, api, note.message, rule.id)
        args = list(mapped.args)
        target = rule.emit
        lazy = False
        for kw in rule.infer:
            ch = shape[-1] if shape else None
            if ch is None:
                lazy = True
            else:
                args.insert(0, kwarg(kw, dim_node(ch)))
        if lazy:
            if rule.lazy is None:
                self._find(
                    original,
                    Severity.UNSUPPORTED,
                    api,
                    "its input size could not be inferred statically and torch has no Lazy form",
                    rule.id,
                )
                return None
            target = rule.lazy
            self._find(
                original,
                Severity.REVIEW,
                api,
                f"input size not inferred statically: {rule.lazy.rsplit('.', 1)[-1]} infers it when called",
                rule.id,
            )
        assert target is not None
        if rule.contract is Contract.FLATTEN and id(original) in self.ann.keras_order_flatten:
            target, args = "migrator.runtime.torch_support.ChannelsLastFlatten", []
            self._find(original, Severity.MIGRATED, api, _KERAS_ORDER_FLATTEN, rule.id)
        expr = self.call(target, order_positional(args, rule.signature))
        transform = rule.weights
        if transform == "linear" and self._flatten_permutes(original):
            transform = "linear_after_flatten"
        self._find(original, Severity.MIGRATED, api, rule.summary or f"becomes {target}", rule.id)
        out = LayerOut(expr, activation, self._dim_of_last(shape, perm), rule, transform, line=line)
        out.extra.update(self._context(rule, bound, original))
        return out

    def _flatten_permutes(self, original: cst.Call) -> bool:
        """A Dense after a Flatten of a feature map reads NHWC order in Keras, NCHW in torch, unless
        the map is 1x1 (after a global pooling with keepdims): then the orders agree."""
        flat = self.ann.after_flatten.get(id(original))
        if flat is None or self.ann.after_flatten_from.get(id(original)) in self.ann.keras_order_flatten:
            return False  # its Flatten keeps Keras's order (something else reads it too)
        return not all(d == 1 for d in flat[1:-1])

    def _context(
        self, rule: Rule, bound: dict[str, cst.BaseExpression], original: cst.Call
    ) -> dict[str, Any]:
        """What the weight transform needs beyond the weights (verify reads it from the record)."""
        extra: dict[str, Any] = {}
        for flag in ("use_bias", "center", "scale"):
            if flag in bound:
                v = literal(bound[flag])
                if isinstance(v, bool) and not v:
                    extra[flag] = False
        flat = self.ann.after_flatten.get(id(original))
        if flat is not None and self._flatten_permutes(original):
            dims = flat[1:]
            if all(isinstance(d, int) for d in dims):
                extra["flatten_shape_last"] = list(dims)
            elif all(isinstance(d, int) for d in dims[:-1]):
                extra["flatten_spatial"] = list(dims[:-1])  # channels given by a parameter
        if "depth_multiplier" in bound:
            v = literal(bound["depth_multiplier"])
            if isinstance(v, int):
                extra["depth_multiplier"] = v
        return extra

    def _input_shape(self, original: cst.Call) -> Shape | None:
        """The shape a layer is applied to. A layer built by a factory called several times gets,
        as its input size, the factory parameter that equals it at every call (``cin``)."""
        shape = self._aliased(self.ann.layer_input.get(id(original)))
        if shape is not None and id(original) in self.ann.varying:
            return (*shape[:-1], None)  # built in a loop over data: each layer may get another size
        uses = self.ann.factory_inputs.get(id(original))
        if shape is None or not uses:
            return shape
        # built inside a helper function: the size must be said in the helper's own terms
        candidates = [p for p in uses[0][1] if all(args.get(p) == c for c, args in uses)]
        if candidates:
            return (*shape[:-1], candidates[0])
        channels = {c for c, _ in uses}
        if len(channels) == 1 and isinstance(shape[-1], int):
            return shape  # the same number at every call
        return (*shape[:-1], None)

    def _aliased(self, shape: Shape | None) -> Shape | None:
        """Inside a layer class whose input channels are a constructor parameter, use that name."""
        cls = self._classes[-1].name if self._classes else None
        alias = self.in_alias(cls) if cls is not None else None
        if shape is None or alias is None:
            return shape
        pattern = re.compile(rf"\b{IN_CHANNELS}\b")
        return tuple(pattern.sub(alias, d) if isinstance(d, str) else d for d in shape)

    def _dim_of_last(self, shape: Shape | None, perm: tuple[int, ...] | None) -> int | None:
        if shape is None:
            return -1
        rank = len(shape)
        if perm is None:
            return -1
        return Layout(perm).axis(rank - 1) if rank > 2 else -1

    def map_args(self, site: CallSite, skip: Sequence[str] = ()) -> MappedArgs:
        return map_arguments(site, self.code, skip)

    def _sequential(
        self, rule: Rule, original: cst.Call, call: cst.Call, bound: dict[str, cst.BaseExpression]
    ) -> LayerOut | None:
        why = self._sequential_blocker(original, call)
        if why is not None:
            self._find(original, Severity.UNSUPPORTED, "keras.Sequential", why, rule.id)
            return None
        items = call.args[0].value if call.args and call.args[0].keyword is None else None
        orig_items = original.args[0].value if original.args and original.args[0].keyword is None else None
        elements: list[cst.BaseExpression] = []
        children: list[tuple[str, str, LayerOut]] = []
        keras_index = 0
        if items is not None and not isinstance(items, cst.List | cst.Tuple):
            return self._sequential_of(rule, original, items, orig_items)
        if isinstance(items, cst.List | cst.Tuple) and isinstance(orig_items, cst.List | cst.Tuple):
            for el, orig in zip(items.elements, orig_items.elements, strict=False):
                ov = orig.value
                if isinstance(ov, cst.Call) and canonical(self.imports.resolve(ov.func)) == "keras.Input":
                    continue
                out = self._layers.get(id(el.value))
                if out is not None:
                    children.append((str(len(elements)), str(keras_index), out))
                keras_index += 1
                elements.append(el.value)
                if out is not None and out.activation is not None:
                    elements.append(activation_module(self.emit, out.activation, out.act_dim))
        for a in call.args:
            if a.keyword is not None and a.keyword.value != "layers":
                self._find(
                    original,
                    Severity.MIGRATED,
                    "keras.Sequential",
                    f"{a.keyword.value}= has no nn.Sequential counterpart and is dropped",
                )
        expr = self.call("torch.nn.Sequential", [cst.Arg(e) for e in elements])
        if len(elements) > 2:
            expr = _multiline(expr)
        self._find(original, Severity.MIGRATED, "keras.Sequential", "becomes nn.Sequential")
        return LayerOut(expr, None, None, rule, None, children=children)

    def _tensor_of(self, node: cst.BaseExpression, traced: bool) -> Any:
        if traced:
            return self.trace_layouts.get(node.value) if isinstance(node, cst.Name) else None
        return self.ann.tensors.get(id(node))

    def _sequential_blocker(self, original: cst.Call, call: cst.Call) -> str | None:
        """Why this Sequential cannot be an nn.Sequential (None when it can). Inside a builder
        function these become a generated class instead (see ``_needs_class``)."""
        if id(original) in self.ann.seq_conflicts:
            return (
                "its layers need a layout change between them (NCHW maps into a Dense, LayerNorm or "
                "recurrent layer), which nn.Sequential cannot hold; build it in a function to get a class"
            )
        items = call.args[0].value if call.args and call.args[0].keyword is None else None
        orig_items = original.args[0].value if original.args and original.args[0].keyword is None else None
        if isinstance(items, cst.List | cst.Tuple) and isinstance(orig_items, cst.List | cst.Tuple):
            for el, orig in zip(items.elements, orig_items.elements, strict=False):
                ov = orig.value
                if isinstance(ov, cst.Call) and canonical(self.imports.resolve(ov.func)) == "keras.Input":
                    continue
                out = self._layers.get(id(el.value))
                if out is None:
                    return "one of its layers could not be migrated (see its marker)"
                if out.rnn is not None:
                    return (
                        "a recurrent layer returns a tuple in torch, which nn.Sequential cannot pass on; "
                        "build it in a function to get a class"
                    )
        return None

    def _sequential_of(
        self, rule: Rule, original: cst.Call, items: cst.BaseExpression, orig_items: cst.BaseExpression | None
    ) -> LayerOut:
        """``keras.Sequential([Block(d) for _ in range(n)])`` -> ``nn.Sequential(*[...])``."""
        children: list[tuple[str, str, LayerOut]] = []
        if isinstance(orig_items, cst.ListComp) and isinstance(items, cst.ListComp):
            out = self._layers.get(id(items.elt))
            count = range_count(orig_items.for_in.iter)
            if out is not None and out.activation is not None:
                why = "an activation= inside a comprehension"
                self._find(original, Severity.UNSUPPORTED, "keras.Sequential", why)
            if out is not None and count is not None:
                children = [(str(i), str(i), out) for i in range(count)]
        else:
            self._find(
                original,
                Severity.REVIEW,
                "keras.Sequential",
                "its layers are built elsewhere: check that each became a torch module",
            )
        expr = self.call("torch.nn.Sequential", [cst.Arg(items, star="*")])
        self._find(original, Severity.MIGRATED, "keras.Sequential", "becomes nn.Sequential")
        return LayerOut(expr, None, None, rule, None, children=children)

    # ------------------------------------------------------------------ ops
    def _op(self, rule: Rule, original: cst.Call, call: cst.Call, traced: bool = False) -> cst.BaseExpression:
        api = canonical(self.imports.resolve(original.func)) or rule.match[0]
        bound, err = bind_arguments(rule, call, None)
        if err is not None or rule.unsupported is not None:
            self._find(original, Severity.UNSUPPORTED, api, err or rule.unsupported or "", rule.id)
            return call
        obound = bound if traced else bind_arguments(rule, original, None)[0]
        layouts: dict[str, Layout | None] = {}
        self.operands = {}
        for k in operand_params(rule, obound):
            v = obound[k]
            t = self._tensor_of(v, traced)
            if t is None and isinstance(v, cst.List | cst.Tuple) and v.elements:
                t = self._tensor_of(v.elements[0].value, traced)
            if t is not None:
                self.operands[k] = t
            if t is not None and t.cell.perm is not None:
                layouts[k] = Layout(t.cell.perm)
        line, _ = self.positions.position(original)
        site = CallSite(rule, call, bound, layouts, line)
        if rule.hook is not None:
            from migrator.transforms.keras_layers import KERAS_HOOKS

            self._notes = []
            self.original_call = original
            result = KERAS_HOOKS[rule.hook](self, site, None, None)
            if isinstance(result, str):
                self._find(original, Severity.UNSUPPORTED, api, result, rule.id)
                return call
            self._report_hook(original, api, rule, "migrated")
            if rule.training is not None:
                self.train_code[id(original)] = (code_of(original), code_of(result.expr))
            return result.expr
        mapped = self.map_args(site)
        if mapped.unsupported is not None:
            self._find(original, Severity.UNSUPPORTED, api, mapped.unsupported, rule.id)
            return call
        for note in mapped.notes:
            self._find(original, note.severity, api, note.message, rule.id)
        assert rule.emit is not None
        self._find(original, Severity.MIGRATED, api, rule.summary or f"becomes {rule.emit}", rule.id)
        return self.call(rule.emit, mapped.args)


def _is_self_attr(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self"


def _small(line: str) -> cst.BaseSmallStatement:
    stmt = cst.parse_statement(line + "\n")
    assert isinstance(stmt, cst.SimpleStatementLine)
    return stmt.body[0]


def _comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _newline(extra: str) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(), indent=True, last_line=cst.SimpleWhitespace(extra)
    )


def _multiline(call: cst.Call) -> cst.Call:
    """One element per line with a trailing comma, as people write long nn.Sequential calls."""
    n = len(call.args)
    args = [
        a.with_changes(comma=cst.Comma(whitespace_after=_newline("    " if i < n - 1 else "")))
        for i, a in enumerate(call.args)
    ]
    return call.with_changes(args=args, whitespace_before_args=_newline("    "))


__all__ = ["KerasToTorch", "LayerArgs", "identity", "map_axis"]
