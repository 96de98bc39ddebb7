"""A Keras functional builder becomes an ``nn.Module`` class plus the same builder function.

``def build_model(num_classes=10): inputs = keras.Input(...); ...; return keras.Model(inputs, outputs)``
becomes ``class <Name>(nn.Module)`` whose ``__init__`` takes the builder's parameters and creates
one attribute per Keras layer (named as Keras names the layer: ``conv2d``, ``conv2d_1``, or its
``name=``), whose ``forward`` replays the traced operations, and ``build_model`` returns an
instance, so the same model expression works on both sides. Helper functions that build blocks are
inlined (a comment names the call), literal loops are unrolled and static conditions decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import code_of, commas, int_node, kwarg
from migrator.engine.layout import Layout
from migrator.engine.tf2torch.analysis import FuncInfo, wants
from migrator.engine.tf2torch.emit import activation_call, dim_node
from migrator.engine.tf2torch.recurrent import (
    MASK_REASON,
    RnnInfo,
    call_args,
    has_mask,
    output,
    state_unpacking,
)
from migrator.engine.tf2torch.trace import Step, Trace, TraceError, Tracer
from migrator.engine.tf2torch.values import LayerVal, TensorVal, TupleVal, permute_between
from migrator.engine.values import literal, parse_code
from migrator.types import LayerRecord, Severity

MARKER = "# fwmigrate:"

if TYPE_CHECKING:
    from migrator.engine.tf2torch.transformer import KerasToTorch


@dataclass
class Generated:
    statements: list[cst.BaseStatement]
    helpers: set[str] = field(default_factory=set)  # helper functions inlined here


def class_name(fn_name: str, model_name: str | None, taken: set[str]) -> str:
    base = model_name or fn_name
    for prefix in ("build_", "make_", "create_", "get_"):
        if base.startswith(prefix) and len(base) > len(prefix):
            base = base[len(prefix) :]
    name = "".join(part[:1].upper() + part[1:] for part in base.split("_") if part) or "Model"
    while name in taken:
        name += "Net"
    return name


class _Subst(cst.CSTTransformer):
    """Replace names: helper parameters by the code at the call site, tensor operands by variables
    (or by the variable brought to the layout the op needs)."""

    def __init__(self, names: dict[str, str], nodes: dict[int, str | cst.BaseExpression]) -> None:
        super().__init__()
        self.names = names
        self.nodes = nodes

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
        if isinstance(original_node, cst.Arg) and isinstance(updated_node, cst.Arg):
            return updated_node.with_changes(keyword=original_node.keyword)
        if isinstance(original_node, cst.Attribute) and isinstance(updated_node, cst.Attribute):
            return updated_node.with_changes(attr=original_node.attr)
        var = self.nodes.get(id(original_node))
        if var is not None:
            return cst.Name(var) if isinstance(var, str) else var
        if isinstance(original_node, cst.Name) and original_node.value in self.names:
            return parse_code(self.names[original_node.value])
        return updated_node


def _substitute(
    node: cst.BaseExpression, names: dict[str, str], nodes: dict[int, str | cst.BaseExpression]
) -> cst.BaseExpression:
    if id(node) in nodes:
        var = nodes[id(node)]
        return cst.Name(var) if isinstance(var, str) else var
    out = node.visit(_Subst(names, nodes))
    assert isinstance(out, cst.BaseExpression)
    return out


class Namer:
    """Variable names for traced values: the name the source gave them (the builder's name over a
    helper's), made unique only when an earlier value under that name is still needed."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.var: dict[int, str] = {}
        self.holder: dict[str, int] = {}
        self.last_use: dict[int, int] = {}
        for i, step in enumerate(trace.steps):
            for v in step.inputs:
                self.last_use[v] = i
        for o in trace.outputs:
            self.last_use[id(o)] = len(trace.steps)

    def preferred(self, vid: int) -> str:
        bindings = self.trace.names.get(vid, [])
        if not bindings:
            return "x"
        top = min(d for d, _ in bindings)
        return [n for d, n in bindings if d == top][-1]

    def assign(self, vid: int, at: int) -> str:
        base = self.preferred(vid)
        name = base
        n = 1
        while (
            name in self.holder and self.holder[name] != vid and self.last_use.get(self.holder[name], -1) > at
        ):
            name = f"{base}_{n}"
            n += 1
        self.holder[name] = vid
        self.var[vid] = name
        return name


def generate(tx: KerasToTorch, fn: cst.FunctionDef, info: FuncInfo, taken: set[str]) -> Generated:
    """The class and builder for one functional builder; raises TraceError when it cannot."""
    trace = Tracer(tx.analysis, info).trace()
    cls = class_name(info.name, trace.model_name, taken)
    taken.add(cls)
    namer = Namer(trace)
    params = [p for p in _param_list(fn)]
    in_names: list[str] = []
    for _, t in trace.inputs:
        name = namer.assign(id(t), -1)
        in_names.append(name)
    init: list[cst.BaseStatement] = []
    body: list[cst.BaseStatement] = []
    seen_stmt: set[int] = set()
    for i, step in enumerate(trace.steps):
        expr, rnn = _step_expr(tx, step, namer, cls, init)
        out = trace.values.get(step.out)
        target = namer.assign(step.out, i)
        after: list[str] = []
        if isinstance(out, TupleVal):
            names = [namer.assign(id(item), i) if item is not None else "_" for item in out.items]
            target_node: cst.BaseAssignTargetExpression = cst.Tuple(
                [cst.Element(cst.Name(n)) for n in names], lpar=[], rpar=[]
            )
            plan = state_unpacking(names, rnn, tx.emit) if rnn is not None else None
            if rnn is not None and plan is None:
                raise TraceError(step.node, "this return_state form is not supported yet")
            if plan is not None:
                target_node, after = plan
        else:
            target_node = cst.Name(target)
        leading: list[cst.EmptyLine] = []
        stmt = step.stmt
        if stmt is not None and id(stmt) not in seen_stmt and isinstance(stmt, cst.SimpleStatementLine):
            seen_stmt.add(id(stmt))
            leading = list(stmt.leading_lines)
        if step.first_of_helper:
            leading.append(cst.EmptyLine(comment=cst.Comment(f"# {step.helper}")))
        trailing = cst.TrailingWhitespace()
        if stmt is not None and isinstance(stmt, cst.SimpleStatementLine) and _last_step_of(trace, i, stmt):
            trailing = stmt.trailing_whitespace
        body.append(
            cst.SimpleStatementLine(
                [cst.Assign([cst.AssignTarget(target_node)], expr)],
                leading_lines=leading,
                trailing_whitespace=trailing,
            )
        )
        body.extend(cst.parse_statement(line + "\n") for line in after)
    if body and isinstance(body[0], cst.SimpleStatementLine):
        first_lines = list(body[0].leading_lines)
        while first_lines and first_lines[0].comment is None:
            first_lines.pop(0)
        body[0] = body[0].with_changes(leading_lines=first_lines)
    outs = [namer.var.get(id(o), "x") for o in trace.outputs]
    ret: cst.BaseExpression = (
        cst.Name(outs[0]) if len(outs) == 1 else cst.Tuple([cst.Element(cst.Name(n)) for n in outs])
    )
    body.append(cst.SimpleStatementLine([cst.Return(ret)]))
    record_outputs(tx, cls, trace)
    docstring = _docstring(fn)
    class_body: list[cst.BaseStatement] = []
    if docstring is not None:
        class_body.append(docstring)
    init_params = cst.Parameters(params=[cst.Param(cst.Name("self")), *params])
    super_call = cst.SimpleStatementLine([cst.Expr(parse_code("super().__init__()"))])
    class_body.append(
        cst.FunctionDef(
            cst.Name("__init__"),
            init_params,
            cst.IndentedBlock([super_call, *tracer_locals(trace), *init]),
            leading_lines=[cst.EmptyLine(indent=False)] if docstring is not None else [],
        )
    )
    fwd_params = cst.Parameters(
        params=[cst.Param(cst.Name("self")), *(cst.Param(cst.Name(n)) for n in in_names)]
    )
    class_body.append(
        cst.FunctionDef(
            cst.Name("forward"),
            fwd_params,
            cst.IndentedBlock(body),
            leading_lines=[cst.EmptyLine(indent=False)],
        )
    )
    class_def = cst.ClassDef(
        cst.Name(cls),
        cst.IndentedBlock(class_body),
        bases=[cst.Arg(tx.name("torch.nn.Module"))],
        leading_lines=fn.leading_lines,
    )
    call_args = [kwarg(p.name.value, cst.Name(p.name.value)) for p in params]
    builder_body: list[cst.BaseStatement] = []
    if docstring is not None:
        builder_body.append(docstring)
    builder_body.append(cst.SimpleStatementLine([cst.Return(tx.emit_plain_call(cls, call_args))]))
    builder = fn.with_changes(
        body=fn.body.with_changes(body=builder_body),
        leading_lines=[cst.EmptyLine(), cst.EmptyLine()],
    )
    return Generated([class_def, builder], set(trace.helpers))


def _param_list(fn: cst.FunctionDef) -> list[cst.Param]:
    params = list(fn.params.params)
    out = []
    for i, p in enumerate(params):
        comma: cst.Comma | cst.MaybeSentinel = cst.MaybeSentinel.DEFAULT
        out.append(p.with_changes(comma=comma) if i == len(params) - 1 else p)
    return out


def _docstring(fn: cst.FunctionDef) -> cst.SimpleStatementLine | None:
    body = fn.body.body if isinstance(fn.body, cst.IndentedBlock) else []
    if body and isinstance(body[0], cst.SimpleStatementLine):
        first = body[0].body[0]
        if isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString | cst.ConcatenatedString):
            return body[0]
    return None


def _last_step_of(trace: Trace, i: int, stmt: cst.CSTNode) -> bool:
    return all(s.stmt is not stmt for s in trace.steps[i + 1 :])


def _operand_names(step: Step, namer: Namer) -> dict[int, str | cst.BaseExpression]:
    """Each operand's variable; converted to the layout the op needs (a reshape of a feature map
    reads it in Keras's channels-last order)."""
    out: dict[int, str | cst.BaseExpression] = {}
    for node, v in step.operands.items():
        if v not in namer.var:
            continue
        conv = step.converts.get(node)
        out[node] = namer.var[v] if conv is None else _converted(cst.Name(namer.var[v]), *conv)
    return out


def _converted(
    expr: cst.BaseExpression, have: tuple[int, ...] | None, want: tuple[int, ...] | None
) -> cst.BaseExpression:
    if have is None or want is None or have == want or len(have) != len(want):
        return expr
    perm = permute_between(have, want)
    if perm == (0, 2, 1):
        return cst.Call(
            cst.Attribute(expr, cst.Name("transpose")), [cst.Arg(int_node(1)), cst.Arg(int_node(2))]
        )
    return cst.Call(cst.Attribute(expr, cst.Name("permute")), [cst.Arg(int_node(p)) for p in perm])


def _step_expr(
    tx: KerasToTorch, step: Step, namer: Namer, cls: str, init: list[cst.BaseStatement]
) -> tuple[cst.BaseExpression, RnnInfo | None]:
    values = namer.trace.values
    if step.kind in ("layer", "merge"):
        layer = step.layer
        assert layer is not None
        operands = [values[v] for v in step.inputs]
        tensors = [t for t in operands if isinstance(t, TensorVal)]
        rank = len(step.in_shape) if step.in_shape is not None else None
        want = wants(layer.rule, rank)
        args = []
        for v, t in zip(step.inputs, tensors, strict=False):
            have = t.cell.perm
            args.append(_converted(cst.Name(namer.var.get(v, "x")), have, want))
        if step.kind == "merge":
            return _merge(tx, layer.rule.id, args, tensors, layer), None
        if layer.user_class is not None:
            return _user_layer(tx, step, layer, args, cls, init), None
        ctor = _substitute(layer.node, dict(step.subst), {})
        assert isinstance(ctor, cst.Call)
        first = tensors[0] if tensors else None
        tx.ann.layer_input[id(layer.node)] = step.in_shape
        tx.ann.layer_layout[id(layer.node)] = first.cell.perm if first is not None else None
        if first is not None and first.flattened is not None:
            tx.ann.after_flatten[id(layer.node)] = first.flattened
            if first.flatten_node is not None:
                tx.ann.after_flatten_from[id(layer.node)] = first.flatten_node
        else:
            tx.ann.after_flatten.pop(id(layer.node), None)
        before = len(tx.findings)
        out = tx.build_layer(layer.node, ctor)
        if out is None:
            raise TraceError(layer.node, "a layer in this builder cannot be migrated (see the markers)")
        markers = [
            cst.EmptyLine(comment=cst.Comment(f"{MARKER} {f.severity.value}: {f.api}: {f.message}"))
            for f in tx.findings[before:]
            if f.severity is not Severity.MIGRATED
        ]
        attr = cst.Attribute(cst.Name("self"), cst.Name(step.attr))
        init.append(
            cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(attr)], out.expr)], leading_lines=markers)
        )
        tx.record_layer(cls, step.attr, step.attr, out)
        call_arguments = [cst.Arg(a) for a in args]
        if out.rnn is not None and args:  # the input, then initial_state= tensors (recurrent.py)
            if isinstance(step.node, cst.Call) and has_mask(step.node):
                raise TraceError(step.node, f"mask=: {MASK_REASON}")
            call_arguments = call_args(tx.emit, args[0], args[1:] or None, out.rnn)
        call: cst.BaseExpression = cst.Call(
            cst.Attribute(cst.Name("self"), cst.Name(step.attr)), call_arguments
        )
        if out.attention is not None:  # every argument, operands named as traced, then torch's call
            call = _attention_call(tx, step, namer, out.attention)
        if out.activation is not None:
            res = values.get(step.out)
            dim = -1
            if (
                isinstance(res, TensorVal)
                and res.cell.perm is not None
                and res.rank is not None
                and res.rank > 2
            ):
                dim = Layout(res.cell.perm).axis(res.rank - 1)
            call = activation_call(tx.emit, out.activation, call, dim)
        if out.rnn is not None and not out.rnn.state:
            call = output(tx.emit, call, out.rnn)
        return call, out.rnn
    names = _operand_names(step, namer)
    node = _substitute(step.node, dict(step.subst), names)  # type: ignore[arg-type]
    if step.kind == "binary":
        return node, None
    # an op: rewrite it like one in call(), with the operands' layouts known
    for vid in step.operands.values():
        operand = values.get(vid)
        if isinstance(operand, TensorVal):
            tx.trace_layouts[namer.var.get(vid, "")] = operand
    assert isinstance(node, cst.Call) and isinstance(step.node, cst.Call)
    return tx.rewrite_op(step.node, node), None


def _attention_call(tx: KerasToTorch, step: Step, namer: Namer, info: object) -> cst.BaseExpression:
    """A MultiHeadAttention call: all its arguments, the traced operands by their variables, as the
    layer's call sites in a class are rewritten (transforms/keras_attention.py)."""
    from migrator.transforms.keras_attention import AttentionCall, attention_call

    assert isinstance(step.node, cst.Call) and isinstance(info, AttentionCall)
    names = _operand_names(step, namer)
    given = [a.with_changes(value=_substitute(a.value, dict(step.subst), names)) for a in step.node.args]
    found: list[str] = []

    class Keras(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            name = tx.analysis.resolve(node.func)
            if name is not None and name.startswith(("keras.", "tensorflow.")):
                found.append(name)

    for a in given:
        a.value.visit(Keras())
    if found:  # an operand the trace could not follow (``m[:, None, :]``): it would stay Keras code
        raise TraceError(
            step.node, f"an argument of the layer could not be traced ({found[0]}): assign it first"
        )
    call = cst.Call(cst.Attribute(cst.Name("self"), cst.Name(step.attr)), given)
    return attention_call(tx, step.node, call, info)


def _user_layer(
    tx: KerasToTorch,
    step: Step,
    layer: LayerVal,
    args: Sequence[cst.BaseExpression],
    cls: str,
    init: list[cst.BaseStatement],
) -> cst.BaseExpression:
    """An instance of a layer class defined in the file: built in __init__, called in forward
    (with the input channels first when the migrated class needs them)."""
    ctor = _substitute(layer.node, dict(step.subst), {})
    assert isinstance(ctor, cst.Call) and layer.user_class is not None
    if layer.user_class in tx.ann.needs_in and tx.in_alias(layer.user_class) is None:
        channels = step.in_shape[-1] if step.in_shape else None
        if channels is None:
            raise TraceError(layer.node, f"the input channels of {layer.user_class} could not be inferred")
        ctor = ctor.with_changes(args=commas([cst.Arg(dim_node(channels)), *ctor.args]))
    target = cst.Attribute(cst.Name("self"), cst.Name(step.attr))
    init.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(target)], ctor)]))
    tx.records.append(
        LayerRecord(cls, step.attr, step.attr, "<user class>", "identity", 0, {"class": layer.user_class})
    )
    return cst.Call(target, [cst.Arg(a) for a in args])


def _merge(
    tx: KerasToTorch,
    rule_id: str,
    args: Sequence[cst.BaseExpression],
    tensors: Sequence[TensorVal],
    layer: object,
) -> cst.BaseExpression:
    kind = rule_id.rsplit(".", 1)[-1]
    rule = layer.rule  # type: ignore[attr-defined]
    tx._find(layer.node, Severity.MIGRATED, rule.match[0], rule.summary or "becomes an operator", rule_id)  # type: ignore[attr-defined]
    if kind in ("Add", "Multiply", "Subtract"):
        op: cst.BaseBinaryOp = {"Add": cst.Add(), "Multiply": cst.Multiply(), "Subtract": cst.Subtract()}[
            kind
        ]
        expr = args[0]
        for a in args[1:]:
            expr = cst.BinaryOperation(expr, op, a)
        return expr
    if kind == "Concatenate":
        first = tensors[0]
        axis = literal(layer.args.bound["axis"]) if "axis" in layer.args.bound else -1  # type: ignore[attr-defined]
        rank = first.rank or 2
        dim = axis if isinstance(axis, int) else -1
        if first.cell.perm is not None and isinstance(axis, int):
            d = Layout(first.cell.perm).axis(axis % rank)
            dim = -1 if d == rank - 1 else d
        return tx.call(
            "torch.cat", [cst.Arg(cst.List([cst.Element(a) for a in args])), kwarg("dim", int_node(dim))]
        )
    raise TraceError(layer.node, f"no torch form for {kind}")  # type: ignore[attr-defined]


def tracer_locals(trace: Trace) -> list[cst.BaseStatement]:
    """Builder statements computing sizes the layers use (``width = int(16 * alpha)``)."""
    return list(trace.locals)


def record_outputs(tx: KerasToTorch, cls: str, trace: Trace) -> None:
    tx.functional_classes[cls] = trace


__all__ = ["Generated", "LayerRecord", "Severity", "TraceError", "class_name", "code_of", "generate"]
