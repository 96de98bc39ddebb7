"""Cheaper constructors for libcst's node classes, with the same behaviour.

libcst's nodes are frozen dataclasses with ``__slots__``. The ``__init__`` that ``dataclasses``
writes for a frozen class sets each field with ``object.__setattr__(self, "name", value)``, which
looks the attribute up on the type for every field of every node; building the nodes is most of
what parsing costs on the Python side (the native parser calls each class once per node). The
constructor made here takes the same parameters with the same defaults (default factories
included), stores each field through its slot descriptor directly and then calls
``__post_init__`` (libcst's validation), as the dataclass one does. The objects built are the same.

It replaces a class's ``__init__`` only where that is provably the dataclass-generated one: a
dataclass whose own ``__init__`` ``dataclasses`` wrote, every field an ``__init__`` parameter with a
slot of its own, no keyword-only fields, and a signature equal to the original's. Any other class,
or a libcst that changes any of this, keeps its constructor. Installed once per process
(``install``, which ``engine/parse.py`` calls once the process has parsed about 300 lines); it
changes no behaviour, so other libcst users in the same process see libcst as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache
from types import FunctionType, MemberDescriptorType
from typing import Any

import libcst as cst

_DATACLASS_INIT = "__create_fn__.<locals>.__init__"


class _Factory:
    """Default of a parameter whose field has a default factory (as dataclasses' own sentinel)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def node_classes() -> list[type[cst.CSTNode]]:
    """Every subclass of ``CSTNode``, each once, in a fixed order."""
    seen: dict[type[cst.CSTNode], None] = {}
    stack = list(reversed(cst.CSTNode.__subclasses__()))
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen[cls] = None
            stack.extend(reversed(cls.__subclasses__()))
    return list(seen)


def fast_init(cls: type) -> FunctionType | None:
    """The equivalent constructor for ``cls``, or None when ``cls`` is not a case it is sure of."""
    own = cls.__dict__.get("__init__")
    if not isinstance(own, FunctionType):
        return None
    code = own.__code__
    if (
        code.co_qualname != _DATACLASS_INIT
        or code.co_kwonlyargcount
        or not dataclasses.is_dataclass(cls)
        or not callable(getattr(cls, "__post_init__", None))
    ):
        return None
    fields = dataclasses.fields(cls)
    names = tuple(f.name for f in fields)
    if code.co_varnames[: code.co_argcount] != ("self", *names):
        return None
    setters: list[Callable[[object, object], None]] = []
    factories: list[Callable[[], object]] = []
    defaults: list[object] = []
    for field in fields:
        slot = cls.__dict__.get(field.name) or next(
            (k.__dict__[field.name] for k in cls.__mro__ if field.name in k.__dict__), None
        )
        if not field.init or field.kw_only is True or type(slot) is not MemberDescriptorType:
            return None
        setters.append(slot.__set__)
        if field.default is not dataclasses.MISSING:
            defaults.append(field.default)
            factories.append(_no_factory)
        elif field.default_factory is not dataclasses.MISSING:
            defaults.append(_FACTORY)
            factories.append(field.default_factory)
        else:
            factories.append(_no_factory)
    if not _same_defaults(own.__defaults__ or (), defaults):
        return None
    init = _template(len(fields))(*setters, *factories)
    template = init.__code__
    init.__code__ = template.replace(
        co_varnames=("self", *names, *template.co_varnames[len(names) + 1 :]),
        co_qualname=f"{cls.__qualname__}.__init__",
    )
    init.__defaults__ = tuple(defaults) or None
    init.__annotations__ = dict(own.__annotations__)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _no_factory() -> object:
    raise AssertionError("unreachable: only a field with a default factory has _FACTORY as default")


def _same_defaults(original: tuple[object, ...], made: list[object]) -> bool:
    """The dataclass constructor's defaults are the fields' own objects, or its factory sentinel."""
    if len(original) != len(made):
        return False
    return all(
        (repr(a) == "<factory>") if b is _FACTORY else (a is b) for a, b in zip(original, made, strict=True)
    )


@cache
def _template(n: int) -> Callable[..., FunctionType]:
    """A maker of constructors for classes with ``n`` fields: given the fields' slot setters and
    default factories, the constructor (parameters ``p0``... until renamed to the fields').
    Compiled once per field count, so installing costs a few small compiles, not one per class."""
    setters = [f"set{i}" for i in range(n)]
    factories = [f"factory{i}" for i in range(n)]
    lines = [f"def make({', '.join(setters + factories)}):"]
    lines.append(f"    def __init__({', '.join(['self'] + [f'p{i}' for i in range(n)])}):")
    for i in range(n):
        lines.append(f"        if p{i} is _FACTORY:")
        lines.append(f"            p{i} = factory{i}()")
        lines.append(f"        set{i}(self, p{i})")
    lines.append("        self.__post_init__()")
    lines.append("    return __init__")
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    exec(compile("\n".join(lines) + "\n", f"<fwmigrate libcst constructor/{n}>", "exec"), namespace)
    maker: Callable[..., FunctionType] = namespace["make"]
    return maker


def install(classes: list[type[cst.CSTNode]]) -> None:
    """Give every one of ``classes`` that qualifies the cheaper constructor. A class that already
    has it no longer qualifies, so a second call changes nothing (``engine/parse.py`` calls this
    once per process, under its lock)."""
    for cls in classes:
        init = fast_init(cls)
        if init is not None:
            setattr(cls, "__init__", init)  # noqa: B010 - mypy rejects assigning a method
