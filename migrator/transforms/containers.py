"""Hooks for module containers: nn.Sequential and nn.ModuleList."""

from __future__ import annotations

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.site import CallSite, HookResult, ModuleInfo, Tools
from migrator.rules.schema import Contract


def _elements(items: list[cst.BaseElement]) -> list[cst.BaseElement]:
    out: list[cst.BaseElement] = []
    for i, e in enumerate(items):
        comma = (
            cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            if i < len(items) - 1
            else cst.MaybeSentinel.DEFAULT
        )
        out.append(e.with_changes(comma=comma))
    return out


def sequential(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.Sequential(a, b, *rest) -> keras.Sequential([a, b, *rest]); an empty one is the identity."""
    args = site.call.args
    if any(a.keyword is not None for a in args):
        return "keyword arguments to Sequential"
    if not args:
        info = ModuleInfo(Contract.ELEMENTWISE, rule_id=site.rule.id, transform="identity", line=site.line)
        return HookResult(tools.call("keras.layers.Identity", []), module=info)
    if len(args) == 1 and args[0].star == "*":
        inner = args[0].value
        children = tools.list_modules(inner)
        expr = tools.call("keras.Sequential", [cst.Arg(inner)])
    else:
        if (
            len(args) == 1
            and isinstance(args[0].value, cst.Call)
            and "OrderedDict" in code_of(args[0].value.func)
        ):
            return "Sequential(OrderedDict(...)): use a list of layers"
        items: list[cst.BaseElement] = []
        infos: list[ModuleInfo] = []
        for a in args:
            if a.star == "*":
                items.append(cst.StarredElement(a.value))
                infos = []  # positions unknown after a starred element
            else:
                items.append(cst.Element(a.value))
                got = tools.module_of(a.value)
                infos.append(got if got is not None else ModuleInfo(Contract.NONE))
        children = tuple(infos) if all(i.contract is not Contract.NONE for i in infos) else ()
        expr = tools.call("keras.Sequential", [cst.Arg(cst.List(_elements(items)))])
    info = ModuleInfo(Contract.CONTAINER, rule_id=site.rule.id, line=site.line, children=children or ())
    return HookResult(expr, module=info)


def module_list(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.ModuleList(xs) -> a plain list: Keras tracks layers held in list attributes."""
    args = site.call.args
    if not args:
        expr: cst.BaseExpression = cst.List([])
        return HookResult(expr, module=ModuleInfo(Contract.CONTAINER, rule_id=site.rule.id, line=site.line))
    if len(args) != 1 or args[0].keyword is not None or args[0].star:
        return "ModuleList takes one iterable"
    value = args[0].value
    repeated = None
    children: tuple[ModuleInfo, ...] = ()
    if isinstance(value, cst.ListComp):
        repeated = tools.module_of(value.elt)
    elif isinstance(value, cst.List | cst.Tuple):
        got = [tools.module_of(e.value) for e in value.elements]
        if all(g is not None for g in got):
            children = tuple(g for g in got if g is not None)
        if isinstance(value, cst.Tuple):
            value = cst.List(value.elements)
    else:
        value = cst.Call(func=cst.Name("list"), args=[cst.Arg(value)])
    info = ModuleInfo(
        Contract.CONTAINER,
        rule_id=site.rule.id,
        line=site.line,
        children=children,
        repeated=repeated,
    )
    return HookResult(value, module=info)
