"""Binding a call's arguments to a rule's parameters, and mapping them to the target call."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libcst as cst

from migrator.engine.emitter import code_of, int_node, kwarg, tuple_node
from migrator.engine.layout import Layout
from migrator.engine.site import CallSite, MappedArgs, Note
from migrator.engine.values import NOT_LITERAL, format_number, int_or_ints, literal, same_literal
from migrator.rules.schema import Rule, ValueTransform
from migrator.types import Severity


def bind_arguments(
    rule: Rule, call: cst.Call, receiver: cst.BaseExpression | None
) -> tuple[dict[str, cst.BaseExpression], str | None]:
    bound: dict[str, cst.BaseExpression] = {}
    params = [p for p in rule.params if not p.startswith("*")]
    variadic = any(p.startswith("*") for p in rule.params)
    if receiver is not None:
        bound["self"] = receiver
    i = 0
    for arg in call.args:
        if arg.star:
            if variadic:
                continue
            return bound, f"{arg.star}-arguments cannot be mapped statically"
        if arg.keyword is None:
            if variadic:
                continue
            if i >= len(params):
                return bound, "more positional arguments than the rule knows"
            bound[params[i]] = arg.value
            i += 1
        else:
            key = arg.keyword.value
            if params and key not in params:
                return bound, f"argument {key!r} has no mapping"
            bound[key] = arg.value
    return bound, None


def map_arguments(
    site: CallSite, code: Callable[[str], cst.BaseExpression], skip: Sequence[str] = ()
) -> MappedArgs:
    """Map a bound call's arguments through its rule: only/values/value/axis/skip_if/drop, then ``set``.

    ``code`` parses a code string from the rule file (never evaluated) for the emitter."""
    rule = site.rule
    positional: list[cst.Arg] = []
    keywords: list[cst.Arg] = []
    notes: list[Note] = []
    unsupported: str | None = None
    emitted: set[str] = set()
    operand = operand_layout(site)
    order = [p for p in rule.params if not p.startswith("*")] or list(site.bound)
    for name in order:
        if name in skip or name == "self":
            continue
        spec = rule.args.get(name)
        expr = site.bound.get(name)
        if expr is None:
            if spec is None or spec.default is None or not spec.axis:
                continue
            expr = cst.parse_expression(spec.default)
        if spec is None:
            keywords.append(kwarg(name, expr))
            emitted.add(name)
            continue
        value = literal(expr)
        src = expr
        if spec.only:
            allowed = [literal(o) for o in spec.only]
            if value is NOT_LITERAL:
                notes.append(
                    Note(
                        Severity.REVIEW,
                        f"{name}={code_of(src)} is not a literal; only {', '.join(spec.only)} is supported",
                    )
                )
            elif not any(same_literal(value, a) for a in allowed):
                unsupported = (
                    f"{name}={code_of(src)}: {spec.reason or 'no equivalent in the target framework'}"
                )
                continue
        if spec.review:
            notes.append(Note(Severity.REVIEW, f"{name}={code_of(src)}: {spec.review}"))
        if spec.drop:
            continue
        if spec.values:
            hit = None
            for key, dst in spec.values.items():
                if same_literal(value, literal(key)):
                    hit = dst
                    break
            if hit is not None:
                expr = code(hit)
            elif value is NOT_LITERAL:
                notes.append(
                    Note(
                        Severity.REVIEW,
                        f"{name}={code_of(src)} is not a literal: value table not applied",
                    )
                )
            else:
                unsupported = (
                    f"{name}={code_of(src)}: {spec.reason or 'no equivalent value in the target framework'}"
                )
                continue
        if spec.value is ValueTransform.ONE_MINUS:
            if isinstance(value, int | float) and not isinstance(value, bool):
                expr = cst.Float(format_number(1 - float(value)))
            else:
                expr = cst.BinaryOperation(
                    left=cst.Integer("1"),
                    operator=cst.Subtract(
                        whitespace_before=cst.SimpleWhitespace(" "),
                        whitespace_after=cst.SimpleWhitespace(" "),
                    ),
                    right=expr,
                )
        elif spec.value is ValueTransform.NOT:
            if isinstance(value, bool):
                expr = cst.Name(str(not value))
            else:
                expr = cst.UnaryOperation(operator=cst.Not(), expression=expr)
        if spec.axis:
            mapped = map_axis(expr, operand)
            if mapped is None:
                why = "an axis given by a non-literal value on a tensor whose layout changed"
                unsupported = f"{name}={code_of(src)}: {why}"
                continue
            expr = mapped
        if spec.skip_if is not None and same_literal(literal(expr), literal(spec.skip_if)):
            continue
        if spec.positional:
            positional.append(cst.Arg(expr))
        else:
            target = spec.to or name
            keywords.append(kwarg(target, expr))
            emitted.add(target)
    for key, text in rule.set.items():
        if key not in emitted:
            keywords.append(kwarg(key, code(text)))
    return MappedArgs(tuple(positional + keywords), tuple(notes), unsupported)


def operand_layout(site: CallSite) -> Layout | None:
    for v in site.layouts.values():
        if v is not None:
            return v
    return None


def map_axis(expr: cst.BaseExpression, layout: Layout | None) -> cst.BaseExpression | None:
    dims = int_or_ints(expr)
    if layout is None or layout.is_identity:
        return expr
    if dims is None:
        return None
    if isinstance(dims, int):
        return axis_node(layout.axis(dims), layout.rank)
    return tuple_node(tuple(sorted(layout.axis(d) for d in dims)))


def axis_node(axis: int, rank: int) -> cst.BaseExpression:
    return int_node(-1 if axis == rank - 1 and rank > 2 else axis)
