"""Static tracing of a Keras functional builder: the layers it creates and the operations its
forward pass performs, in order, with helper functions inlined, conditions decided statically and
literal loops unrolled. The codegen in ``functional.py`` turns the trace into an ``nn.Module``.

Nothing runs: conditions are decided from literals, the builder's parameter defaults and the
traced shapes; a condition that depends on anything else stops the trace with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.tf2torch.analysis import Analysis, FuncInfo, _elements, _params
from migrator.engine.tf2torch.shapes import Dim, Shape
from migrator.engine.tf2torch.values import (
    ConstVal,
    DimVal,
    LayerVal,
    ModelVal,
    SeqBuilder,
    TensorVal,
    TupleVal,
    Val,
)
from migrator.engine.values import NOT_LITERAL, literal
from migrator.rules.schema import Rule


class TraceError(Exception):
    """The builder cannot be traced statically; the message says why (and the node where)."""

    def __init__(self, node: cst.CSTNode, reason: str) -> None:
        super().__init__(reason)
        self.node = node
        self.reason = reason


@dataclass
class Step:
    """One operation of the forward pass."""

    kind: str  # "layer", "merge", "op", "binary", "user"
    out: int  # value id of the result (a TensorVal or a TupleVal)
    inputs: list[int]  # value ids read
    node: cst.CSTNode  # the source expression (in the builder or a helper)
    stmt: cst.CSTNode | None  # the builder-level statement it belongs to
    layer: LayerVal | None = None
    attr: str = ""
    in_shape: Shape | None = None
    in_perm: tuple[int, ...] | None = None
    subst: Mapping[str, str] = field(default_factory=dict)  # helper parameter -> code at the call
    operands: dict[int, int] = field(default_factory=dict)  # operand node id -> value id
    # operand node id -> (layout held, layout the op needs): ops and binary operators only
    converts: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    helper: str = ""  # the helper call it was inlined from ("double_conv(p1, base * 2)")
    first_of_helper: bool = False


@dataclass
class Trace:
    steps: list[Step]
    inputs: list[tuple[str, TensorVal]]
    outputs: list[TensorVal]
    names: dict[int, list[tuple[int, str]]]  # value id -> (depth, name) bindings, in order
    values: dict[int, Val]
    model_name: str | None
    locals: list[cst.BaseStatement] = field(default_factory=list)  # size computations for __init__
    helpers: set[str] = field(default_factory=set)  # helper functions inlined


_SNAKE1 = re.compile(r"(.)([A-Z][a-z]+)")
_SNAKE2 = re.compile(r"([a-z])([A-Z])")


def keras_snake(name: str) -> str:
    """Keras's default layer name for a class (``Conv2D`` -> ``conv2d``, ``ReLU`` -> ``re_lu``)."""
    name = re.sub(r"\W+", "", name)
    return _SNAKE2.sub(r"\1_\2", _SNAKE1.sub(r"\1_\2", name)).lower()


class Tracer(Analysis):
    """An Analysis that records a trace instead of annotating shared scopes."""

    def __init__(self, base: Analysis, fn: FuncInfo) -> None:
        self.__dict__.update(base.__dict__)
        self._fn = fn
        self.steps: list[Step] = []
        self.names: dict[int, list[tuple[int, str]]] = {}
        self.values: dict[int, Val] = {}
        self._depth = 0
        self._stmt_now: cst.CSTNode | None = None
        self._helper_now = ""
        self._helper_fresh = False
        self._subst: dict[str, str] = {}
        self._taken: dict[str, int] = {}
        self._record = False  # never write the shared annotations
        self._model_name: str | None = None
        self._inputs: list[tuple[str, TensorVal]] = []
        self._node_values: dict[int, TensorVal] = {}
        self._locals: list[cst.BaseStatement] = []
        self.helpers_used: set[str] = set()
        self._inside_user = 0
        self._converts: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    # ------------------------------------------------------------------ entry
    def trace(self) -> Trace:
        env: dict[str, Val] = {}
        for p in _params(self._fn.node):
            env[p] = DimVal(p)
        self._concrete = _param_defaults(self._fn.node)
        self._params = set(env)
        result = self._run(self._fn.node, env, {})
        if isinstance(result, LayerVal) and result.output is not None and self._inputs:
            result = ModelVal(self._inputs[0][1], result.output)  # a Sequential that needs a class
        elif isinstance(result, SeqBuilder) and result.current is not None and self._inputs:
            result = ModelVal(self._inputs[0][1], result.current)
        if not isinstance(result, ModelVal):
            raise TraceError(self._fn.node, "the builder does not return keras.Model(inputs, outputs)")
        outs = result.outputs.items if isinstance(result.outputs, TupleVal) else (result.outputs,)
        if not all(isinstance(o, TensorVal) for o in outs):
            raise TraceError(self._fn.node, "the model's outputs could not be traced")
        outputs = [o for o in outs if isinstance(o, TensorVal)]
        self.keep_keras_order(result.outputs)
        return Trace(
            self.steps,
            self._inputs,
            outputs,
            self.names,
            self.values,
            self._model_name,
            self._locals,
            self.helpers_used,
        )

    # ------------------------------------------------------------------ statements
    def _body(self, block: cst.BaseSuite, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        result: Val = None
        stmts = block.body if isinstance(block, cst.IndentedBlock) else [block]
        for s in stmts:
            if self._depth == 0 and not self._inside_user:
                self._stmt_now = s
            smalls = s.body if isinstance(s, cst.SimpleStatementLine | cst.SimpleStatementSuite) else [s]
            for small in smalls:
                if isinstance(small, cst.If):
                    r = self._if(small, env, attrs)
                elif isinstance(small, cst.For):
                    r = self._for(small, env, attrs)
                elif isinstance(small, cst.While | cst.Try | cst.With):
                    raise TraceError(small, "a while/try/with block in a functional builder is not traced")
                else:
                    r = self._stmt(small, env, attrs)
                if isinstance(small, cst.Return):
                    return r
                if r is not None:
                    result = r
        return result

    def _stmt(self, stmt: cst.CSTNode, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        if (
            self._depth == 0
            and isinstance(stmt, cst.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0].target, cst.Name)
        ):
            value = self.expr(stmt.value, env, attrs)
            name = stmt.targets[0].target.value
            if value is None or (isinstance(value, DimVal) and not isinstance(value.dim, int)):
                # a size computed from the parameters: keep the statement, use the name
                if isinstance(self._stmt_now, cst.SimpleStatementLine):
                    self._locals.append(self._stmt_now)
                env[name] = DimVal(name)
                return None
            self._assign(stmt.targets[0].target, value, env, attrs)
            return None
        return super()._stmt(stmt, env, attrs)

    def _if(self, node: cst.If, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        truth = self._truth(node.test, env, attrs)
        if truth is None:
            raise TraceError(node, f"the condition `{code_of(node.test)}` cannot be decided statically")
        if truth:
            return self._body(node.body, env, attrs)
        orelse = node.orelse
        if isinstance(orelse, cst.If):
            return self._if(orelse, env, attrs)
        if isinstance(orelse, cst.Else):
            return self._body(orelse.body, env, attrs)
        return None

    def _for(self, node: cst.For, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        items = self._iterable(node.iter, env, attrs)
        if items is None:
            raise TraceError(node, f"the loop over `{code_of(node.iter)}` cannot be unrolled statically")
        if node.orelse is not None:
            raise TraceError(node, "for/else is not traced")
        result: Val = None
        for item in items:
            if isinstance(node.target, cst.Name):
                env[node.target.value] = item
            r = self._body(node.body, env, attrs)
            result = r if r is not None else result
        return result

    def _iterable(
        self, node: cst.BaseExpression, env: dict[str, Val], attrs: dict[str, Val]
    ) -> list[Val] | None:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "range":
            bounds = [self._concrete_int(a.value, env, attrs) for a in node.args]
            if any(b is None for b in bounds) or not bounds:
                return None
            ints = [int(b) for b in bounds if b is not None]
            return [DimVal(i) for i in range(*ints)]
        if isinstance(node, cst.List | cst.Tuple):
            out: list[Val] = []
            for el in _elements(node):
                d = self.dim_of(el.value, env, attrs)
                out.append(DimVal(d) if d is not None else ConstVal(literal(el.value)))
            return out
        return None

    def _concrete_int(
        self, node: cst.BaseExpression, env: Mapping[str, Val], attrs: Mapping[str, Val]
    ) -> int | None:
        d = self.dim_of(node, env, attrs)
        if isinstance(d, int):
            return d
        if isinstance(d, str):
            return _eval_int(d, self._concrete)
        return None

    def _truth(self, node: cst.BaseExpression, env: dict[str, Val], attrs: dict[str, Val]) -> bool | None:
        """Decide a condition from literals, traced shapes and the builder's defaults."""
        v = self._value(node, env, attrs)
        if v is NOT_LITERAL:
            return None
        return bool(v)

    def _value(self, node: cst.BaseExpression, env: dict[str, Val], attrs: dict[str, Val]) -> object:
        lit = literal(node)
        if lit is not NOT_LITERAL:
            return lit
        if isinstance(node, cst.Name):
            b = env.get(node.value)
            if isinstance(b, ConstVal):
                return b.value
            if isinstance(b, DimVal):
                return self._concrete_dim(b.dim)
            return NOT_LITERAL
        if isinstance(node, cst.BooleanOperation):
            left = self._value(node.left, env, attrs)
            right = self._value(node.right, env, attrs)
            if left is NOT_LITERAL or right is NOT_LITERAL:
                return NOT_LITERAL
            return (left and right) if isinstance(node.operator, cst.And) else (left or right)
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            inner = self._value(node.expression, env, attrs)
            return NOT_LITERAL if inner is NOT_LITERAL else not inner
        if isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
            left = self._value(node.left, env, attrs)
            right = self._value(node.comparisons[0].comparator, env, attrs)
            if left is NOT_LITERAL or right is NOT_LITERAL:
                return NOT_LITERAL
            return _compare(node.comparisons[0].operator, left, right)
        if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute):
            # x.shape[i] of a traced tensor
            if node.value.attr.value == "shape" and len(node.slice) == 1:
                t = self.expr(node.value.value, env, attrs)
                idx = node.slice[0].slice
                if isinstance(t, TensorVal) and t.shape is not None and isinstance(idx, cst.Index):
                    i = literal(idx.value)
                    if isinstance(i, int) and -len(t.shape) <= i < len(t.shape):
                        return self._concrete_dim(t.shape[i])
            return NOT_LITERAL
        if isinstance(node, cst.BinaryOperation):
            d = self.dim_of(node, env, attrs)
            return self._concrete_dim(d)
        return NOT_LITERAL

    def _concrete_dim(self, d: Dim) -> object:
        if isinstance(d, int):
            return d
        if isinstance(d, str):
            v = _eval_int(d, self._concrete)
            return NOT_LITERAL if v is None else v
        return NOT_LITERAL

    def _assign(
        self, target: cst.BaseExpression, value: Val, env: dict[str, Val], attrs: dict[str, Val]
    ) -> None:
        super()._assign(target, value, env, attrs)
        if isinstance(target, cst.Name) and isinstance(value, TensorVal | TupleVal):
            self.names.setdefault(id(value), []).append((self._depth, target.value))

    # ------------------------------------------------------------------ calls
    def _call(self, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        name = self.resolve(node.func)
        if name == "keras.Model" and self._depth == 0:
            out = super()._call(node, env, attrs)
            for a in node.args:
                if a.keyword is not None and a.keyword.value == "name":
                    v = literal(a.value)
                    self._model_name = v if isinstance(v, str) else None
            return out
        out = super()._call(node, env, attrs)
        if isinstance(out, LayerVal) and out.user_class is not None and not out.attr:
            out.attr = self._attr_name_for(out.user_class, node)
            out.subst = dict(self._subst)
        return out

    def _input(self, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        t = super()._input(node, env, attrs)
        assert isinstance(t, TensorVal)
        self.values[id(t)] = t
        self._inputs.append(("", t))
        return t

    def _construct(self, rule: Rule, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        layer = super()._construct(rule, node, env, attrs)
        if rule.hook == "sequential" and self._depth == 0:
            name = literal(_kwarg(node, "name"))
            self._model_name = name if isinstance(name, str) else self._model_name
        if isinstance(layer, LayerVal):
            subst = dict(self._subst)
            if self._depth == 0:  # builder locals (``hidden = units * 2``) are spelled out
                for k, v in env.items():
                    if k not in self._params and isinstance(v, DimVal) and v.dim is not None:
                        subst[k] = str(v.dim)
            layer.subst = subst
            layer.attr = self._attr_name(rule, node)
        return layer

    def _seq_add(self, builder: SeqBuilder, added: Val, node: cst.BaseExpression) -> None:
        """Each layer of a Sequential becomes a step of the generated forward."""
        if isinstance(added, TensorVal) or not isinstance(added, LayerVal) or builder.current is None:
            super()._seq_add(builder, added, node)
            return
        before = builder.current
        super()._seq_add(builder, added, node)
        after = builder.current
        if isinstance(added, LayerVal) and after is not None:
            step = Step(
                "layer",
                id(after),
                [id(before)],
                added.node,
                self._stmt_now,
                layer=added,
                attr=added.attr,
                in_shape=before.shape,
                in_perm=before.cell.perm,
                subst=added.subst,
                operands={id(added.node): id(before)},
            )
            self._step(step, after)

    def _attr_name(self, rule: Rule, node: cst.Call) -> str:
        return self._attr_name_for(rule.match[0].rsplit(".", 1)[-1], node)

    def _attr_name_for(self, cls: str, node: cst.Call) -> str:
        """The name Keras gives the layer: its ``name=``, else the class in snake case, numbered."""
        for a in node.args:
            if a.keyword is not None and a.keyword.value == "name":
                v = literal(a.value)
                if isinstance(v, str) and v.isidentifier():
                    return v
        base = keras_snake(cls)
        n = self._taken.get(base, 0)
        self._taken[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def apply(
        self,
        layer: LayerVal,
        inputs: list[tuple[TensorVal, cst.BaseExpression | None]],
        call: cst.Call | None,
    ) -> Val:
        out = super().apply(layer, inputs, call)
        if call is None or not isinstance(out, TensorVal | TupleVal):
            return out
        first = inputs[0][0]
        kind = "merge" if layer.rule.shape in ("concat", "merge") else "layer"
        self._step(
            Step(
                kind,
                id(out),
                [id(t) for t, _ in inputs],
                call,
                self._stmt_now,
                layer=layer,
                attr=layer.attr,
                in_shape=first.shape,
                in_perm=first.cell.perm,
                subst=layer.subst,
                operands={id(n): id(t) for t, n in inputs if n is not None},
            ),
            out,
        )
        return out

    def _op(self, rule: Rule, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        out = super()._op(rule, node, env, attrs)
        if isinstance(out, TensorVal | TupleVal):
            self._step(Step("op", id(out), [], node, self._stmt_now, subst=dict(self._subst)), out)
        return out

    def _feed(self, t: TensorVal, node: cst.BaseExpression | None, want: tuple[int, ...] | None) -> None:
        self._note_convert(t, node, want)
        super()._feed(t, node, want)

    def _unify(self, first: TensorVal, rest: Sequence[tuple[TensorVal, cst.BaseExpression | None]]) -> None:
        for t, node in rest:
            self._note_convert(t, node, first.cell.perm)
        super()._unify(first, rest)

    def _note_convert(
        self, t: TensorVal, node: cst.BaseExpression | None, want: tuple[int, ...] | None
    ) -> None:
        """An operand the next op or operator needs in another layout (the step takes it)."""
        have = t.cell.perm
        if node is None or have is None or want is None:
            return
        if have != want and len(have) == len(want):
            self._converts[id(node)] = (have, want)

    def _operands(self, node: cst.CSTNode) -> dict[int, int]:
        """The tensor values the direct operands of ``node`` hold right now (node id -> value id)."""
        out: dict[int, int] = {}

        def visit(n: cst.CSTNode, depth: int) -> None:
            if id(n) in self._node_values and n is not node:
                out[id(n)] = id(self._node_values[id(n)])
                return
            if depth > 6:
                return
            for child in n.children:
                visit(child, depth + 1)

        visit(node, 0)
        return out

    def _expr(self, node: cst.BaseExpression, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        out = super()._expr(node, env, attrs)
        if isinstance(node, cst.BinaryOperation | cst.Comparison) and isinstance(out, TensorVal):
            self._step(Step("binary", id(out), [], node, self._stmt_now, subst=dict(self._subst)), out)
        if isinstance(out, TensorVal):
            self.values.setdefault(id(out), out)
            self._node_values[id(node)] = out
        return out

    def _user_apply(self, layer: LayerVal, inputs: list[tuple[TensorVal, cst.BaseExpression | None]]) -> Val:
        """A layer class of the file applied here: its inside is its own class, not part of the trace."""
        self._inside_user += 1
        try:
            return super()._user_apply(layer, inputs)
        finally:
            self._inside_user -= 1

    def _step(self, step: Step, out: Val) -> None:
        if self._inside_user:
            self._converts.clear()
            return
        if not step.operands:
            step.operands = self._operands(step.node)
        if step.kind in ("op", "binary"):
            step.converts = dict(self._converts)
        self._converts.clear()
        step.inputs = list(step.operands.values())
        step.helper = self._helper_now
        if self._helper_fresh:
            step.first_of_helper = True
            self._helper_fresh = False
        self.steps.append(step)
        self.values[id(out)] = out
        if isinstance(out, TupleVal):
            for item in out.items:
                if item is not None:
                    self.values[id(item)] = item

    def _helper(self, fn: FuncInfo, node: cst.Call, env: dict[str, Val], attrs: dict[str, Val]) -> Val:
        vals = [self.expr(a.value, env, attrs) for a in node.args]
        if not vals or not isinstance(vals[0], TensorVal) or fn.is_builder:
            return None
        params = _params(fn.node)
        inner: dict[str, Val] = dict.fromkeys(params)
        subst: dict[str, str] = {}
        positional = [a for a in node.args if a.keyword is None]
        for p, a, v in zip(params, positional, vals, strict=False):
            inner[p] = self._bind(p, a.value, v, env, attrs, subst)
        for a in node.args:
            if a.keyword is not None and a.keyword.value in inner:
                v = self.expr(a.value, env, attrs)
                inner[a.keyword.value] = self._bind(a.keyword.value, a.value, v, env, attrs, subst)
        for param in [*fn.node.params.params, *fn.node.params.kwonly_params]:
            if inner.get(param.name.value) is None and param.default is not None:
                lit = literal(param.default)
                is_int = isinstance(lit, int) and not isinstance(lit, bool)
                inner[param.name.value] = DimVal(lit) if is_int else ConstVal(lit)
                subst[param.name.value] = code_of(param.default)
        saved = (self._depth, self._subst, self._helper_now)
        self._depth += 1
        self._subst = subst
        self.helpers_used.add(fn.name)
        if self._depth == 1:
            self._helper_now = code_of(node)
            self._helper_fresh = True
        try:
            return self._run(fn.node, inner, {})
        finally:
            self._depth, self._subst, self._helper_now = saved
            if self._depth == 0:
                self._helper_fresh = False

    def _bind(
        self,
        param: str,
        arg: cst.BaseExpression,
        value: Val,
        env: dict[str, Val],
        attrs: dict[str, Val],
        subst: dict[str, str],
    ) -> Val:
        if isinstance(value, TensorVal | TupleVal):
            return value
        lit = literal(arg)
        if lit is not NOT_LITERAL and not (isinstance(lit, int) and not isinstance(lit, bool)):
            subst[param] = code_of(arg)
            return ConstVal(lit)
        if isinstance(value, ConstVal):
            subst[param] = code_of(arg)
            return value
        d = self.dim_of(arg, env, attrs)
        if d is not None:
            subst[param] = str(d)
            return DimVal(d)
        lit = literal(arg)
        subst[param] = code_of(arg)
        return ConstVal(lit)


def _kwarg(call: cst.Call, name: str) -> cst.BaseExpression:
    for a in call.args:
        if a.keyword is not None and a.keyword.value == name:
            return a.value
    return cst.Name("None")


def _compare(op: cst.BaseCompOp, left: object, right: object) -> object:
    """A comparison of two literal values; NOT_LITERAL when the operator or types do not allow it."""
    if isinstance(op, cst.Equal):
        return left == right
    if isinstance(op, cst.NotEqual):
        return left != right
    if isinstance(op, cst.Is):
        return left is right
    if isinstance(op, cst.IsNot):
        return left is not right
    if not (isinstance(left, int | float) and isinstance(right, int | float)):
        return NOT_LITERAL
    if isinstance(op, cst.LessThan):
        return left < right
    if isinstance(op, cst.GreaterThan):
        return left > right
    if isinstance(op, cst.LessThanEqual):
        return left <= right
    if isinstance(op, cst.GreaterThanEqual):
        return left >= right
    return NOT_LITERAL


def _param_defaults(fn: cst.FunctionDef) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in [*fn.params.params, *fn.params.kwonly_params]:
        if p.default is not None:
            v = literal(p.default)
            if isinstance(v, int) and not isinstance(v, bool):
                out[p.name.value] = v
    return out


_ARITH = re.compile(r"^[\w\s+\-*/()]+$")


def _eval_int(code: str, values: Mapping[str, int]) -> int | None:
    """An arithmetic expression over known integer names (``width * 2`` with width=8): parsed with
    ``ast`` and folded by hand, never evaluated."""
    import ast

    if not _ARITH.match(code):
        return None
    try:
        tree = ast.parse(code, mode="eval").body
    except SyntaxError:
        return None

    def fold(n: ast.AST) -> int | None:
        if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool):
            return n.value
        if isinstance(n, ast.Name):
            return values.get(n.id)
        if isinstance(n, ast.BinOp):
            a, b = fold(n.left), fold(n.right)
            if a is None or b is None:
                return None
            if isinstance(n.op, ast.Add):
                return a + b
            if isinstance(n.op, ast.Sub):
                return a - b
            if isinstance(n.op, ast.Mult):
                return a * b
            if isinstance(n.op, ast.FloorDiv) and b:
                return a // b
        return None

    return fold(tree)
