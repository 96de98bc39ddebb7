"""The libcst transformer that applies torch2tf rules, tracking tensor layouts through ``forward``.

One instance per file. It walks the tree once (post-order, so arguments are migrated before the
call that holds them), keeps a scope per function with the layout of every tensor variable, and a
per-class table of what each ``self.<attr>`` module is, so ``self.conv(x)`` knows its contract.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import libcst as cst

from migrator.engine.args import bind_arguments, map_arguments
from migrator.engine.contracts import ClassSummary, through, wanted
from migrator.engine.emitter import Emitter, code_of, int_node, tuple_node
from migrator.engine.indexing import remap
from migrator.engine.layout import Flattened, Layout, channels_last, identity
from migrator.engine.names import ImportTable
from migrator.engine.positions import PositionTracker
from migrator.engine.site import CallSite, HookResult, MappedArgs, ModuleInfo
from migrator.engine.statements import drop_absorbed, is_tensorish, shape_source, with_markers
from migrator.engine.train_plan import TrainingPlan
from migrator.engine.values import int_or_ints, parse_code
from migrator.engine.walk import Walker
from migrator.rules.loader import RuleSet
from migrator.rules.schema import Contract, Rule, RuleKind
from migrator.transforms import HOOKS, MODULE_CALLS
from migrator.transforms.attention import ModuleCall
from migrator.transforms.recurrent import (
    UNPACK_HINT,
    RnnCall,
    output_expr,
    parse_call,
    replace_line,
    stack_of,
    unpack,
)
from migrator.types import Finding, LayerRecord, Severity, TensorLayout

MARKER = "# fwmigrate:"
_RESULT_FIELDS = {"values": 0, "indices": 1}  # fields of torch's (values, indices) results
_TRACKED_ROOTS = frozenset({"torch"})
# hooks whose notes say what became of the call when it is kept or passed through (device moves)
_SELF_DESCRIBED = frozenset(
    {"placement", "to", "device", "data_parallel", "compile_fn", "drop_statement", "rewritten", "same_call"}
    | {"distributed_sampler", "autocast"}
)
_MOVES = frozenset({"to", "cuda", "cpu"})  # methods that move any value (a model, a batch) between devices
_EQ = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))

if TYPE_CHECKING:
    from migrator.engine.train_rewrite import TrainingRewriter


@dataclass
class ClassCtx:
    name: str
    is_module: bool
    attrs: dict[str, ModuleInfo] = field(default_factory=dict)
    records: dict[str, LayerRecord] = field(default_factory=dict)
    inputs: tuple[TensorLayout, ...] = ()
    outputs: tuple[TensorLayout, ...] = ()


@dataclass
class Scope:
    kind: str  # "forward", "init", "function", "method"
    cls: ClassCtx | None
    vars: dict[str, Layout | None] = field(default_factory=dict)  # tracked tensors
    modules: dict[str, ModuleInfo] = field(default_factory=dict)  # local module-valued names
    params: tuple[str, ...] = ()
    bound_params: dict[str, Layout] = field(default_factory=dict)
    returns: list[Layout | None] = field(default_factory=list)
    returned_modules: list[ModuleInfo] = field(default_factory=list)
    lists: dict[str, list[ModuleInfo]] = field(default_factory=dict)  # local lists of layers
    seqs: dict[str, Layout | None] = field(default_factory=dict)  # sequences of tensors (split chunks)


class TorchToKeras(cst.CSTTransformer):
    def __init__(
        self,
        rules: RuleSet,
        imports: ImportTable,
        emitter: Emitter,
        torch_classes: frozenset[str],
        positions: PositionTracker,
        plan: TrainingPlan | None = None,
    ) -> None:
        super().__init__()
        self.positions = positions
        self.plan = plan or TrainingPlan()
        self._trainer: TrainingRewriter | None = None  # built when a training loop needs rewriting
        self.train_code: dict[int, tuple[str, str, int]] = {}  # id(original call) -> source, target, line
        self.rules = rules
        self.imports = imports
        self.emit = emitter
        self.torch_classes = torch_classes
        self.used_as_layer: set[str] = set()  # torch classes built inside another module -> keras Layer
        self.findings: list[Finding] = []
        self.kept_roots: set[str] = set()  # import aliases still referenced after migration
        self.records: list[LayerRecord] = []
        self.class_records: dict[str, tuple[str, tuple[TensorLayout, ...], tuple[TensorLayout, ...]]] = {}
        self._classes: list[ClassCtx | None] = []
        self._scopes: list[Scope] = []
        self._markers: list[list[str]] = []
        self._layouts: dict[int, tuple[cst.CSTNode, Layout | None]] = {}
        self._modules: dict[int, tuple[cst.CSTNode, ModuleInfo]] = {}
        self._inner: set[int] = set()  # Attribute/Name nodes that are part of a longer chain or a call
        self._summaries: dict[str, ClassSummary] = {}
        self._helpers: dict[str, ModuleInfo] = {}
        self._shapes: dict[int, tuple[cst.CSTNode, cst.BaseExpression]] = {}
        self._absorbed: set[int] = set()  # `x = x` statements left by an absorbed permute
        self._shape_pending: dict[int, tuple[cst.CSTNode, cst.CSTNode]] = {}
        self._tuples: dict[int, tuple[cst.CSTNode, tuple[Layout | None, ...]]] = {}  # tuple-valued calls
        # sequences of tensors made by tensor ops (split chunks, (values, indices)): element layout
        self._seqs: dict[int, tuple[cst.CSTNode, Layout | None]] = {}
        self._current_original: cst.CSTNode = cst.Pass()
        # id(original call) -> how its result is used, for modules whose calls are rewritten
        self._uses: dict[int, str] = {}
        # calls of recurrent layers in forward, until their statement rewrites them (recurrent.py)
        self._rnn_calls: dict[int, tuple[cst.Call, cst.Call, RnnCall | str, Layout | None, str | None]] = {}
        self._rnn_lines: dict[int, tuple[cst.SimpleStatementLine, ...]] = {}  # id(Assign) -> statements
        self._rnn_noop: set[int] = set()  # self.lstm.flatten_parameters() calls: their statements go
        self._contexts: list[cst.BaseExpression] = []  # context managers the current statement needs
        self._moved: set[int] = set()  # values left where a device move was (`model.to(device)`)
        self._decorators: set[int] = set()  # decorator expressions (leave_Decorator migrates them)
        self._alive: list[cst.CSTNode] = []  # nodes whose ids are kept in the sets above

    # ------------------------------------------------------------------ bookkeeping
    def _absorb(self, node: cst.CSTNode) -> None:
        """Mark a statement to be dropped (by id); the node is kept alive so that its id cannot be
        reused by a node built later in the run."""
        self._absorbed.add(id(node))
        self._alive.append(node)

    def _line(self, node: cst.CSTNode) -> tuple[int, int]:
        return self.positions.position(node)

    def _find(
        self,
        node: cst.CSTNode,
        severity: Severity,
        api: str,
        message: str,
        rule_id: str | None = None,
    ) -> None:
        line, col = self._line(node)
        self.findings.append(Finding(line, col, severity, api, message, rule_id))
        if severity is not Severity.MIGRATED and self._markers:
            tag = "unsupported" if severity is Severity.UNSUPPORTED else "review"
            self._markers[-1].append(f"{MARKER} {tag}: {api}: {message}")

    def _report(
        self, node: cst.CSTNode, severity: Severity, api: str, message: str, marker: bool = True
    ) -> None:
        if marker:
            self._find(node, severity, api, message)
        else:  # the rewritten code carries its own comment
            line, col = self._line(node)
            self.findings.append(Finding(line, col, severity, api, message))

    def _set_layout(self, node: cst.CSTNode, layout: Layout | None) -> None:
        self._layouts[id(node)] = (node, layout)

    def _set_module(self, node: cst.CSTNode, info: ModuleInfo) -> None:
        self._modules[id(node)] = (node, info)

    @property
    def scope(self) -> Scope | None:
        return self._scopes[-1] if self._scopes else None

    def _cls(self) -> ClassCtx | None:
        s = self.scope
        return s.cls if s is not None else None

    # ------------------------------------------------------------------ Tools protocol (for hooks)
    def name(self, qualified: str) -> cst.BaseExpression:
        return self.emit.name(qualified)

    def call(self, qualified: str, args: Sequence[cst.Arg]) -> cst.Call:
        return self.emit.call(qualified, args)

    def code(self, text: str) -> cst.BaseExpression:
        """Parse a code string from a rule file (never evaluated) and note the imports it uses."""
        expr = parse_code(text)
        for root in ("keras", "tf", "keras_support"):
            if re.search(rf"\b{root}\.", text):
                self.emit.used.add(root)
        return expr

    def list_modules(self, expr: cst.BaseExpression) -> tuple[ModuleInfo, ...]:
        s = self.scope
        if isinstance(expr, cst.Name) and s is not None and expr.value in s.lists:
            return tuple(s.lists[expr.value])
        info = self.module_of(expr)
        return info.children if info is not None else ()

    def mark_shape(self, expr: cst.BaseExpression, src: cst.BaseExpression) -> None:
        """``expr`` is ``ops.shape(src)`` standing for the source's ``src.size()``. Unless a later
        unpacking or index reorders it, a permuted shape is flagged when the statement ends."""
        self._shapes[id(expr)] = (expr, src)
        lay = self.layout_of(src)
        if lay is not None and not lay.is_identity:
            self._shape_pending[id(expr)] = (expr, self._current_original)

    def _shape_src(self, value: cst.BaseExpression) -> cst.BaseExpression | None:
        hit = self._shapes.get(id(value))
        if hit is not None:
            return hit[1]
        return shape_source(value)

    def is_tracked(self, expr: cst.BaseExpression) -> bool:
        if id(expr) in self._layouts:
            return True
        s = self.scope
        return isinstance(expr, cst.Name) and s is not None and expr.value in s.vars

    def layout_of(self, expr: cst.BaseExpression) -> Layout | None:
        """The layout of a tensor expression; for a sequence of tensors (split chunks), of its elements."""
        hit = self._layouts.get(id(expr))
        if hit is not None:
            return hit[1]
        seq = self._seq_layout(expr)
        if seq is not None:
            return seq[0]
        s = self.scope
        if isinstance(expr, cst.Name) and s is not None:
            return s.vars.get(expr.value)
        return None

    def _seq_layout(self, expr: cst.BaseExpression) -> tuple[Layout | None] | None:
        """(element layout,) when ``expr`` is a sequence of tensors made by a tensor op, else None."""
        hit = self._seqs.get(id(expr))
        if hit is not None:
            return (hit[1],)
        s = self.scope
        if isinstance(expr, cst.Name) and s is not None and expr.value in s.seqs:
            return (s.seqs[expr.value],)
        return None

    def module_of(self, expr: cst.BaseExpression) -> ModuleInfo | None:
        hit = self._modules.get(id(expr))
        if hit is not None:
            return hit[1]
        s = self.scope
        if isinstance(expr, cst.Name) and s is not None:
            return s.modules.get(expr.value)
        if (
            isinstance(expr, cst.Attribute)
            and isinstance(expr.value, cst.Name)
            and expr.value.value == "self"
        ):
            cls = self._cls()
            if cls is not None:
                return cls.attrs.get(expr.attr.value)
        return None

    def convert(self, expr: cst.BaseExpression, have: Layout, want: Layout) -> cst.BaseExpression:
        """Emit a transpose that turns a tensor held in ``have`` into ``want``."""
        if have.perm == want.perm or have.rank != want.rank:
            return expr
        q = tuple(have.perm.index(p) for p in want.perm)
        out = self.call("keras.ops.transpose", [cst.Arg(expr), cst.Arg(tuple_node(q))])
        self._set_layout(out, want)
        return out

    def _model_output(self, value: cst.BaseExpression) -> bool:
        """``model(x)`` where ``model`` is a model the training code trains."""
        return (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Name)
            and value.func.value in self.plan.model_names
        )

    @property
    def trainer(self) -> TrainingRewriter:
        """The training-loop rewriter (imported only for files with training code)."""
        if self._trainer is None:
            from migrator.engine.train_rewrite import TrainingRewriter

            self._trainer = TrainingRewriter(
                self.plan, lambda q: code_of(self.emit.name(q)), self._report, self._absorbed
            )
        return self._trainer

    def training_plan(self) -> TrainingPlan:
        return self.plan

    def channels_last_models(self) -> list[str]:
        """Classes migrated so far whose first input is permuted (channels-first -> last)."""
        return sorted(
            name
            for name, (_, inputs, _) in self.class_records.items()
            if inputs and inputs[0].perm is not None and list(inputs[0].perm) != sorted(inputs[0].perm)
        )

    def original_call(self) -> cst.Call:
        node = self._current_original
        assert isinstance(node, cst.Call)
        return node

    def leave_Param(self, original_node: cst.Param, updated_node: cst.Param) -> cst.Param:
        if id(original_node) in self.plan.weight_paths and updated_node.default is not None:
            from migrator.transforms.training import weights_path

            new, notes = weights_path(updated_node.default)
            for note in notes:
                self._find(original_node, note.severity, f"{original_node.name.value}=", note.message)
            return updated_node.with_changes(default=new)
        return updated_node

    # ------------------------------------------------------------------ structure
    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._markers.append([])
        why = self.plan.unrecognised.get(id(node))
        if why is not None:
            self._find(node, Severity.UNSUPPORTED, "loss.backward", why)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        for _, (_, where) in list(self._shape_pending.items()):
            self._find(
                where,
                Severity.REVIEW,
                "Tensor.size",
                "the shape is in the target's (channels-last) order here",
            )
        self._shape_pending.clear()
        self._flush_rnn_calls()
        out = with_markers(updated_node, self._markers.pop())
        if len(out.body) == 1 and isinstance(out.body[0], cst.Expr) and id(out.body[0].value) in self._moved:
            self._absorb(out)  # `model.to(device)` as a statement: nothing is left to do
        if self._contexts:
            return self._in_contexts(out)
        if len(out.body) == 1 and id(out.body[0]) in self._absorbed:
            self._absorb(out)
        if len(out.body) == 1 and id(out.body[0]) in self._rnn_lines:
            return replace_line(out, self._rnn_lines.pop(id(out.body[0])))
        if (
            len(out.body) == 1
            and isinstance(out.body[0], cst.Expr)
            and id(out.body[0].value) in self._rnn_noop
        ):
            self._absorb(out)
        return out  # type: ignore[no-any-return]

    def _in_contexts(self, line: cst.SimpleStatementLine) -> cst.With:
        """``with writer.as_default():`` around a statement whose calls need it (tf.summary)."""
        seen: dict[str, cst.BaseExpression] = {}
        for ctx in self._contexts:
            seen.setdefault(code_of(ctx), ctx)
        self._contexts.clear()
        return cst.With(
            items=[
                cst.WithItem(c, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                if i < len(seen) - 1
                else cst.WithItem(c)
                for i, c in enumerate(seen.values())
            ],
            body=cst.IndentedBlock([line.with_changes(leading_lines=[])]),
            leading_lines=line.leading_lines,
        )

    def visit_Decorator(self, node: cst.Decorator) -> None:
        self._decorators.add(id(node.decorator))

    def leave_Decorator(
        self, original_node: cst.Decorator, updated_node: cst.Decorator
    ) -> cst.Decorator | cst.RemovalSentinel:
        """``@torch.no_grad()`` goes (Keras records gradients only on a tape); a bare
        ``@torch.compile`` / ``@torch.jit.script`` becomes ``@tf.function``; decorator calls
        (``@torch.compile(mode=...)``) were migrated as calls."""
        expr = original_node.decorator
        func = expr.func if isinstance(expr, cst.Call) else expr
        qual = self.imports.resolve(func)
        if qual in ("torch.no_grad", "torch.inference_mode"):
            message = "decorator removed: Keras records gradients only inside a GradientTape"
            self._find(original_node, Severity.MIGRATED, qual, message, "torch2tf.no_grad")
            return cst.RemovalSentinel.REMOVE
        if isinstance(expr, cst.Call) or qual is None:
            return updated_node
        rule = self.rules.by_name.get(qual)
        if rule is None or rule.hook != "compile_fn":
            self._unsupported(original_node, expr, qual, rule)
            return updated_node
        xla = qual == "torch.compile"
        args = [cst.Arg(cst.Name("True"), keyword=cst.Name("jit_compile"), equal=_EQ)] if xla else []
        new = self.call("tensorflow.function", args) if xla else self.name("tensorflow.function")
        self._find(
            original_node,
            Severity.MIGRATED,
            qual,
            f"-> tf.function{'(jit_compile=True)' if xla else ''}",
            rule.id,
        )
        return updated_node.with_changes(decorator=new)

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if id(original_node) in self.plan.loop_bodies:
            return updated_node  # the training-loop rewrite takes every statement, absorbed ones too
        if self.plan.found:
            body = self.trainer.block(original_node.body, updated_node.body)
            if body is not None:
                updated_node = updated_node.with_changes(body=body)
        return drop_absorbed(updated_node, self._absorbed) if self._absorbed else updated_node

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if self._absorbed and any(id(s) in self._absorbed for s in updated_node.body):
            kept = drop_absorbed(cst.IndentedBlock(body=updated_node.body), self._absorbed).body
            updated_node = updated_node.with_changes(body=kept)
            original_node = original_node.with_changes(body=[])  # statements no longer line up
        if self.plan.found and len(original_node.body) == len(updated_node.body):
            body = self.trainer.block(original_node.body, updated_node.body)
            if body is not None:
                return updated_node.with_changes(body=body)
        return updated_node

    def _push_compound(self) -> None:
        self._markers.append([])

    def _pop_compound(self, node: Any) -> Any:
        return with_markers(node, self._markers.pop())

    def visit_If(self, node: cst.If) -> None:
        self._push_compound()

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.BaseStatement:
        out: cst.BaseStatement = self._pop_compound(updated_node)
        return out

    def visit_For(self, node: cst.For) -> None:
        self._push_compound()
        s = self.scope
        if s is not None and isinstance(node.target, cst.Name):
            info = self.module_of(node.iter)
            if info is not None and info.repeated is not None:
                s.modules[node.target.value] = info.repeated
            elif info is not None and info.children and len({c.contract for c in info.children}) == 1:
                s.modules[node.target.value] = info.children[0]
            elif isinstance(node.iter, cst.Name) and node.iter.value in s.seqs:
                s.vars[node.target.value] = s.seqs[node.iter.value]

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.BaseStatement:
        loop = self.plan.loops.get(id(original_node))
        if loop is not None:
            updated_node = self.trainer.loop(loop, updated_node)
        out: cst.BaseStatement = self._pop_compound(updated_node)
        return out

    def visit_While(self, node: cst.While) -> None:
        self._push_compound()

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.BaseStatement:
        out: cst.BaseStatement = self._pop_compound(updated_node)
        return out

    def visit_With(self, node: cst.With) -> None:
        self._push_compound()

    def leave_With(self, original_node: cst.With, updated_node: cst.With) -> cst.BaseStatement:
        if id(original_node) in self.plan.unwrap:
            self.trainer.items[id(original_node)] = updated_node.items[0].item
        out: cst.BaseStatement = self._pop_compound(updated_node)
        return out

    # classes -----------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._push_compound()
        is_module = any(self.imports.resolve(b.value) == "torch.nn.Module" for b in node.bases)
        self._classes.append(ClassCtx(node.name.value, is_module) if is_module else None)
        self._scopes.append(Scope("class", self._classes[-1]))

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.BaseStatement:
        self._scopes.pop()
        ctx = self._classes.pop()
        if ctx is not None:
            base = "keras.Model"  # becomes keras.layers.Layer later if another module builds it
            bases = []
            for ob, b in zip(original_node.bases, updated_node.bases, strict=True):
                if self.imports.resolve(ob.value) == "torch.nn.Module":
                    b = b.with_changes(value=self.name(base))
                bases.append(b)
            updated_node = updated_node.with_changes(bases=bases)
            self._find(
                original_node,
                Severity.MIGRATED,
                "torch.nn.Module",
                f"class {ctx.name}",
                "torch2tf.nn.Module",
            )
            self.records.extend(ctx.records[k] for k in ctx.records)
            self.class_records[ctx.name] = (base, ctx.inputs, ctx.outputs)
        out: cst.BaseStatement = self._pop_compound(updated_node)
        return out

    # functions ---------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._push_compound()
        cls = self._classes[-1] if self._scopes and self._scopes[-1].kind == "class" else None
        name = node.name.value
        params = tuple(p.name.value for p in node.params.params)
        if cls is not None and cls.is_module and name == "forward":
            scope = Scope("forward", cls, params=params[1:])
            for p in params[1:]:
                scope.vars[p] = None
            scope.bound_params.update(self._prebind(node, cls, params[1:]))
            for p, lay in scope.bound_params.items():
                scope.vars[p] = lay
        elif cls is not None and cls.is_module and name == "__init__":
            scope = Scope("init", cls, params=params)
        elif cls is not None:
            scope = Scope("method", cls, params=params)
        else:
            scope = Scope("function", None, params=params)
        self._scopes.append(scope)

    def _prebind(self, node: cst.FunctionDef, cls: ClassCtx, params: tuple[str, ...]) -> dict[str, Layout]:
        """Bind forward's inputs to the layout their first layout-demanding layer wants, looking
        through layers that keep the layout (``x = self.proj(x)`` before a GRU or conv)."""
        found: dict[str, Layout] = {}
        attrs = cls.attrs
        summaries = self._summaries
        alias = {p: p for p in params}  # local name -> the input it still holds (layout-wise)
        keeps = (Contract.ELEMENTWISE, Contract.LAST_DIM)

        def module_call(expr: cst.BaseExpression) -> tuple[ModuleInfo, str] | None:
            if not isinstance(expr, cst.Call) or not expr.args:
                return None
            f = expr.func
            if not (
                isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) and f.value.value == "self"
            ):
                return None
            info = attrs.get(f.attr.value)
            a = expr.args[0].value
            if info is None or not isinstance(a, cst.Name) or a.value not in alias:
                return None
            return info, alias[a.value]

        class Finder:
            def visit_Call(self, call: cst.Call) -> None:
                hit = module_call(call)
                if hit is not None and hit[1] not in found:
                    want = wanted(hit[0], summaries)
                    if want is not None:
                        found[hit[1]] = want
                f = call.func
                mine = isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name)
                mine = mine and f.value.value == "self"  # type: ignore[attr-defined]
                info = attrs.get(f.attr.value) if mine else None  # type: ignore[attr-defined]
                attention = info is not None and info.extra.get("call") == "multihead_attention"
                want = wanted(info, summaries) if attention else None  # type: ignore[arg-type]
                # attention takes its keys and values in the query's layout (time-major or not)
                names = [a.value.value for a in call.args[:3] if isinstance(a.value, cst.Name)]
                for name in names if want is not None else []:
                    if name in alias and alias[name] not in found:
                        found[alias[name]] = want  # type: ignore[assignment]

            def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
                hit = module_call(updated.value)
                for t in updated.targets:
                    if isinstance(t.target, cst.Name):
                        if hit is not None and hit[0].contract in keeps:
                            alias[t.target.value] = hit[1]
                        else:
                            alias.pop(t.target.value, None)
                return updated

        Walker(Finder()).walk(node.body)
        return found

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.BaseStatement:
        scope = self._scopes.pop()
        if scope.kind == "forward" and scope.cls is not None:
            cls = scope.cls
            updated_node = updated_node.with_changes(name=cst.Name("call"))
            cls.inputs = tuple(
                TensorLayout(p, scope.bound_params[p].perm if p in scope.bound_params else None)
                for p in scope.params
            )
            outs = [r for r in scope.returns]
            out_layout = outs[-1] if outs else None
            cls.outputs = (TensorLayout("output", out_layout.perm if out_layout else None),)
            first = scope.bound_params.get(scope.params[0]) if scope.params else None
            self._summaries[cls.name] = ClassSummary(cls.name, first, out_layout)
        elif scope.kind == "function" and scope.returned_modules:
            self._helpers[original_node.name.value] = scope.returned_modules[-1]
        out: cst.BaseStatement = self._pop_compound(updated_node)
        return out

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        s = self.scope
        if s is not None and updated_node.value is not None:
            info = self.module_of(updated_node.value)
            if info is not None:
                s.returned_modules.append(info)
            elif self.is_tracked(updated_node.value):
                s.returns.append(self.layout_of(updated_node.value))
        return updated_node

    # assignments -------------------------------------------------------------
    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.BaseSmallStatement:
        s = self.scope
        if s is None:
            return updated_node
        value = updated_node.value
        if id(value) in self._rnn_calls and len(updated_node.targets) == 1:
            return self._unpack_rnn(updated_node, s)
        info = self.module_of(value)
        if (
            len(updated_node.targets) == 1
            and isinstance(value, cst.Name)
            and isinstance(original_node.value, cst.Call)
            and isinstance(updated_node.targets[0].target, cst.Name)
            and updated_node.targets[0].target.value == value.value
        ):
            self._absorb(updated_node)
        if (
            len(updated_node.targets) == 1
            and isinstance(value, cst.Tuple)
            and isinstance(original_node.value, cst.Tuple)
            and code_of(updated_node.targets[0].target) == code_of(value)
            and code_of(original_node.value) != code_of(value)
        ):
            self._absorb(updated_node)  # `xb, yb = xb.to(device), yb.to(device)`
        for t in updated_node.targets:
            target = t.target
            if isinstance(target, cst.Name):
                s.seqs.pop(target.value, None)
                seq = self._seq_layout(value) if s.kind == "forward" else None
                if seq is not None:
                    s.seqs[target.value] = seq[0]
                    s.vars.pop(target.value, None)
                    continue
                if isinstance(value, cst.List) and s.kind != "forward":
                    got = [self.module_of(e.value) for e in value.elements]
                    s.lists[target.value] = [g for g in got if g is not None]
                if info is not None:
                    s.modules[target.value] = info
                elif s.kind == "forward":
                    if self.is_tracked(value):
                        s.vars[target.value] = self.layout_of(value)
                    elif is_tensorish(value):
                        s.vars[target.value] = None
                    else:
                        s.vars.pop(target.value, None)
                elif self.plan.trains and self._model_output(original_node.value):
                    s.vars[target.value] = None  # a model's output in training code: tensor methods apply
            elif (
                isinstance(target, cst.Attribute)
                and isinstance(target.value, cst.Name)
                and target.value.value == "self"
                and s.cls is not None
                and s.kind == "init"
            ):
                attr = target.attr.value
                if info is not None:
                    s.cls.attrs[attr] = info
                    self._record(s.cls, attr, info)
                elif isinstance(value, cst.Name) and value.value == "None":
                    pass
            elif isinstance(target, cst.Tuple) and s.kind == "forward":
                new = self._unpack_shape(target, value)
                if new is not None:
                    return new
                parts = self._tuples.get(id(value))
                seq = self._seq_layout(value)
                if parts is None and seq is not None:
                    parts = (value, seq * len(target.elements))
                if parts is not None:
                    for e, lay in zip(target.elements, parts[1], strict=False):
                        if isinstance(e.value, cst.Name):
                            s.vars[e.value.value] = lay
        return updated_node

    def _unpack_shape(self, target: cst.Tuple, value: cst.BaseExpression) -> cst.Assign | None:
        """``n, c, h, w = x.shape`` on a permuted tensor: reorder the names, read ``ops.shape``."""
        src = self._shape_src(value)
        if src is None or not self.is_tracked(src):
            return None
        self._shape_pending.pop(id(value), None)
        lay = self.layout_of(src)
        for e in target.elements:
            if isinstance(e.value, cst.Name) and self.scope is not None:
                self.scope.vars.pop(e.value.value, None)
        if lay is None or lay.is_identity or lay.rank != len(target.elements):
            return None
        elems = [target.elements[p] for p in lay.perm]
        fixed = [
            e.with_changes(
                comma=(
                    cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                    if i < len(elems) - 1
                    else cst.MaybeSentinel.DEFAULT
                )
            )
            for i, e in enumerate(elems)
        ]
        return cst.Assign(
            targets=[cst.AssignTarget(target=target.with_changes(elements=fixed))],
            value=self.call("keras.ops.shape", [cst.Arg(src)]),
        )

    def leave_AugAssign(
        self, original_node: cst.AugAssign, updated_node: cst.AugAssign
    ) -> cst.BaseSmallStatement:
        s = self.scope
        if s is not None and s.kind == "forward" and isinstance(updated_node.target, cst.Name):
            name = updated_node.target.value
            if name in s.vars:
                mine = s.vars[name]
                other = self.layout_of(updated_node.value)
                if (
                    mine is not None
                    and other is not None
                    and other.perm != mine.perm
                    and other.rank == mine.rank
                ):
                    return updated_node.with_changes(value=self.convert(updated_node.value, other, mine))
        return updated_node

    def _record(self, cls: ClassCtx, path: str, info: ModuleInfo) -> None:
        if info.transform is not None and info.rule_id is not None:
            target = f"{path}.{info.target_suffix}" if info.target_suffix else path
            cls.records[path] = LayerRecord(
                cls.name, path, target, info.rule_id, info.transform, info.line, dict(info.extra)
            )
        for i, child in enumerate(info.children):
            self._record(cls, f"{path}.{i}", child)
        if info.repeated is not None:
            self._record(cls, f"{path}.*", info.repeated)

    # expressions -------------------------------------------------------------
    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._inner.add(id(node.value))
        self._inner.add(id(node.attr))  # `torch.nn.utils`: the `nn` here is not the import `nn`

    def visit_Call(self, node: cst.Call) -> None:
        self._inner.add(id(node.func))

    def visit_Subscript(self, node: cst.Subscript) -> None:
        """``attn(q, k, v)[0]``: only the first element of a call's result is used."""
        idx = node.slice[0].slice if len(node.slice) == 1 else None
        if isinstance(node.value, cst.Call) and isinstance(idx, cst.Index) and int_or_ints(idx.value) == 0:
            self._uses[id(node.value)] = "first"

    def visit_Assign(self, node: cst.Assign) -> None:
        """``out, _ = attn(q, k, v)``: the second element of a call's result is discarded."""
        target = node.targets[0].target if len(node.targets) == 1 else None
        if isinstance(node.value, cst.Call) and isinstance(target, cst.Tuple) and len(target.elements) == 2:
            last = target.elements[1].value
            if isinstance(last, cst.Name) and last.value == "_":
                self._uses[id(node.value)] = "pair_discarded"

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        if id(original_node) in self._inner or id(original_node) in self._decorators:
            return updated_node
        if updated_node.value in self.imports.bindings:
            qual = self.imports.bindings[updated_node.value]
            return self._attribute_ref(original_node, updated_node, qual)
        return updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        field_index = _RESULT_FIELDS.get(updated_node.attr.value)
        if field_index is not None and id(updated_node.value) in self._seqs:
            return self._seq_item(updated_node.value, field_index, updated_node)
        if id(original_node) in self._inner or id(original_node) in self._decorators:
            return updated_node
        if (
            id(original_node) in self.plan.handled
        ):  # `torch.backends.cudnn.benchmark = ...`: its statement goes
            return updated_node
        qual = self.imports.resolve(updated_node)
        if qual is not None:
            return self._attribute_ref(original_node, updated_node, qual)
        return updated_node

    def _attribute_ref(
        self, original: cst.CSTNode, node: cst.BaseExpression, qual: str
    ) -> cst.BaseExpression:
        rule = self.rules.by_name.get(qual)
        if rule is not None and rule.kind in (RuleKind.ATTRIBUTE, RuleKind.BASE) and rule.emit is not None:
            if rule.kind is RuleKind.ATTRIBUTE:
                self._find(original, Severity.MIGRATED, qual, f"-> {rule.emit}", rule.id)
            return self.name(rule.emit)
        self._unsupported(original, node, qual, rule)
        return node

    def _unsupported(
        self, original: cst.CSTNode, node: cst.BaseExpression, qual: str, rule: Rule | None
    ) -> None:
        root = self.imports.root_of(node)
        if root:
            self.kept_roots.add(root)
        if rule is not None and rule.unsupported:
            self._find(original, Severity.UNSUPPORTED, qual, rule.unsupported, rule.id)
        else:
            self._find(original, Severity.UNSUPPORTED, qual, "no rule maps this API")

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.BaseExpression:
        if id(updated_node.value) in self._rnn_calls:
            return self._rnn_output(updated_node)
        # x.shape[i] / x.size()[i] on a permuted tensor
        src = self._shape_src(updated_node.value)
        if src is None and id(updated_node.value) in self._tuples:
            return self._index_tuple(updated_node)
        if src is None and self._seq_layout(updated_node.value) is not None:
            idx = updated_node.slice[0].slice if len(updated_node.slice) == 1 else None
            i = int_or_ints(idx.value) if isinstance(idx, cst.Index) else None
            if isinstance(i, int):
                return self._seq_item(updated_node.value, i, updated_node)
            if isinstance(idx, cst.Slice):
                self._seqs[id(updated_node)] = (updated_node, self.layout_of(updated_node.value))
            return updated_node
        if src is None and self.is_tracked(updated_node.value):
            return self._index_tensor(original_node, updated_node)
        if src is None or not self.is_tracked(src) or len(updated_node.slice) != 1:
            return updated_node
        self._shape_pending.pop(id(updated_node.value), None)
        lay = self.layout_of(src)
        idx = updated_node.slice[0].slice
        if not isinstance(idx, cst.Index):
            return updated_node
        i = int_or_ints(idx.value)
        if lay is None or lay.is_identity or not isinstance(i, int):
            if lay is not None and not lay.is_identity:
                self._find(
                    original_node,
                    Severity.REVIEW,
                    "Tensor.shape",
                    "index is not a literal on a permuted tensor",
                )
            return updated_node
        return cst.Subscript(
            value=self.call("keras.ops.shape", [cst.Arg(src)]),
            slice=[cst.SubscriptElement(cst.Index(int_node(lay.axis(i))))],
        )

    def _index_tensor(self, original: cst.Subscript, node: cst.Subscript) -> cst.BaseExpression:
        lay = self.layout_of(node.value)
        if lay is None:
            return node
        got = remap(node, lay)
        if got.problem is not None:
            self._find(original, Severity.REVIEW, "Tensor.__getitem__", got.problem)
            return node
        self._set_layout(got.node, got.layout)
        return got.node

    def _seq_item(self, seq: cst.BaseExpression, i: int, node: cst.BaseExpression) -> cst.BaseExpression:
        """Element ``i`` of a sequence of tensors: the element itself when the sequence is a tuple
        the migration wrote (``(ops.max(x, axis=1), ops.argmax(x, axis=1))[1]``), else ``seq[i]``."""
        lay = self.layout_of(seq)
        out: cst.BaseExpression = node
        if isinstance(seq, cst.Tuple) and -len(seq.elements) <= i < len(seq.elements):
            out = seq.elements[i].value.with_changes(lpar=[], rpar=[])
        elif not isinstance(node, cst.Subscript):
            out = cst.Subscript(value=seq, slice=[cst.SubscriptElement(cst.Index(int_node(i)))])
        self._set_layout(out, lay)
        return out

    def _index_tuple(self, node: cst.Subscript) -> cst.BaseExpression:
        """``self.gru(x)[0]``: an element of a layer's tuple result."""
        parts = self._tuples[id(node.value)][1]
        idx = node.slice[0].slice if len(node.slice) == 1 else None
        i = int_or_ints(idx.value) if isinstance(idx, cst.Index) else None
        if isinstance(i, int) and -len(parts) <= i < len(parts):
            if isinstance(node.value, cst.Tuple) and len(node.value.elements) == len(parts):
                item = node.value.elements[i].value.with_changes(lpar=[], rpar=[])  # a tuple we wrote
                self._set_layout(item, parts[i])
                return item
            self._set_layout(node, parts[i])
        return node

    def leave_BinaryOperation(
        self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
    ) -> cst.BaseExpression:
        left, right = updated_node.left, updated_node.right
        lt, rt = self.is_tracked(left), self.is_tracked(right)
        if not (lt or rt):
            return updated_node
        ll, rl = self.layout_of(left), self.layout_of(right)
        if isinstance(updated_node.operator, cst.MatrixMultiply):
            # matmul contracts the last two axes: both operands must be in source order there
            outs = []
            for side, lay in ((left, ll), (right, rl)):
                if lay is not None and not lay.is_identity:
                    side = self.convert(side, lay, identity(lay.rank))
                outs.append(side)
            updated_node = updated_node.with_changes(left=outs[0], right=outs[1])
            rank = max((lay.rank for lay in (ll, rl) if lay is not None), default=None)
            self._set_layout(updated_node, identity(rank) if rank is not None else None)
            return updated_node
        out = ll if ll is not None else rl
        if ll is not None and rl is not None and rl.rank > ll.rank:
            out = rl  # broadcasting: the result has the higher rank (`x.sum() * x`)
        if ll is not None and rl is not None and ll.perm != rl.perm and ll.rank == rl.rank:
            updated_node = updated_node.with_changes(right=self.convert(right, rl, ll))
        self._set_layout(updated_node, out)
        return updated_node

    def leave_UnaryOperation(
        self, original_node: cst.UnaryOperation, updated_node: cst.UnaryOperation
    ) -> cst.BaseExpression:
        if self.is_tracked(updated_node.expression):
            self._set_layout(updated_node, self.layout_of(updated_node.expression))
        return updated_node

    def leave_Comparison(
        self, original_node: cst.Comparison, updated_node: cst.Comparison
    ) -> cst.BaseExpression:
        """``x > 0`` of a tracked tensor is a tensor in the same layout (a mask); the other side
        is brought into that layout when both are tracked, as for arithmetic."""
        if len(updated_node.comparisons) != 1:
            return updated_node
        target = updated_node.comparisons[0]
        if isinstance(target.operator, cst.In | cst.NotIn | cst.Is | cst.IsNot):
            return updated_node
        left, right = updated_node.left, target.comparator
        if not (self.is_tracked(left) or self.is_tracked(right)):
            return updated_node
        ll, rl = self.layout_of(left), self.layout_of(right)
        if ll is not None and rl is not None and ll.perm != rl.perm and ll.rank == rl.rank:
            fixed = target.with_changes(comparator=self.convert(right, rl, ll))
            updated_node = updated_node.with_changes(comparisons=[fixed])
        out = ll if ll is not None else rl
        if ll is not None and rl is not None and rl.rank > ll.rank:
            out = rl
        self._set_layout(updated_node, out)
        return updated_node

    # calls -------------------------------------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        qual = self.imports.resolve(func)
        if qual is not None:
            rule = self.rules.by_name.get(qual)
            if rule is None or rule.kind not in (RuleKind.LAYER, RuleKind.FUNCTION) or rule.unsupported:
                self._unsupported(original_node, func, qual, rule)
                return updated_node
            return self._apply(original_node, updated_node, rule, qual, receiver=None)
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "flatten_parameters"
            and not updated_node.args
        ):
            info = self.module_of(func.value)
            if info is not None and stack_of(info) is not None:
                self._rnn_noop.add(id(updated_node))
                message = "removed: a cuDNN weight-layout hint with no effect on the result"
                self._find(original_node, Severity.MIGRATED, code_of(func), message, info.rule_id)
                return updated_node
        if isinstance(func, cst.Attribute):
            recv = func.value
            if isinstance(recv, cst.Name) and recv.value == "self":
                info = self.module_of(func)
                if info is not None:
                    return self._call_module(original_node, updated_node, info, func.attr.value)
                return updated_node
            if (
                isinstance(original_node.func, cst.Attribute)
                and id(original_node.func.value) in self.plan.handled
            ):
                return updated_node  # scaler.scale(loss).backward(): the training step rewrites it
            if isinstance(recv, cst.Name) and recv.value in self.plan.objects:
                return self._object_method(original_node, updated_node, recv.value, func.attr.value)
            if func.attr.value in _MOVES and not self.is_tracked(recv):
                rule = self.rules.by_method.get(func.attr.value)
                if rule is not None and rule.unsupported is None:
                    out = self._apply(
                        original_node, updated_node, rule, f"Tensor.{func.attr.value}", receiver=recv
                    )
                    if isinstance(out, cst.Name | cst.Attribute):  # the value itself: a device move
                        self._moved.add(id(out))
                        self._alive.append(out)
                    return out
            s = self.scope
            if (
                isinstance(recv, cst.Name)
                and s is not None
                and recv.value in s.lists
                and func.attr.value == "append"
                and len(updated_node.args) == 1
            ):
                got = self.module_of(updated_node.args[0].value)
                if got is not None:
                    s.lists[recv.value].append(got)
                return updated_node
            if (
                self.plan.found
                and func.attr.value == "item"
                and not updated_node.args
                and self.scope is not None
                and self.scope.kind != "forward"
            ):
                self._find(original_node, Severity.MIGRATED, "Tensor.item", "-> float()")
                return cst.Call(cst.Name("float"), [cst.Arg(recv)])
            if self.is_tracked(recv) and self.scope is not None and self.scope.kind != "init":
                method = func.attr.value
                rule = self.rules.by_method.get(method)
                if rule is None or rule.unsupported:
                    self._find(
                        original_node,
                        Severity.UNSUPPORTED,
                        f"Tensor.{method}",
                        rule.unsupported if rule and rule.unsupported else "no rule maps this tensor method",
                        rule.id if rule else None,
                    )
                    return updated_node
                return self._apply(original_node, updated_node, rule, f"Tensor.{method}", receiver=recv)
            return updated_node
        if id(original_node) in self.plan.loss_calls and len(updated_node.args) == 2:
            a, b = updated_node.args
            swapped = updated_node.with_changes(
                args=[b.with_changes(comma=a.comma), a.with_changes(comma=b.comma)]
            )
            name = code_of(func)
            self.train_code[id(original_node)] = (
                f"{name}(_fwm_pred, _fwm_target)",
                f"{name}(_fwm_target, _fwm_pred)",
                self._line(original_node)[0],
            )
            self._find(
                original_node,
                Severity.MIGRATED,
                f"{name}(...)",
                "loss call: Keras losses take (y_true, y_pred)",
            )
            return swapped
        if isinstance(func, cst.Name):
            s = self.scope
            info = self.module_of(func) if s is not None else None
            if info is not None and s is not None and s.kind == "forward":
                return self._call_module(original_node, updated_node, info, func.value)
            if func.value in self.torch_classes:
                if self._cls() is not None:
                    self.used_as_layer.add(func.value)
                self._set_module(updated_node, ModuleInfo(Contract.CONTAINER, user_class=func.value))
            elif func.value in self._helpers:
                self._set_module(updated_node, self._helpers[func.value])
        return updated_node

    def _object_method(
        self, original: cst.Call, call: cst.Call, name: str, method: str
    ) -> cst.BaseExpression:
        """``writer.add_scalar(...)`` where ``writer`` holds a torch object (a SummaryWriter)."""
        qual = f"{self.plan.objects[name]}.{method}"
        rule = self.rules.by_name.get(qual)
        api = f"{qual.rsplit('.', 2)[-2]}.{method}"
        if rule is None or rule.unsupported:
            why = rule.unsupported if rule is not None and rule.unsupported else "no rule maps this API"
            self._find(original, Severity.UNSUPPORTED, api, why, rule.id if rule else None)
            return call
        return self._apply(original, call, rule, api, receiver=None)

    def _apply(
        self,
        original: cst.Call,
        call: cst.Call,
        rule: Rule,
        api: str,
        receiver: cst.BaseExpression | None,
    ) -> cst.BaseExpression:
        self._current_original = original
        bound, problem = bind_arguments(rule, call, receiver)
        if problem is not None:
            self._unsupported_call(original, call, api, rule, problem)
            return call
        line, _ = self._line(original)
        tensor_names = (["self"] if receiver is not None else []) + (
            [rule.params[0]]
            if rule.kind is RuleKind.FUNCTION and rule.params and not rule.params[0].startswith("*")
            else []
        )
        layouts = {n: self.layout_of(bound[n]) for n in tensor_names if n in bound}
        # operands of channels ops must be channels-last on the target side
        if rule.contract is Contract.CHANNELS and rule.kind is not RuleKind.LAYER:
            for n in tensor_names:
                lay = layouts.get(n)
                if lay is not None and rule.rank is not None and lay.rank == rule.rank:
                    want = channels_last(rule.rank)
                    if lay != want:
                        bound[n] = self.convert(bound[n], lay, want)
                        layouts[n] = want
        site = CallSite(rule, call, bound, layouts, line)
        if rule.hook is not None:
            result = HOOKS[rule.hook](site, self)
            if result is None:
                self._unsupported_call(original, call, api, rule, "the rule's hook cannot migrate this call")
                return call
        else:
            mapped = self.map_args(site)
            if mapped.unsupported is not None:
                self._unsupported_call(original, call, api, rule, mapped.unsupported)
                return call
            assert rule.emit is not None
            args = list(mapped.args)
            if receiver is not None:
                args.insert(0, cst.Arg(receiver))
            result = HookResult(self.call(rule.emit, args), notes=mapped.notes)
        if isinstance(result, str):
            self._unsupported_call(original, call, api, rule, result)
            return call
        expr = result.expr
        if result.context is not None:
            self._contexts.append(result.context)
        if rule.training is not None:
            from migrator.engine.train_record import training_code

            self.train_code[id(original)] = training_code(site, original, expr, line)
        reviews = [n for n in result.notes if n.severity is not Severity.MIGRATED]
        for note in reviews:
            self._find(original, note.severity, api, note.message, rule.id)
        if not reviews:
            target = self._describe(expr, rule)
            infos = [n.message for n in result.notes if n.severity is Severity.MIGRATED]
            message = f"-> {target}" + (f" ({'; '.join(infos)})" if infos else "")
            if rule.hook in _SELF_DESCRIBED and infos:
                if expr is call:  # left for its statement's rewrite, or the same call on the target
                    message = "; ".join(infos)
                elif any(expr is v for v in bound.values()) or isinstance(expr, cst.SimpleString):
                    message = f"-> {code_of(expr)} ({'; '.join(infos)})"
            self._find(original, Severity.MIGRATED, api, message, rule.id)
        if rule.kind is RuleKind.LAYER:
            info = result.module or ModuleInfo(
                rule.contract, rank=rule.rank, rule_id=rule.id, transform=rule.weights, line=line
            )
            self._set_module(expr, info)
        elif rule.contract is Contract.PARTS or (
            isinstance(expr, cst.Tuple) and rule.contract is Contract.AXIS
        ):
            # a sequence of tensors (split chunks, (values, indices)): each has the result's layout
            self._seqs[id(expr)] = (expr, result.layout)
        else:
            lay = result.layout
            if lay is None and rule.contract in (
                Contract.ELEMENTWISE,
                Contract.CHANNELS,
                Contract.AXIS,
            ):
                first = next(iter(layouts.values()), None) if layouts else None
                lay = first
                if rule.contract is Contract.CHANNELS and rule.rank is not None:
                    lay = channels_last(rule.rank)
            self._set_layout(expr, lay)
        return expr

    def _describe(self, expr: cst.BaseExpression, rule: Rule) -> str:
        if isinstance(expr, cst.Tuple):
            return ", ".join(self._describe(e.value, rule) for e in expr.elements)
        if isinstance(expr, cst.BinaryOperation):  # ops.std(x) / (1 - 1 / n) ** 0.5
            return self._describe(expr.left, rule)
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Call):  # layers.Flatten()(x)
                func = func.func
            q = self.emit.qualified_of(func)
            if q is not None:
                return q
        if rule.emit is not None:
            return rule.emit
        return "nothing (absorbed into the tracked layout)" if isinstance(expr, cst.Name) else "code"

    def _unsupported_call(self, original: cst.Call, call: cst.Call, api: str, rule: Rule, why: str) -> None:
        root = self.imports.root_of(call.func)
        if root and root in self.imports.bindings:
            self.kept_roots.add(root)
        self._find(original, Severity.UNSUPPORTED, api, why, rule.id)

    # module calls in forward --------------------------------------------------
    def map_args(self, site: CallSite, skip: Sequence[str] = ()) -> MappedArgs:
        return map_arguments(site, self.code, skip)

    def _call_module(
        self, original: cst.Call, call: cst.Call, info: ModuleInfo, path: str
    ) -> cst.BaseExpression:
        hook = info.extra.get("call")
        if isinstance(hook, str) and hook in MODULE_CALLS:
            return self._call_rewritten(original, call, info, path, hook)
        if not call.args or call.args[0].keyword is not None or call.args[0].star:
            return call
        arg = call.args[0].value
        have = self.layout_of(arg)
        line, _ = self._line(original)
        passage = through(info, have, path, self._summaries, line)
        for message in passage.reviews:
            self._find(original, Severity.REVIEW, f"self.{path}", message, info.rule_id)
        cls = self._cls()
        for lin_path, flat in passage.after_flatten:
            self._mark_after_flatten(cls, lin_path, flat)
        if passage.convert_to is not None and have is not None:
            new_arg = self.convert(arg, have, passage.convert_to)
            call = call.with_changes(args=[call.args[0].with_changes(value=new_arg), *call.args[1:]])
        stack = stack_of(info) if info.contract is Contract.SEQUENCE else None
        if stack is not None:
            # recurrent layers: the statement that uses the result is rewritten (recurrent.py)
            self._rnn_calls[id(call)] = (call, original, parse_call(call, stack), passage.out, info.rule_id)
            return call
        if info.contract is Contract.SEQUENCE:
            self._tuples[id(call)] = (call, (passage.out, None))
            return call
        self._set_layout(call, passage.out)
        return call

    def _rnn_output(self, node: cst.Subscript) -> cst.BaseExpression:
        """``self.lstm(x, hx)[0]``: the output sequence, through every layer of the stack."""
        _, _, rc, out, _ = self._rnn_calls[id(node.value)]
        idx = node.slice[0].slice if len(node.slice) == 1 else None
        if isinstance(rc, str) or not isinstance(idx, cst.Index) or int_or_ints(idx.value) != 0:
            return node  # flagged with its statement
        del self._rnn_calls[id(node.value)]
        expr = output_expr(rc)
        self._set_layout(expr, out)
        return expr

    def _unpack_rnn(self, node: cst.Assign, s: Scope) -> cst.Assign:
        """``out, (h_n, c_n) = self.lstm(x, hx)``: one statement per layer, states stacked as torch's."""
        call, _, rc, out, _ = self._rnn_calls[id(node.value)]
        if isinstance(rc, str):
            return node
        base = code_of(call.func).rpartition(".")[2]
        got = unpack(rc, node.targets[0].target, base, self)
        if isinstance(got, str):
            return node
        del self._rnn_calls[id(node.value)]
        self._rnn_lines[id(node)] = got.statements
        if got.output is not None:
            s.vars[got.output] = out
        for name in got.states:
            s.vars[name] = identity(3)
        for name in got.tuples:
            s.vars.pop(name, None)
            s.seqs[name] = identity(3)
        return node

    def _flush_rnn_calls(self) -> None:
        """Recurrent-layer calls no statement could rewrite: marked, with the reason."""
        for call, original, rc, _, rule_id in self._rnn_calls.values():
            why = rc if isinstance(rc, str) else UNPACK_HINT
            self._find(original, Severity.UNSUPPORTED, code_of(call.func), why, rule_id)
        self._rnn_calls.clear()

    def _call_rewritten(
        self, original: cst.Call, call: cst.Call, info: ModuleInfo, path: str, hook: str
    ) -> cst.BaseExpression:
        """A module whose calls change too (attention): its call-site hook rewrites the call."""
        api = f"self.{path}" if isinstance(call.func, cst.Attribute) else path
        got = MODULE_CALLS[hook](ModuleCall(info, call, path, self._uses.get(id(original), "")), self)
        if isinstance(got, str):
            self._find(original, Severity.UNSUPPORTED, api, got, info.rule_id)
            return call
        for note in got.notes:
            self._find(original, note.severity, api, note.message, info.rule_id)
        if got.parts is not None:
            self._tuples[id(got.expr)] = (got.expr, got.parts)
        else:
            self._set_layout(got.expr, got.layout)
        return got.expr

    def _mark_after_flatten(self, cls: ClassCtx | None, path: str, flat: Flattened) -> None:
        """A Linear fed by a flatten of a channels-last map: its kernel rows must be permuted."""
        if cls is None or path not in cls.records or cls.records[path].transform != "linear":
            return
        rec = cls.records[path]
        extra = {**rec.extra, "flatten_perm": list(flat.perm), "flatten_line": flat.line}
        cls.records[path] = replace(rec, transform="linear_after_flatten", extra=extra)


__all__ = ["MARKER", "ClassSummary", "TorchToKeras"]
