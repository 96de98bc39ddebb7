"""The cheaper constructors given to libcst's node classes build the same objects, with the same
defaults, errors and validation, as the constructors ``dataclasses`` wrote."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import libcst as cst
import pytest

from migrator.engine import node_init
from migrator.engine.parse import install_speedups, parse_module
from tests.conftest import ROOT, run_stock

SOURCES = sorted((ROOT / "fixtures").glob("*/*/input.py"))
CALLED: list[str] = []


@dataclass(frozen=True)
class _Base:
    def __post_init__(self) -> None:
        CALLED.append(type(self).__name__)


@dataclass(frozen=True, slots=True)
class Plain(_Base):
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Defaults(_Base):
    a: tuple[int, ...] = ()
    b: list[int] = field(default_factory=lambda: [1])


@dataclass(frozen=True, slots=True)
class KeywordOnly(_Base):
    a: int = field(kw_only=True)


@dataclass(frozen=True)
class NoSlots(_Base):
    a: int


class Handwritten:
    __slots__ = ("a",)

    def __init__(self, a: int) -> None:
        self.a = a


def _fields(obj: object) -> dict[str, object]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "args", "kwargs"),
    [
        (Plain, (1,), {}),
        (Plain, (1, "x", [2]), {}),
        (Plain, (), {"a": 1, "c": [3]}),
        (Plain, (1,), {"b": "y"}),
        (Defaults, (), {}),
        (Defaults, ((1, 2),), {"b": []}),
    ],
)
def test_builds_what_the_dataclass_constructor_builds(cls, args, kwargs):
    fast = node_init.fast_init(cls)
    assert fast is not None
    stock = cls(*args, **kwargs)
    CALLED.clear()
    made = object.__new__(cls)
    fast(made, *args, **kwargs)
    assert _fields(made) == _fields(stock)
    assert [cls.__name__] == CALLED  # __post_init__ (libcst's validation) still runs


def test_a_default_factory_runs_per_object():
    fast = node_init.fast_init(Plain)
    assert fast is not None
    one, two = object.__new__(Plain), object.__new__(Plain)
    fast(one, 1)
    fast(two, 1)
    assert one.c == [] and two.c == [] and one.c is not two.c


def test_same_signature_and_errors():
    fast = node_init.fast_init(Plain)
    assert fast is not None
    assert str(inspect.signature(fast)) == str(inspect.signature(Plain.__init__))
    for args, kwargs in [((), {}), ((1,), {"d": 2}), ((1, 2, 3, 4), {}), ((1,), {"a": 1})]:
        with pytest.raises(TypeError) as stock:
            Plain(*args, **kwargs)
        with pytest.raises(TypeError) as ours:
            fast(object.__new__(Plain), *args, **kwargs)
        assert str(ours.value) == str(stock.value)


@pytest.mark.parametrize("cls", [KeywordOnly, NoSlots, Handwritten])
def test_a_class_it_is_not_sure_of_keeps_its_constructor(cls):
    assert node_init.fast_init(cls) is None


def test_libcst_node_classes_get_it():
    install_speedups()
    exported = [
        obj
        for name in cst.__all__
        if isinstance(obj := getattr(cst, name), type) and issubclass(obj, cst.CSTNode)
        if "__init__" in obj.__dict__ and obj is not cst.CSTNode  # the abstract base
    ]
    fast = [c for c in exported if c.__init__.__code__.co_filename.startswith("<fwmigrate")]
    assert len(exported) > 150
    assert fast == exported  # a libcst upgrade that changes its classes shows here, not as a slowdown


def test_validation_still_runs_after_install():
    install_speedups()
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")
    with pytest.raises(cst.CSTValidationError):
        cst.Call(cst.Name("f"), args=[cst.Arg(cst.Name("x"), star="**"), cst.Arg(cst.Name("y"))])


def built() -> list[cst.CSTNode]:
    """Nodes built with their defaults (default factories among them)."""
    return [
        cst.Arg(cst.Name("x")),
        cst.Call(cst.Name("f"), [cst.Arg(cst.Integer("1"), keyword=cst.Name("k"))]),
        cst.Param(cst.Name("p"), default=cst.Float("0.5")),
        cst.ImportAlias(cst.Name("m"), asname=cst.AsName(cst.Name("n"))),
        cst.FunctionDef(
            cst.Name("g"), cst.Parameters(), cst.IndentedBlock([cst.SimpleStatementLine([cst.Pass()])])
        ),
        cst.BinaryOperation(cst.Name("a"), cst.Add(), cst.Name("b")),
    ]


_STOCK = """
import sys
from pathlib import Path
import libcst as cst
from tests.test_node_init import built
for path in sys.argv[1:]:
    print(repr(cst.parse_module(Path(path).read_text())))
print(repr(built()))
"""


def test_same_trees_and_nodes_as_stock_libcst():
    """Stock libcst runs in a fresh process (this one has the cheaper constructors installed)."""
    assert len(SOURCES) > 40
    stock = run_stock(_STOCK, SOURCES)
    install_speedups()
    ours = "".join(repr(parse_module(p.read_text())) + "\n" for p in SOURCES)
    ours += repr(built()) + "\n"
    assert ours == stock
