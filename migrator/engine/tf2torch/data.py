"""``tf.data`` pipelines -> ``torch.utils.data`` (tf2torch).

``Dataset.from_tensor_slices((x, y))`` is a ``TensorDataset``; the chained ``.shuffle``,
``.batch``, ``.prefetch``, ``.cache`` and ``.repeat()`` become one ``DataLoader``:

- ``.shuffle(n)`` before ``.batch`` -> ``shuffle=True`` (a new order every epoch, as
  ``reshuffle_each_iteration=True``). A buffer smaller than the dataset only shuffles locally: a
  buffer that is not ``len(x)`` / ``x.shape[0]`` of the sliced tensor is flagged for review;
- ``.batch(n, drop_remainder=d)`` -> ``batch_size=n, drop_last=d``; no ``.batch``:
  ``batch_size=None`` (single elements, as tf.data yields them);
- ``.prefetch(k)``, ``.cache()`` -> nothing (they change timing, not values);
- ``.repeat()`` after the batching -> the loader iterated forever
  (``itertools.chain.from_iterable(itertools.repeat(loader))``, reshuffled on every pass).

Everything else (``.map``, ``.filter``, shuffling whole batches, ``.repeat(n)``, ...) leaves the
pipeline unmigrated with the reason (``problem``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.site import Note
from migrator.engine.tf2torch.eco_scan import Pipeline, Step
from migrator.engine.tf2torch.train_scan import call_arg
from migrator.engine.values import literal
from migrator.types import Severity

if TYPE_CHECKING:
    from migrator.engine.tf2torch.transformer import KerasToTorch

_REASONS = {
    "map": (
        "a per-element function: apply it to the arrays first, or write a Dataset whose __getitem__ calls it"
    ),
    "filter": "drops elements by a predicate: filter the arrays first",
    "take": "a prefix of the dataset: slice the arrays first",
    "skip": "drops a prefix: slice the arrays first",
    "unbatch": "no DataLoader counterpart",
    "padded_batch": "pads to the longest element: a collate_fn that pads",
    "interleave": "no DataLoader counterpart",
    "with_options": "tf.data options have no DataLoader counterpart",
}
_DROPPED = {
    "prefetch": "prefetch dropped: the DataLoader loads batches as they are asked for (same values)",
    "cache": "cache dropped: the tensors are in memory already",
}


@dataclass(frozen=True)
class Loader:
    """What the chain asks of the DataLoader."""

    batch: cst.BaseExpression | None
    drop_last: cst.BaseExpression | None
    shuffle: Step | None
    repeat: bool


def problem(pipeline: Pipeline) -> str | None:
    """Why the pipeline cannot become a DataLoader (None when it can)."""
    comps = pipeline.components
    arg = pipeline.base.args[0].value if pipeline.base.args else None
    if not comps or isinstance(arg, cst.Dict) or len(pipeline.base.args) != 1:
        return "from_tensor_slices of a tensor or a tuple of tensors only (a dict has no TensorDataset form)"
    batched = shuffled = repeated = False
    for step in pipeline.steps:
        m = step.method
        if m in _DROPPED:
            if m == "cache" and step.call.args:
                return ".cache(filename): a file cache has no DataLoader counterpart"
            continue
        if repeated and m in ("batch", "shuffle"):
            return f".{m}() after .repeat() mixes elements of different epochs, which a DataLoader cannot"
        if m == "shuffle":
            if batched:
                return (
                    ".shuffle() after .batch() shuffles whole batches (their contents fixed): "
                    "no DataLoader option does that"
                )
            again = call_arg(step.call, "reshuffle_each_iteration", 2)
            if again is not None and literal(again) is not True:
                return (
                    "reshuffle_each_iteration=False keeps one order for every epoch: "
                    "shuffle the arrays once instead"
                )
            shuffled = True
        elif m == "batch":
            if batched:
                return "a second .batch() nests batches: no DataLoader option does that"
            if any(a.keyword and a.keyword.value not in _BATCH_ARGS for a in step.call.args):
                return (
                    ".batch() arguments other than batch_size, drop_remainder, num_parallel_calls, "
                    "deterministic"
                )
            batched = True
        elif m == "repeat":
            count = call_arg(step.call, "count", 0)
            if count is not None and literal(count) is not None:
                return ".repeat(count): iterate the DataLoader count times instead"
            repeated = True
        else:
            return f".{m}(): {_REASONS.get(m, 'no DataLoader counterpart')}"
    del shuffled
    return None


_BATCH_ARGS = ("batch_size", "drop_remainder", "num_parallel_calls", "deterministic", "name")


def loader(pipeline: Pipeline) -> Loader:
    batch = drop = None
    shuffle: Step | None = None
    for step in pipeline.steps:
        if step.method == "batch":
            batch = call_arg(step.call, "batch_size", 0)
            drop = call_arg(step.call, "drop_remainder", 1)
        elif step.method == "shuffle":
            shuffle = step
    return Loader(batch, drop, shuffle, pipeline.repeats)


def source(tools: KerasToTorch, pipeline: Pipeline, updated: cst.Call) -> str:
    """The ``from_tensor_slices`` call as a ``TensorDataset`` (one tensor: the tensor itself). The
    inputs go through ``as_input`` (and the model's layout); the targets take the dtype the loss of
    the model fed by this pipeline needs."""
    arg = updated.args[0].value
    comps = [e.value for e in arg.elements] if isinstance(arg, cst.Tuple | cst.List) else [arg]
    model = tools.train_plan.eco.users.get(id(pipeline.base))
    codes = [tools.trainer.input_code(model, code_of(comps[0]))]
    for c in comps[1:]:
        codes.append(tools.trainer.target_code_for(model, code_of(c)))
    if len(codes) == 1 and not isinstance(arg, cst.Tuple | cst.List):
        return codes[0]
    return f"{tools.torch_name('torch.utils.data.TensorDataset')}({', '.join(codes)})"


def compose(tools: KerasToTorch, pipeline: Pipeline, base: cst.BaseExpression) -> tuple[str, list[Note]]:
    """The DataLoader for the chain over the migrated source ``base``."""
    notes: list[Note] = []
    spec = loader(pipeline)
    for step in pipeline.steps:
        if step.method in _DROPPED:
            notes.append(Note(Severity.MIGRATED, _DROPPED[step.method]))
    if spec.batch is None and spec.shuffle is None:
        code = code_of(base)
    else:
        args = [code_of(base), f"batch_size={code_of(spec.batch) if spec.batch is not None else 'None'}"]
        if spec.shuffle is not None:
            args.append("shuffle=True")
            notes += _shuffle_notes(pipeline, spec.shuffle)
            seed = call_arg(spec.shuffle.call, "seed", 1)
            if seed is not None:
                gen = tools.torch_name("torch.Generator")
                args.append(f"generator={gen}().manual_seed({code_of(seed)})")
        if spec.drop_last is not None and literal(spec.drop_last) is not False:
            args.append(f"drop_last={code_of(spec.drop_last)}")
        code = f"{tools.torch_name('torch.utils.data.DataLoader')}({', '.join(args)})"
    if spec.repeat:
        chain = tools.torch_name("itertools.chain.from_iterable")
        again = tools.torch_name("itertools.repeat")
        code = f"{chain}({again}({code}))"
        notes.append(
            Note(Severity.MIGRATED, ".repeat(): the loader iterated forever, reshuffled on each pass")
        )
    return code, notes


def _shuffle_notes(pipeline: Pipeline, step: Step) -> list[Note]:
    buffer = call_arg(step.call, "buffer_size", 0)
    first = code_of(pipeline.components[0])
    full = {f"len({first})", f"{first}.shape[0]", f"len({first}.shape[0])"}
    notes = []
    if buffer is None or code_of(buffer) not in full:
        notes.append(
            Note(
                Severity.REVIEW,
                f"shuffle buffer {code_of(buffer) if buffer is not None else '?'}: DataLoader(shuffle=True) "
                "shuffles the whole dataset; tf.data shuffles fully only when the buffer holds every "
                "element (a smaller buffer keeps elements near their position)",
            )
        )
    if call_arg(step.call, "seed", 1) is not None:
        notes.append(
            Note(Severity.MIGRATED, "the seed makes the order repeatable; it is not TensorFlow's order")
        )
    return notes
