"""Static shape and layout analysis of Keras model code, for the tf2torch rewrite.

Keras infers every layer's input size when the model is built; torch needs ``in_channels`` and
``in_features`` in the constructor. This module follows the tensors through the code that builds
and calls the layers (a ``Sequential`` list, a functional builder, a subclassed ``call``) and
annotates each layer constructor with the shape it is first applied to, and each tensor
expression with its shape and torch layout. It reads code and never runs it: sizes are literals,
or the text of the expression that gives them (``filters``, ``num_classes``), or unknown.

Scopes are analysed once for emission: a builder or a class with a declared input shape
(``keras.Input``, ``model.build(...)``) concretely; a helper block or a sub-layer class symbolically,
with its input's channel count named ``in_channels`` (the rewrite adds that constructor parameter
when a layer needs it). Applying a helper or a sub-layer elsewhere evaluates it again, concretely,
only to learn its output shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from migrator.engine.args import bind_arguments
from migrator.engine.emitter import code_of
from migrator.engine.layout import Layout
from migrator.engine.names import ImportTable, dotted, local_names, without
from migrator.engine.tf2torch.shapes import (
    CREATES,
    FIRST_OPERAND_ONLY,
    FLAT_WITHOUT_AXIS,
    SHAPES,
    Dim,
    LayerArgs,
    Shape,
    add,
    mul,
    squeezed_axes,
)
from migrator.engine.tf2torch.values import (
    DimVal,
    LayerVal,
    LayoutCell,
    ModelVal,
    SeqBuilder,
    TensorVal,
    TupleVal,
    Val,
    channels_first,
    expanded,
    identity,
)
from migrator.engine.values import NOT_LITERAL, literal
from migrator.rules.loader import RuleSet
from migrator.rules.schema import Contract, Rule, RuleKind

IN_CHANNELS = "in_channels"

_ALIASES = {
    "keras.models.Sequential": "keras.Sequential",
    "keras.models.Model": "keras.Model",
    "keras.layers.Input": "keras.Input",
    "keras.engine.base_layer.Layer": "keras.layers.Layer",
    "keras.Layer": "keras.layers.Layer",
    # a torch2tf output migrated back (a round trip): its runtime-helper layer is a Keras layer
    "migrator.runtime.keras_support.BatchNormalization": "keras.layers.BatchNormalization",
}


KERAS_SUPPORT = "migrator.runtime.keras_support"  # fwmigrate's Keras helpers, in a torch2tf output


def keras_side(name: str) -> bool:
    """A Keras/TensorFlow API, or fwmigrate's Keras runtime helper (a torch2tf output migrated back)."""
    return name.split(".", 1)[0] in ("keras", "tensorflow") or name.startswith(KERAS_SUPPORT)


def canonical(name: str | None) -> str | None:
    """``tf.keras.layers.Dense`` and ``tensorflow.keras.layers.Dense`` are ``keras.layers.Dense``."""
    if name is None:
        return None
    for prefix in ("tensorflow.keras.", "tensorflow.python.keras."):
        if name.startswith(prefix):
            name = "keras." + name[len(prefix) :]
            break
    if name == "tensorflow.keras":
        name = "keras"
    return _ALIASES.get(name, name)


@dataclass
class ClassInfo:
    name: str
    node: cst.ClassDef
    base: str  # keras.Model or keras.layers.Layer
    init: cst.FunctionDef | None
    call: cst.FunctionDef | None
    build_shape: Shape | None = None
    applied_rank: int | None = None


@dataclass
class FuncInfo:
    name: str
    node: cst.FunctionDef
    is_builder: bool  # keras.Input ... keras.Model(...)
    applied_rank: int | None = None


@dataclass
class Annotations:
    """What the rewrite needs, keyed by the id of original libcst nodes."""

    layer_input: dict[int, Shape | None] = field(default_factory=dict)  # constructor -> input shape
    layer_layout: dict[int, tuple[int, ...] | None] = field(default_factory=dict)  # constructor -> input perm
    after_flatten: dict[int, Shape] = field(default_factory=dict)  # Dense constructor -> flattened map
    after_flatten_from: dict[int, int] = field(default_factory=dict)  # Dense constructor -> its Flatten
    # Flatten constructors whose output must keep Keras's channels-last element order: something
    # other than a Dense (whose weights absorb the order) reads it, or it is a model output
    keras_order_flatten: set[int] = field(default_factory=set)
    tensors: dict[int, TensorVal] = field(default_factory=dict)  # expression -> tensor
    converts: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    needs_in: set[str] = field(default_factory=set)  # scopes whose layers read IN_CHANNELS
    inputs: dict[str, list[tuple[str, TensorVal]]] = field(default_factory=dict)  # scope -> params
    outputs: dict[str, Val] = field(default_factory=dict)
    seq_conflicts: set[int] = field(default_factory=set)  # Sequentials needing a layout change inside
    varying: set[int] = field(default_factory=set)  # constructors in a loop over data: sizes may differ
    # layer classes: (input channels, constructor sizes by parameter) for each instance applied
    class_uses: dict[str, list[tuple[Dim, dict[str, Dim]]]] = field(default_factory=dict)
    # constructors inside a layer factory: (input channels, the factory's arguments) per application
    factory_inputs: dict[int, list[tuple[Dim, dict[str, Dim]]]] = field(default_factory=dict)
    # attention constructors -> the shapes of their first call's other operands ("1": the second
    # positional argument, keywords by name): key and value sizes
    call_shapes: dict[int, dict[str, Shape | None]] = field(default_factory=dict)


def wants(rule: Rule, rank: int | None) -> tuple[int, ...] | None:
    """The torch layout a layer needs its input in (None: any)."""
    if rank is None:
        return None
    c = rule.contract
    if c is Contract.CHANNELS:
        return channels_first(rank)
    if c in (Contract.LAST_DIM, Contract.SEQUENCE, Contract.EMBEDDING):
        return identity(rank)
    return None


class Analysis:
    def __init__(self, module: cst.Module, rules: RuleSet, imports: ImportTable) -> None:
        self.rules = rules
        self.imports = imports
        self.ann = Annotations()
        self.classes: dict[str, ClassInfo] = {}
        self.functions: dict[str, FuncInfo] = {}
        self._record = True
        self._scope = ""
        self._module = module
        self.module = module
        self._factory_args: dict[str, Dim] | None = None  # inside a layer factory: its arguments
        self._seq_now: cst.Call | None = None  # the Sequential whose layers are being applied
        self._varying = 0  # inside loops whose iterations may differ in the sizes they build
        self._collect(module)

    # ------------------------------------------------------------------ collection
    def resolve(self, node: cst.BaseExpression) -> str | None:
        return canonical(self.imports.resolve(node))

    def rule_for(self, node: cst.BaseExpression) -> Rule | None:
        name = self.resolve(node)
        return None if name is None else self.rules.by_name.get(name)

    def rule_for_value(self, node: cst.BaseExpression) -> str | None:
        """The hook of the layer rule a call expression resolves to (``"sequential"``), if any."""
        if not isinstance(node, cst.Call):
            return None
        rule = self.rule_for(node.func)
        return rule.hook if rule is not None else None

    def _collect(self, module: cst.Module) -> None:
        for stmt in module.body:
            if isinstance(stmt, cst.ClassDef):
                base = next(
                    (
                        b
                        for b in (self.resolve(a.value) for a in stmt.bases)
                        if b in ("keras.Model", "keras.layers.Layer")
                    ),
                    None,
                )
                if base is None:
                    continue
                methods = {s.name.value: s for s in stmt.body.body if isinstance(s, cst.FunctionDef)}
                self.classes[stmt.name.value] = ClassInfo(
                    stmt.name.value, stmt, base, methods.get("__init__"), methods.get("call")
                )
            elif isinstance(stmt, cst.FunctionDef):
                self.functions[stmt.name.value] = FuncInfo(
                    stmt.name.value, stmt, is_builder=self._is_builder(stmt)
                )

    def _is_builder(self, fn: cst.FunctionDef) -> bool:
        found = {"input": False, "model": False}

        class V(cst.CSTVisitor):
            def visit_Call(inner, node: cst.Call) -> None:
                name = self.resolve(node.func)
                if name == "keras.Input":
                    found["input"] = True
                elif name == "keras.Model":
                    found["model"] = True

        fn.visit(V())
        return found["input"] and found["model"]

    # ------------------------------------------------------------------ driver
    def run(self, declared: Mapping[str, Shape]) -> Annotations:
        """Analyse every scope once for emission: shaped ones first, so that the scopes they apply
        (helpers, sub-layers) know the rank they are used at."""
        for name, shape in declared.items():
            if name in self.classes:
                self.classes[name].build_shape = shape
        order: list[tuple[str, ClassInfo | FuncInfo]] = []
        order += [(n, f) for n, f in self.functions.items() if f.is_builder]
        order += [(n, c) for n, c in self.classes.items() if c.build_shape is not None]
        order += [(n, f) for n, f in self.functions.items() if not f.is_builder]
        order += [(n, c) for n, c in self.classes.items() if c.build_shape is None]
        done: set[str] = set()
        for name, info in order:
            if name in done:
                continue
            done.add(name)
            if isinstance(info, ClassInfo):
                self._emit_class(info)
            else:
                self._emit_function(info)
        self._scope = "<module>"
        env: dict[str, Val] = {}
        for stmt in self._module.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self._stmt(small, env, {})
            elif not isinstance(stmt, cst.ClassDef | cst.FunctionDef):
                self._stmt(stmt, env, {})
        return self.ann

    def _emit_class(self, info: ClassInfo) -> None:
        self._scope = info.name
        attrs: dict[str, Val] = {}
        env: dict[str, Val] = {}
        if info.init is not None:
            self._bind_params(info.init, env)
            self._run(info.init, env, attrs)
        if info.call is None:
            return
        shape = info.build_shape
        if shape is None and info.applied_rank is not None:
            shape = (None,) * (info.applied_rank - 1) + (IN_CHANNELS,)
        call_env: dict[str, Val] = {}
        params = _params(info.call)[1:]  # without self
        tensors: list[tuple[str, TensorVal]] = []
        for i, p in enumerate(params):
            if p == "training" or p == "mask":
                call_env[p] = None
                continue
            t = TensorVal(shape if i == 0 else None, LayoutCell(None))
            call_env[p] = t
            tensors.append((p, t))
        self.ann.inputs[info.name] = tensors
        self.ann.outputs[info.name] = self._run(info.call, call_env, attrs)
        self.keep_keras_order(self.ann.outputs[info.name])

    def _emit_function(self, info: FuncInfo) -> None:
        self._scope = info.name
        env: dict[str, Val] = {}
        self._bind_params(info.node, env)
        if not info.is_builder and info.applied_rank is not None:
            params = _params(info.node)
            if params:
                shape = (None,) * (info.applied_rank - 1) + (IN_CHANNELS,)
                t = TensorVal(shape, LayoutCell(None))
                env[params[0]] = t
                self.ann.inputs[info.name] = [(params[0], t)]
        result = self._run(info.node, env, {})
        self.ann.outputs[info.name] = result
        if isinstance(result, LayerVal) and result.output is not None:
            self.keep_keras_order(result.output)  # a Sequential built here: its output

    def _bind_params(self, fn: cst.FunctionDef, env: dict[str, Val]) -> None:
        """A scope analysed for emission sees its parameters as sizes named by themselves."""
        for p in _params(fn):
            if p != "self":
                env[p] = DimVal(p)

    # ------------------------------------------------------------------ statements
    @contextmanager
    def _scope_of(self, fn: cst.FunctionDef | None) -> Iterator[None]:
        """Inside ``fn``, names it binds shadow the module's imports."""
        saved = self.imports
        if fn is not None:
            self.imports = without(self.imports, local_names(fn))
        try:
            yield
        finally:
            self.imports = saved

    def _run(self, fn: cst.FunctionDef, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        """Evaluate a function's body in its own name scope."""
        with self._scope_of(fn):
            return self._body(fn.body, env, attrs)

    def _body(self, block: cst.BaseSuite, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        result: Val = None
        for stmt in _statements(block):
            r = self._stmt(stmt, env, attrs)
            if r is not None:
                result = r
        return result

    def _stmt(self, stmt: cst.CSTNode, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        if isinstance(stmt, cst.Assign):
            value = self.expr(stmt.value, env, attrs)
            for t in stmt.targets:
                self._assign(t.target, value, env, attrs)
        elif isinstance(stmt, cst.AnnAssign) and stmt.value is not None:
            self._assign(stmt.target, self.expr(stmt.value, env, attrs), env, attrs)
        elif isinstance(stmt, cst.AugAssign):
            left = self.expr(stmt.target, env, attrs)
            right = self.expr(stmt.value, env, attrs)
            self._assign(stmt.target, self._binary(left, right, stmt.value, stmt.target), env, attrs)
        elif isinstance(stmt, cst.Expr):
            self.expr(stmt.value, env, attrs)
        elif isinstance(stmt, cst.Return):
            return self.expr(stmt.value, env, attrs) if stmt.value is not None else None
        elif isinstance(stmt, cst.If | cst.For | cst.While | cst.With | cst.Try):
            if isinstance(stmt, cst.If):
                self.expr(stmt.test, env, attrs)
            varying = False
            if isinstance(stmt, cst.For):
                items = self.expr(stmt.iter, env, attrs)
                first = items.items[0] if isinstance(items, TupleVal) and items.items else None
                self._bind_target(stmt.target, env, first)
                # a loop over data (zip(sizes, sizes[1:])) may feed each layer a different size
                varying = not is_range(stmt.iter) and not isinstance(items, TupleVal)
            self._varying += int(varying)
            try:
                result = self._body(stmt.body, env, attrs)
            finally:
                self._varying -= int(varying)
            orelse = getattr(stmt, "orelse", None)
            while orelse is not None:
                if isinstance(orelse, cst.If):
                    result = self._body(orelse.body, env, attrs) or result
                    orelse = orelse.orelse
                else:
                    result = self._body(orelse.body, env, attrs) or result
                    orelse = None
            return result
        return None

    def _bind_target(self, target: cst.BaseExpression, env: dict[str, Val], value: Val = None) -> None:
        if isinstance(target, cst.Name):
            env[target.value] = value
        elif isinstance(target, cst.Tuple | cst.List):
            for el in target.elements:
                self._bind_target(el.value, env)

    def _assign(
        self, target: cst.BaseExpression, value: Val, env: dict[str, Val], attrs: dict[str, Val]
    ) -> None:
        if isinstance(target, cst.Name):
            env[target.value] = value
        elif isinstance(target, cst.Attribute) and _is_self(target.value):
            attrs[target.attr.value] = value
        elif isinstance(target, cst.Tuple | cst.List):
            items = value.items if isinstance(value, TupleVal) else ()
            for i, el in enumerate(target.elements):
                self._assign(el.value, items[i] if i < len(items) else None, env, attrs)

    # ------------------------------------------------------------------ expressions
    def dim_of(self, node: cst.BaseExpression, env: Mapping[str, Val], attrs: Mapping[str, Val]) -> Dim:
        v = literal(node)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(node, cst.Name):
            bound = env.get(node.value)
            if isinstance(bound, DimVal):
                return bound.dim
            if node.value in env or node.value in ("True", "False", "None"):
                return None
            return node.value
        if isinstance(node, cst.Attribute) and _is_self(node.value):
            bound = attrs.get(node.attr.value)
            return bound.dim if isinstance(bound, DimVal) else code_of(node)
        if isinstance(node, cst.BinaryOperation):
            a, b = self.dim_of(node.left, env, attrs), self.dim_of(node.right, env, attrs)
            op = type(node.operator)
            if op is cst.Multiply:
                return mul(a, b)
            if op is cst.Add:
                return add(a, b)
            if isinstance(a, int) and isinstance(b, int):
                if op is cst.Subtract:
                    return a - b
                if op is cst.FloorDivide and b:
                    return a // b
            if a is None or b is None:
                return None
            return code_of(node) if _only_names(node, env) else None
        return None

    def expr(self, node: cst.BaseExpression, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        value = self._expr(node, env, attrs)
        if self._record and isinstance(value, TensorVal):
            self.ann.tensors[id(node)] = value
        return value

    def _expr(self, node: cst.BaseExpression, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        if isinstance(node, cst.Name):
            return env.get(node.value)
        if isinstance(node, cst.Attribute):
            if _is_self(node.value):
                return attrs.get(node.attr.value)
            self.expr(node.value, env, attrs)
            return None
        if isinstance(node, cst.Integer):
            return DimVal(int(node.value))
        if isinstance(node, cst.Tuple | cst.List):
            return TupleVal(tuple(self.expr(e.value, env, attrs) for e in node.elements))
        if isinstance(node, cst.ListComp) and node.for_in.inner_for_in is None:
            # [Block(dim) for _ in range(n)]: one constructor, n instances of the same layer
            inner = dict(env)
            self._bind_target(node.for_in.target, inner)
            item = self.expr(node.elt, inner, attrs)
            count = range_count(node.for_in.iter)
            return TupleVal((item,) * (count if count is not None else 1))
        if isinstance(node, cst.BinaryOperation):
            left = self.expr(node.left, env, attrs)
            right = self.expr(node.right, env, attrs)
            dims = isinstance(left, DimVal) or isinstance(right, DimVal)
            if dims and not isinstance(left, TensorVal) and not isinstance(right, TensorVal):
                return DimVal(self.dim_of(node, env, attrs))
            return self._binary(left, right, node.right, node.left)
        if isinstance(node, cst.UnaryOperation):
            return self.expr(node.expression, env, attrs)
        if isinstance(node, cst.Comparison):  # x > 0: a boolean tensor in the operands' layout
            out = self.expr(node.left, env, attrs)
            left_node: cst.BaseExpression = node.left
            for c in node.comparisons:
                right = self.expr(c.comparator, env, attrs)
                out = self._binary(out, right, c.comparator, left_node)
                left_node = c.comparator
            return out
        if isinstance(node, cst.Subscript):
            base = self.expr(node.value, env, attrs)
            if isinstance(base, TupleVal) and len(node.slice) == 1:
                idx = node.slice[0].slice
                if isinstance(idx, cst.Index):
                    i = literal(idx.value)
                    if isinstance(i, int) and -len(base.items) <= i < len(base.items):
                        return base.items[i]
            if isinstance(base, TensorVal):
                perm = base.cell.perm
                if perm is not None and perm != identity(len(perm)):
                    # indices and slices are written for Keras's axis order
                    self._feed(base, node.value, identity(len(perm)))
                    base = TensorVal(base.shape, LayoutCell(identity(len(perm))))
                return _indexed(base, node) if base.shape is not None else None
            return None
        if isinstance(node, cst.Call):
            return self._call(node, env, attrs)
        return None

    def _binary(
        self,
        left: Val,
        right: Val,
        right_node: cst.BaseExpression,
        left_node: cst.BaseExpression | None = None,
    ) -> Val:
        if (
            isinstance(left, TensorVal)
            and isinstance(right, TensorVal)
            and left.rank is not None
            and right.rank is not None
            and 0 < min(left.rank, right.rank) < max(left.rank, right.rank)
        ):
            # broadcasting aligns the trailing axes in Keras's order: the larger operand (a feature
            # map held channels-first) is put back in that order, and so is the result
            big, node = (left, left_node) if left.rank > right.rank else (right, right_node)
            rank = max(left.rank, right.rank)
            if big.cell.perm != identity(rank) and (node is not None or big.cell.perm is None):
                self._feed(big, node, identity(rank))
                return TensorVal(big.shape, LayoutCell(identity(rank)))
        if isinstance(left, TensorVal) and isinstance(right, TensorVal):
            self._unify(left, [(right, right_node)])
            big = left if (left.rank or 0) >= (right.rank or 0) else right
            return TensorVal(big.shape, left.cell if big is left else right.cell)
        if isinstance(left, TensorVal):
            return TensorVal(left.shape, left.cell, left.flattened, left.flatten_node)
        if isinstance(right, TensorVal):
            return TensorVal(right.shape, right.cell, right.flattened, right.flatten_node)
        return None

    def _unify(self, first: TensorVal, rest: Sequence[tuple[TensorVal, cst.BaseExpression | None]]) -> None:
        """Operands of one op must share a torch layout: bind unbound ones, convert the others."""
        for t, node in rest:
            if first.rank is not None and t.rank is not None and first.rank != t.rank:
                continue  # broadcasting a lower-rank operand: no layout to share
            if first.cell.perm is None and t.cell.perm is not None:
                first.cell.bind(t.cell.perm)
            elif t.cell.perm is None and first.cell.perm is not None:
                t.cell.bind(first.cell.perm)
            elif (
                first.cell.perm is not None
                and t.cell.perm is not None
                and t.cell.perm != first.cell.perm
                and len(t.cell.perm) == len(first.cell.perm)
                and self._record
                and node is not None
            ):
                self.ann.converts[id(node)] = (t.cell.perm, first.cell.perm)

    # ------------------------------------------------------------------ calls
    def _call(self, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        func = node.func
        name = self.resolve(func)
        if name == "keras.Input":
            return self._input(node, env, attrs)
        if name == "keras.Model":
            ins = node.args[0].value if node.args else None
            outs = node.args[1].value if len(node.args) > 1 else None
            for a in node.args:
                if a.keyword is not None and a.keyword.value == "inputs":
                    ins = a.value
                if a.keyword is not None and a.keyword.value == "outputs":
                    outs = a.value
            return ModelVal(
                self.expr(ins, env, attrs) if ins is not None else None,
                self.expr(outs, env, attrs) if outs is not None else None,
            )
        rule = self.rules.by_name.get(name) if name is not None else None
        if rule is not None and rule.kind is RuleKind.LAYER:
            return self._construct(rule, node, env, attrs)
        if rule is not None and rule.kind is RuleKind.FUNCTION and rule.hook == "keras_shape":
            t = self.expr(node.args[0].value, env, attrs) if node.args else None
            if isinstance(t, TensorVal) and t.shape is not None:
                return TupleVal(tuple(DimVal(d) for d in t.shape))
            return None
        if rule is not None and rule.kind is RuleKind.FUNCTION:
            return self._op(rule, node, env, attrs)
        if isinstance(func, cst.Name) and func.value in self.classes:
            for a in node.args:
                self.expr(a.value, env, attrs)
            layer = LayerVal(
                _USER_RULE, LayerArgs({}), node, user_class=func.value, user_args=tuple(node.args)
            )
            layer.factory_args = self._ctor_dims(self.classes[func.value], node, env, attrs)
            return layer
        if isinstance(func, cst.Name) and func.value in self.functions:
            return self._helper(self.functions[func.value], node, env, attrs)
        if isinstance(func, cst.Attribute):
            owner = self.expr(func.value, env, attrs)
            method = func.attr.value
            if (
                isinstance(owner, TupleVal)
                and method == "append"
                and isinstance(func.value, cst.Name)
                and len(node.args) == 1
            ):  # a list of layers built in a loop
                env[func.value.value] = TupleVal((*owner.items, self.expr(node.args[0].value, env, attrs)))
                return None
            if isinstance(owner, SeqBuilder) and method == "add" and node.args:
                added = self.expr(node.args[0].value, env, attrs)
                self._seq_add(owner, added, node.args[0].value)
                return None
            if isinstance(owner, TensorVal):
                return self._method(owner, method, node, env, attrs)
        callee = self.expr(func, env, attrs)
        if isinstance(callee, LayerVal):
            operands = [a for a in node.args if a.keyword is None]
            vals = [self.expr(a.value, env, attrs) for a in operands]
            states: list[tuple[TensorVal, cst.BaseExpression | None]] = []  # a recurrent initial_state=
            named: dict[str, Val] = {}
            for a in node.args:
                if a.keyword is not None:
                    v = named[a.keyword.value] = self.expr(a.value, env, attrs)
                    if a.keyword.value == "initial_state" and isinstance(v, TupleVal):
                        nodes: list[cst.BaseExpression | None] = [e.value for e in _elements(a.value)]
                        pairs = zip(v.items, nodes or [None] * len(v.items), strict=False)
                        states += [(t, n) for t, n in pairs if isinstance(t, TensorVal)]
            if callee.rule.shape == "attention":  # its other tensor operands (value, key, masks) too
                given = {**{str(i): v for i, v in enumerate(vals)}, **named}
                self.ann.call_shapes.setdefault(
                    id(callee.node), {k: v.shape for k, v in given.items() if isinstance(v, TensorVal)}
                )
                others = [a.value for a in operands[1:]] + [
                    a.value for a in node.args if a.keyword is not None
                ]
                values = [*vals[1:], *named.values()]
                states = [(v, n) for v, n in zip(values, others, strict=True) if isinstance(v, TensorVal)]
            if not vals:
                return None
            first = vals[0]
            if isinstance(first, TupleVal):
                ts = [(v, e.value) for v, e in zip(first.items, _elements(operands[0].value), strict=False)]
                tensors: list[tuple[TensorVal, cst.BaseExpression | None]] = [
                    (v, n) for v, n in ts if isinstance(v, TensorVal)
                ]
                return self.apply(callee, tensors, node)
            if isinstance(first, TensorVal):
                return self.apply(callee, [(first, operands[0].value), *states], node)
            return None
        for a in node.args:
            self.expr(a.value, env, attrs)
        return None

    def _input(self, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        shape_node = None
        for i, a in enumerate(node.args):
            if (a.keyword is None and i == 0) or (a.keyword is not None and a.keyword.value == "shape"):
                shape_node = a.value
        dims: Shape | None = None
        if isinstance(shape_node, cst.Tuple | cst.List):
            dims = tuple(self.dim_of(e.value, env, attrs) for e in shape_node.elements)
        t = TensorVal((None, *dims) if dims is not None else None, LayoutCell(None))
        if self._record:
            self.ann.inputs.setdefault(self._scope, []).append(("inputs", t))
        return t

    def _construct(self, rule: Rule, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        layer = self._construct_layer(rule, node, env, attrs)
        if isinstance(layer, LayerVal) and self._factory_args is not None:
            layer.factory_args = dict(self._factory_args)
        return layer

    def _construct_layer(self, rule: Rule, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        if self._varying and self._record:
            self.ann.varying.add(id(node))
        bound, _ = bind_arguments(rule, node, None)
        args = LayerArgs(bound, lambda e: self.dim_of(e, env, attrs))
        if rule.hook == "sequential":
            layer = LayerVal(rule, args, node)
            items = bound.get("layers")
            if items is None:
                return SeqBuilder(layer, None)
            builder = SeqBuilder(layer, None)
            if isinstance(items, cst.List | cst.Tuple):
                for el in _elements(items):
                    self._seq_add(builder, self.expr(el.value, env, attrs), el.value)
            else:  # a comprehension or a list built elsewhere
                built = self.expr(items, env, attrs)
                for item in built.items if isinstance(built, TupleVal) else ():
                    self._seq_add(builder, item, items)
            return layer
        inner: LayerVal | None = None
        if rule.shape == "bidirectional":
            wrapped = bound.get("layer")
            v = self.expr(wrapped, env, attrs) if wrapped is not None else None
            inner = v if isinstance(v, LayerVal) else None
        else:
            for arg in bound.values():
                self.expr(arg, env, attrs)
        return LayerVal(rule, args, node, inner=inner)

    def _seq_add(self, builder: SeqBuilder, added: Val, node: cst.BaseExpression) -> None:
        if isinstance(added, TensorVal):  # keras.Input(...) as the first element
            builder.current = added
            return
        if not isinstance(added, LayerVal):
            return
        builder.layer.children.append(added)
        if builder.current is None:
            return  # no declared input: the layers get their shapes where the Sequential is called
        saved = self._seq_now
        self._seq_now = builder.layer.node if len(builder.layer.children) > 1 else saved
        try:
            out = self.apply(added, [(builder.current, None)], None)
        finally:
            self._seq_now = saved
        builder.current = out if isinstance(out, TensorVal) else TensorVal(None, LayoutCell(None))
        builder.layer.output = builder.current

    def _helper(self, fn: FuncInfo, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        """A helper function applied here: a block builder if its first argument is a tensor."""
        vals = [self.expr(a.value, env, attrs) for a in node.args]
        if fn.is_builder:
            return None
        if not vals or not isinstance(vals[0], TensorVal):
            return self._factory(fn, node, env, attrs)
        first = vals[0]
        if self._record and fn.applied_rank is None and first.rank is not None:
            fn.applied_rank = first.rank
        inner_env: dict[str, Val] = {}
        params = _params(fn.node)
        for p in params:
            inner_env[p] = None
        positional = [a for a in node.args if a.keyword is None]
        for p, a, v in zip(params, positional, vals, strict=False):
            inner_env[p] = v if isinstance(v, TensorVal) else DimVal(self.dim_of(a.value, env, attrs))
        for a in node.args:
            if a.keyword is not None and a.keyword.value in inner_env:
                inner_env[a.keyword.value] = DimVal(self.dim_of(a.value, env, attrs))
        _defaults(fn.node, inner_env, self)
        with self._quiet():
            out = self._run(fn.node, inner_env, {})
        want = first.cell.perm
        if isinstance(out, TensorVal) and want is None:
            pass
        return out

    def _ctor_dims(
        self, info: ClassInfo, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]
    ) -> dict[str, Dim]:
        """The sizes a layer class is built with, by constructor parameter (defaults included)."""
        if info.init is None:
            return {}
        params = _params(info.init)[1:]
        dims: dict[str, Dim] = {}
        for param in [*info.init.params.params, *info.init.params.kwonly_params]:
            v = literal(param.default) if param.default is not None else None
            if isinstance(v, int) and not isinstance(v, bool):
                dims[param.name.value] = v
        positional = [a for a in node.args if a.keyword is None]
        for p, a in zip(params, positional, strict=False):
            dims[p] = self.dim_of(a.value, env, attrs)
        for a in node.args:
            if a.keyword is not None and a.keyword.value in params:
                dims[a.keyword.value] = self.dim_of(a.value, env, attrs)
        return dims

    def _factory(self, fn: FuncInfo, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        """A helper that builds and returns layers (``conv_bn_relu(cin, cout)``): the layers it
        returns, remembering each call's arguments so that an input size that differs between
        calls can be matched to one of the helper's parameters."""
        inner: dict[str, Val] = dict.fromkeys(_params(fn.node))
        dims: dict[str, Dim] = {}
        positional = [a for a in node.args if a.keyword is None]
        for p, a in zip(_params(fn.node), positional, strict=False):
            dims[p] = self.dim_of(a.value, env, attrs)
        for a in node.args:
            if a.keyword is not None and a.keyword.value in inner:
                dims[a.keyword.value] = self.dim_of(a.value, env, attrs)
        _defaults(fn.node, inner, self)
        for p, d in dims.items():
            inner[p] = DimVal(d)
        saved = self._factory_args
        self._factory_args = {p: v.dim for p, v in inner.items() if isinstance(v, DimVal)}
        try:
            return self._run(fn.node, inner, {})
        finally:
            self._factory_args = saved

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        saved = self._record
        self._record = False
        try:
            yield
        finally:
            self._record = saved

    def _user_apply(self, layer: LayerVal, inputs: list[tuple[TensorVal, cst.BaseExpression | None]]) -> Val:
        info = self.classes[layer.user_class or ""]
        first = inputs[0][0]
        if info.applied_rank is None and first.rank is not None:
            info.applied_rank = first.rank
        env: dict[str, Val] = {}
        attrs: dict[str, Val] = {}
        if info.init is not None:
            params = _params(info.init)[1:]
            for p in params:
                env[p] = None
            _defaults(info.init, env, self)
            positional = [a for a in layer.user_args if a.keyword is None]
            for p, a in zip(params, positional, strict=False):
                env[p] = DimVal(self.dim_of(a.value, {}, {}))
            for a in layer.user_args:
                if a.keyword is not None:
                    env[a.keyword.value] = DimVal(self.dim_of(a.value, {}, {}))
        with self._quiet():
            if info.init is not None:
                self._run(info.init, env, attrs)
            if info.call is None:
                return None
            call_env: dict[str, Val] = {}
            params = _params(info.call)[1:]
            for i, p in enumerate(params):
                call_env[p] = inputs[i][0] if i < len(inputs) else None
            if params and not inputs:
                return None
            # the sub-layer's own layout decisions apply to a fresh copy of the input
            fresh = TensorVal(first.shape, LayoutCell(None))
            call_env[params[0]] = fresh
            out = self._run(info.call, call_env, attrs)
        want = fresh.cell.perm
        self._feed(first, inputs[0][1], want)
        return out

    # ------------------------------------------------------------------ layers
    def apply(
        self,
        layer: LayerVal,
        inputs: list[tuple[TensorVal, cst.BaseExpression | None]],
        call: cst.Call | None,
    ) -> Val:
        if not inputs:
            return None
        first, first_node = inputs[0]
        if layer.user_class is not None:
            if self._record:
                self.ann.layer_input.setdefault(id(layer.node), first.shape)
                channels = first.shape[-1] if first.shape else None
                uses = self.ann.class_uses.setdefault(layer.user_class, [])
                uses.append((channels, layer.factory_args or {}))
            return self._user_apply(layer, inputs)
        rule = layer.rule
        if layer.children:
            cur: Val = first
            saved = self._seq_now
            try:
                for i, child in enumerate(layer.children):
                    if not isinstance(cur, TensorVal):
                        return None
                    self._seq_now = layer.node if i > 0 else saved
                    cur = self.apply(child, [(cur, first_node if i == 0 else None)], None)
            finally:
                self._seq_now = saved
            return cur
        if rule.shape == "bidirectional" and layer.inner is not None:
            return self._bidirectional(layer, first, first_node)
        rank = first.rank
        want = wants(rule, rank)
        if rule.contract is Contract.ELEMENTWISE or rule.contract is Contract.NONE:
            if len(inputs) > 1:
                self._unify(first, inputs[1:])
        elif rule.contract is Contract.AXIS:
            self._unify(first, inputs[1:])
        else:
            self._feed(first, first_node, want)
        if self._record:
            if id(layer.node) not in self.ann.layer_input:
                self.ann.layer_input[id(layer.node)] = first.shape
                self.ann.layer_layout[id(layer.node)] = first.cell.perm
            if layer.factory_args is not None:
                channels = first.shape[-1] if first.shape else None
                self.ann.factory_inputs.setdefault(id(layer.node), []).append((channels, layer.factory_args))
            if first.flattened is not None and rule.weights == "linear":
                self.ann.after_flatten[id(layer.node)] = first.flattened
                if first.flatten_node is not None:
                    self.ann.after_flatten_from[id(layer.node)] = first.flatten_node
            ch = first.shape[-1] if first.shape else None
            weighted = bool(rule.infer) or rule.weights not in (None, "identity")
            if weighted and isinstance(ch, str) and IN_CHANNELS in ch:
                self.ann.needs_in.add(self._scope)
        fn = SHAPES.get(rule.shape or "same")
        out_shape = fn(layer.args, [t.shape for t, _ in inputs]) if fn is not None else first.shape
        result = self._result(rule, first, out_shape, id(layer.node))
        for t, _ in inputs:
            passed = isinstance(result, TensorVal) and result.flatten_node == t.flatten_node
            if t.flatten_node is not None and rule.weights != "linear" and not passed:
                self.ann.keras_order_flatten.add(t.flatten_node)
        return result

    def _feed(self, t: TensorVal, node: cst.BaseExpression | None, want: tuple[int, ...] | None) -> None:
        if want is None:
            return
        if t.cell.perm is None:
            t.cell.bind(want)
        elif t.cell.perm != want and len(t.cell.perm) == len(want) and self._record:
            if node is not None:
                self.ann.converts[id(node)] = (t.cell.perm, want)
            elif self._seq_now is not None:  # between two layers of a Sequential: no place for it
                self.ann.seq_conflicts.add(id(self._seq_now))

    def keep_keras_order(self, outputs: object) -> None:
        """A model's outputs: a flattened feature map among them must be in Keras's order."""
        items = outputs.items if isinstance(outputs, TupleVal) else (outputs,)
        for t in items:
            if isinstance(t, TensorVal) and t.flatten_node is not None:
                self.ann.keras_order_flatten.add(t.flatten_node)

    def _result(
        self, rule: Rule, first: TensorVal, out: Shape | tuple[Shape, ...] | None, node: int | None = None
    ) -> Val:
        c = rule.contract
        if out is not None and out and isinstance(out[0], tuple):
            return TupleVal(tuple(TensorVal(s, LayoutCell(identity(len(s)))) for s in out))
        shape: Shape | None = out  # type: ignore[assignment]
        rank = len(shape) if shape is not None else first.rank
        if c is Contract.CHANNELS:
            perm = channels_first(rank) if rank is not None else None
            return TensorVal(shape, LayoutCell(perm))
        if c is Contract.FLATTEN:
            perm_in = first.cell.perm
            flat = first.shape if perm_in is not None and perm_in != identity(len(perm_in)) else None
            return TensorVal(
                shape, LayoutCell(identity(2)), flattened=flat, flatten_node=node if flat else None
            )
        if c in (Contract.LAST_DIM, Contract.SEQUENCE, Contract.EMBEDDING):
            return TensorVal(shape, LayoutCell(identity(rank) if rank is not None else None))
        if rank is not None and first.rank is not None and rank != first.rank:
            return TensorVal(shape, LayoutCell(identity(rank)))
        return TensorVal(shape, first.cell, first.flattened, first.flatten_node)

    def _bidirectional(self, layer: LayerVal, first: TensorVal, node: cst.BaseExpression | None) -> Val:
        inner = layer.inner
        assert inner is not None
        self._feed(first, node, identity(first.rank) if first.rank else None)
        if self._record and id(layer.node) not in self.ann.layer_input:
            self.ann.layer_input[id(layer.node)] = first.shape
            self.ann.layer_input[id(inner.node)] = first.shape
        fn = SHAPES.get(inner.rule.shape or "same")
        out = fn(inner.args, [first.shape]) if fn is not None else None

        concat = layer.args.value("merge_mode", "concat") == "concat"

        def doubled(s: Shape) -> Shape:  # merge_mode sum / mul / ave keep the size
            return (*s[:-1], mul(s[-1], 2)) if concat else s

        if out is None:
            return TensorVal(None, LayoutCell(None))
        if out and isinstance(out[0], tuple):
            shapes: tuple[Shape, ...] = out
            items = [TensorVal(doubled(shapes[0]), LayoutCell(identity(len(shapes[0]))))]
            for _ in range(2):  # [h_fw, (c_fw,) h_bw, (c_bw)]: a tensor each
                items += [TensorVal(state, LayoutCell(identity(len(state)))) for state in shapes[1:]]
            return TupleVal(tuple(items))
        single: Shape = out  # type: ignore[assignment]
        return TensorVal(doubled(single), LayoutCell(identity(len(single))))

    # ------------------------------------------------------------------ ops
    def _op(self, rule: Rule, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        bound = with_defaults(rule, bind_arguments(rule, node, None)[0])
        vals = {k: self.expr(v, env, attrs) for k, v in bound.items()}
        tensors: list[tuple[TensorVal, cst.BaseExpression | None]] = []
        for k in operand_params(rule, vals):
            v = vals[k]
            if isinstance(v, TensorVal):
                tensors.append((v, bound[k]))
            elif isinstance(v, TupleVal):
                tensors += [
                    (item, e.value)
                    for item, e in zip(v.items, _elements(bound[k]), strict=False)
                    if isinstance(item, TensorVal)
                ]
        args = LayerArgs(bound, lambda e: self.dim_of(e, env, attrs))
        if not tensors:
            if rule.shape in CREATES:  # a new tensor, in Keras's order
                made = SHAPES[rule.shape](args, [])
                if made is not None and not (made and isinstance(made[0], tuple)):
                    return TensorVal(made, LayoutCell(identity(len(made))))  # type: ignore[arg-type]
            return None
        first = tensors[0][0]
        keras_order = in_keras_order(rule, bound, first)
        if keras_order:
            # layout-sensitive ops (reshape, transpose, matmul, a flattening op) run in Keras's order
            for t, n in tensors:
                self._feed(t, n, identity(t.rank) if t.rank is not None else None)
        elif rule.contract is Contract.CHANNELS:
            self._feed(first, tensors[0][1], channels_first(first.rank) if first.rank is not None else None)
        elif len(tensors) > 1:
            self._unify(first, tensors[1:])
        fn = SHAPES[rule.shape or "same"]
        out = fn(args, [t.shape for t, _ in tensors])
        if out is not None and out and isinstance(out[0], tuple):
            # several results (split, top_k), each in the operand's layout
            cell = LayoutCell(identity(len(out[0]))) if keras_order else first.cell
            return TupleVal(tuple(TensorVal(part, cell) for part in out))
        return self._op_result(rule, first, out, args, keras_order)  # type: ignore[arg-type]

    def _op_result(
        self, rule: Rule, first: TensorVal, out: Shape | None, args: LayerArgs, keras_order: bool = False
    ) -> Val:
        perm = first.cell.perm
        if rule.contract is Contract.CHANNELS:
            rank = len(out) if out is not None else first.rank
            return TensorVal(out, LayoutCell(channels_first(rank) if rank is not None else None))
        if rule.contract is Contract.LAST_DIM or keras_order:
            rank = len(out) if out is not None else None
            return TensorVal(out, LayoutCell(identity(rank) if rank is not None else None))
        if rule.shape in ("reduce", "arg_reduce") and perm is not None:
            axes = args.value("axis")
            keep = args.value("keepdims", False) is True
            if axes is None:
                return TensorVal(out, LayoutCell(identity(len(out)) if out is not None else ()))
            if isinstance(axes, int):
                axes = (axes,)
            if isinstance(axes, tuple | list) and all(isinstance(a, int) for a in axes):
                lay = Layout(perm).reduce(tuple(axes), keep)
                return TensorVal(out, LayoutCell(lay.perm))
            return TensorVal(out, LayoutCell(None))
        if rule.shape == "squeeze" and perm is not None:
            axes = args.value("axis")
            gone = squeezed_axes(first.shape) if axes is None and first.shape is not None else None
            if isinstance(axes, int | tuple | list) and not isinstance(axes, bool):
                gone = tuple(axes) if isinstance(axes, tuple | list) else (axes,)
            if gone is None or not all(isinstance(a, int) for a in gone):
                return TensorVal(out, LayoutCell(None))
            return TensorVal(out, LayoutCell(Layout(perm).reduce(tuple(gone), False).perm))
        if rule.shape == "expand_dims" and perm is not None:
            axis = args.value("axis")
            if not isinstance(axis, int) or isinstance(axis, bool):
                return TensorVal(out, LayoutCell(None))
            return TensorVal(out, LayoutCell(expanded(perm, axis % (len(perm) + 1))[0]))
        if out is not None and first.rank is not None and len(out) != first.rank:
            return TensorVal(out, LayoutCell(identity(len(out))))
        return TensorVal(out, first.cell, first.flattened, first.flatten_node)

    def _method(
        self, owner: TensorVal, method: str, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]
    ) -> Val:
        for a in node.args:
            self.expr(a.value, env, attrs)
        return None


_USER_RULE = Rule(id="<user class>", kind=RuleKind.LAYER, match=(), source=Path("."))


def with_defaults(rule: Rule, bound: dict[str, cst.BaseExpression]) -> dict[str, cst.BaseExpression]:
    """The bound arguments plus the rule's source defaults for missing axis arguments
    (``tf.argmax``'s axis is 0 when not given)."""
    out = dict(bound)
    for name, spec in rule.args.items():
        if name not in out and spec.axis and spec.default is not None:
            out[name] = cst.parse_expression(spec.default)
    return out


def operand_params(rule: Rule, vals: Mapping[str, object]) -> list[str]:
    """The bound parameters whose tensors share one layout, in the rule's parameter order: only
    the first for ops whose other tensors are indices or counts (``tf.gather``)."""
    order = [p for p in rule.params if p in vals] + [k for k in vals if k not in rule.params]
    if rule.shape in FIRST_OPERAND_ONLY:
        return order[:1]
    return order


def axis_absent(rule: Rule, bound: Mapping[str, cst.BaseExpression]) -> bool:
    """No axis given (or ``axis=None``) and no source default: numpy ops then flatten."""
    node = bound.get("axis")
    if node is None:
        spec = rule.args.get("axis")
        return spec is None or spec.default is None or spec.default == "None"
    return literal(node) is None


def in_keras_order(rule: Rule, bound: Mapping[str, cst.BaseExpression], first: TensorVal) -> bool:
    """The op must see its operands in Keras's axis order: layout-sensitive ops (LAST_DIM), numpy
    ops that flatten when given no axis, and a squeeze without axes whose size-1 axes are unknown."""
    if rule.contract is Contract.LAST_DIM:
        return True
    if rule.shape in FLAT_WITHOUT_AXIS and axis_absent(rule, bound):
        return True
    if rule.shape == "squeeze" and axis_absent(rule, bound):
        perm = first.cell.perm
        unknown = first.shape is None or squeezed_axes(first.shape) is None
        return unknown and perm is not None and perm != identity(len(perm))
    return False


def is_range(node: cst.BaseExpression) -> bool:
    """``range(...)``: each iteration of a loop over it builds the same layer."""
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "range"


def range_count(node: cst.BaseExpression) -> int | None:
    """The length of ``range(<literals>)``, else None."""
    if is_range(node):
        assert isinstance(node, cst.Call)
        bounds = [literal(a.value) for a in node.args]
        if bounds and all(isinstance(b, int) for b in bounds):
            return len(range(*bounds))
    return None


def _indexed(base: TensorVal, node: cst.Subscript) -> Val:
    """``x[0]``, ``x[:, -1]``, ``x[:, 1:]`` on a tensor held in Keras's axis order."""
    perm = base.cell.perm
    shape = base.shape
    if shape is None or not (perm is None or perm == identity(len(perm))) or len(node.slice) > len(shape):
        return None
    out: list[Dim] = []
    for i, el in enumerate(node.slice):
        sl = el.slice
        if isinstance(sl, cst.Index):
            if not isinstance(literal(sl.value), int):
                return None
            continue  # an integer index removes the axis
        if isinstance(sl, cst.Slice) and sl.lower is None and sl.upper is None and sl.step is None:
            out.append(shape[i])
        else:
            out.append(None)
    out.extend(shape[len(node.slice) :])
    return TensorVal(tuple(out), LayoutCell(identity(len(out))))


def _defaults(fn: cst.FunctionDef, env: dict[str, Val], analysis: Analysis) -> None:
    for p in [*fn.params.params, *fn.params.kwonly_params]:
        if env.get(p.name.value) is None and p.default is not None:
            v = literal(p.default)
            if isinstance(v, int) and not isinstance(v, bool):
                env[p.name.value] = DimVal(v)


def _params(fn: cst.FunctionDef) -> list[str]:
    return [p.name.value for p in [*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params]]


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


def _elements(node: cst.BaseExpression) -> list[cst.BaseElement]:
    if isinstance(node, cst.List | cst.Tuple):
        return [e for e in node.elements if isinstance(e, cst.Element)]
    return []


def _only_names(node: cst.BaseExpression, env: Mapping[str, Val]) -> bool:
    """An arithmetic expression over names that are parameters (valid in the constructor)."""
    if isinstance(node, cst.Name):
        return isinstance(env.get(node.value), DimVal) or node.value not in env
    if isinstance(node, cst.Integer):
        return True
    if isinstance(node, cst.BinaryOperation):
        return _only_names(node.left, env) and _only_names(node.right, env)
    if isinstance(node, cst.Attribute):
        return dotted(node) is not None
    return False


def _statements(block: cst.BaseSuite) -> Iterator[cst.CSTNode]:
    if isinstance(block, cst.IndentedBlock):
        for s in block.body:
            if isinstance(s, cst.SimpleStatementLine):
                yield from s.body
            else:
                yield s
    elif isinstance(block, cst.SimpleStatementSuite):
        yield from block.body


__all__ = ["IN_CHANNELS", "NOT_LITERAL", "Analysis", "Annotations", "canonical", "wants"]
