"""Pushing a tensor layout through a module by its contract: what comes out, and what the input
must be converted to first. Pure: the transformer turns the result into code, findings and records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from migrator.engine.layout import Flattened, Layout, channels_last, identity
from migrator.engine.site import ModuleInfo
from migrator.rules.schema import Contract


@dataclass(frozen=True)
class ClassSummary:
    """A migrated module class as seen from outside: the layout its forward takes and returns."""

    name: str
    input_layout: Layout | None
    output_layout: Layout | None


@dataclass(frozen=True)
class Passage:
    out: Layout | None  # layout of the module's output
    convert_to: Layout | None = None  # the input must first be transposed to this
    reviews: tuple[str, ...] = ()  # things a person should check
    after_flatten: tuple[tuple[str, Flattened], ...] = ()  # (path of a Linear, the flatten feeding it)


def through(
    info: ModuleInfo,
    have: Layout | None,
    path: str,
    summaries: Mapping[str, ClassSummary],
    line: int,
) -> Passage:
    """The layout after ``info`` is called on a tensor held in ``have`` (None: unknown)."""
    reviews: list[str] = []
    if info.axis is not None and have is not None and have.rank:
        src_dim, chosen = info.axis
        if have.axis(src_dim) % have.rank != chosen % have.rank:
            reviews.append(
                f"self.{path} was built with axis={chosen}, but here source dim {src_dim} "
                f"is target axis {have.axis(src_dim)}"
            )
    p = _through(info, have, path, summaries, line)
    return Passage(p.out, p.convert_to, (*reviews, *p.reviews), p.after_flatten)


def _through(
    info: ModuleInfo, have: Layout | None, path: str, summaries: Mapping[str, ClassSummary], line: int
) -> Passage:
    c = info.contract
    if c is Contract.ELEMENTWISE:
        return Passage(have)
    if c is Contract.CHANNELS:
        rank = info.rank or (have.rank if have is not None else None)
        if rank is None:
            return Passage(None)
        want = channels_last(rank)
        if have is None or have == want or have.flattened is not None or have.rank != rank:
            return Passage(want)
        return Passage(want, convert_to=want)
    if c is Contract.LAST_DIM:
        if have is None:
            return Passage(None)
        if have.flattened is not None:
            return Passage(identity(2), after_flatten=((path, have.flattened),))
        if have.keeps_last_dim():
            return Passage(have)
        return Passage(identity(have.rank), convert_to=identity(have.rank))
    if c is Contract.FLATTEN:
        if have is None or have.is_identity:
            return Passage(identity(2))
        return Passage(Layout((0, 1), Flattened(have.perm, line)))
    if c is Contract.EMBEDDING:
        return Passage(identity((have.rank if have is not None else 2) + 1))
    if c is Contract.CONTAINER:
        return _container(info, have, path, summaries, line)
    if c is Contract.SEQUENCE:
        want = _sequence_layout(info)
        if have is None or have == want or have.rank != 3:
            return Passage(want)
        return Passage(want, convert_to=want)
    return Passage(have)


def _sequence_layout(info: ModuleInfo) -> Layout:
    """Keras recurrent layers take (N, T, F); torch's default batch_first=False is (T, N, F)."""
    return Layout((1, 0, 2)) if info.extra.get("time_major") else identity(3)


def _container(
    info: ModuleInfo, have: Layout | None, path: str, summaries: Mapping[str, ClassSummary], line: int
) -> Passage:
    if info.user_class is not None:
        summ = summaries.get(info.user_class)
        if summ is None:
            return Passage(have)
        want = summ.input_layout
        needs = want is not None and have is not None and have != want and have.rank == want.rank
        return Passage(summ.output_layout, convert_to=want if needs else None)
    if info.children:
        lay = have
        first: Layout | None = None
        reviews: list[str] = []
        flats: list[tuple[str, Flattened]] = []
        for i, child in enumerate(info.children):
            step = through(child, lay, f"{path}.{i}", summaries, line)
            lay = step.out
            reviews.extend(step.reviews)
            flats.extend(step.after_flatten)
            if step.convert_to is not None:
                if i == 0:
                    first = step.convert_to
                else:
                    reviews.append(
                        f"self.{path}.{i} needs a layout change inside a Sequential, "
                        "which the engine cannot insert"
                    )
        return Passage(lay, first, tuple(reviews), tuple(flats))
    if info.repeated is not None:
        return through(info.repeated, have, f"{path}.*", summaries, line)
    return Passage(have)


def wanted(info: ModuleInfo, summaries: Mapping[str, ClassSummary]) -> Layout | None:
    """The layout a module wants its input in, when its contract says (for binding forward's inputs)."""
    if info.contract is Contract.CHANNELS and info.rank is not None:
        return channels_last(info.rank)
    if info.contract is Contract.SEQUENCE:
        return _sequence_layout(info)
    if info.contract is Contract.CONTAINER:
        if info.user_class is not None and info.user_class in summaries:
            return summaries[info.user_class].input_layout
        if info.children:
            return wanted(info.children[0], summaries)
    return None
