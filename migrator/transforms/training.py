"""Hooks for training code (torch2tf): optimizers, losses, LR schedulers, data loaders, checkpoints.

Each rule's ``emit`` is a runtime helper with torch's exact semantics; its ``training.stock`` is
the stock Keras API, used instead whenever it is exact for the arguments at hand (see
``TrainingSpec``). Statement-level changes (the GradientTape loop) live in ``engine.train_rewrite``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

import libcst as cst

from migrator.engine.emitter import code_of, kwarg
from migrator.engine.site import CallSite, HookResult, MappedArgs, Note, Tools
from migrator.engine.train_plan import StepKind
from migrator.engine.values import NOT_LITERAL, literal, same_literal
from migrator.rules.schema import TrainingSpec
from migrator.types import Severity

# source reduction -> the stock target's reduction keyword (None: leave it out)
TORCH_TO_KERAS_REDUCTIONS: Mapping[str, str | None] = MappingProxyType(
    {"mean": None, "sum": '"sum"', "none": "None"}
)


_LR = ("learning_rate", "lr")


def is_default(site: CallSite, name: str, default: str) -> bool:
    expr = site.bound.get(name)
    if expr is None:
        return True
    value = literal(expr)
    return value is not NOT_LITERAL and same_literal(value, literal(default))


def reduction(site: CallSite, default: str = "mean") -> str | None:
    """The literal reduction ("None" for None), or None when it is not a literal."""
    expr = site.bound.get("reduction")
    if expr is None:
        return default
    value = literal(expr)
    if value is None:
        return "None"
    return value if isinstance(value, str) else None


def use_stock(site: CallSite, spec: TrainingSpec, scheduled: bool, default_reduction: str = "mean") -> bool:
    if spec.stock is None:
        return False
    if not all(is_default(site, k, v) for k, v in spec.stock_unless.items()):
        return False
    if not all(k in site.bound and is_default(site, k, v) for k, v in spec.stock_if.items()):
        return False
    if scheduled and not all(is_default(site, k, "0") for k in spec.stock_unless_scheduled):
        return False
    return not (spec.stock_reductions and reduction(site, default_reduction) not in spec.stock_reductions)


def _split(site: CallSite, spec: TrainingSpec) -> list[cst.Arg]:
    """``betas=(0.9, 0.99)`` -> ``beta_1=0.9, beta_2=0.99`` (subscripts when not a literal tuple)."""
    out: list[cst.Arg] = []
    for name, keys in spec.split.items():
        expr = site.bound.get(name)
        if expr is None:
            continue
        if isinstance(expr, cst.Tuple) and len(expr.elements) == len(keys):
            out += [kwarg(k, e.value) for k, e in zip(keys, expr.elements, strict=True)]
        else:
            out += [
                kwarg(k, cst.Subscript(expr, [cst.SubscriptElement(cst.Index(cst.Integer(str(i))))]))
                for i, k in enumerate(keys)
            ]
    return out


def _join(site: CallSite, spec: TrainingSpec, tools: Builder) -> list[cst.Arg]:
    """``beta_1=0.8`` -> ``betas=(0.8, 0.999)`` (a missing part takes the source default)."""
    out: list[cst.Arg] = []
    for key, names in spec.join.items():
        if not any(n in site.bound for n in names):
            continue
        parts = [site.bound.get(n) or tools.code(spec.defaults[n]) for n in names]
        elems = [
            cst.Element(p, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            if i < len(parts) - 1
            else cst.Element(p)
            for i, p in enumerate(parts)
        ]
        out.append(kwarg(key, cst.Tuple(elems)))
    return out


def _reviews(site: CallSite, spec: TrainingSpec) -> list[Note]:
    """``review_unless``: an argument the target cannot honour unless given with this value."""
    why = site.rule.notes[-1] if site.rule.notes else "the target cannot honour it"
    return [
        Note(Severity.REVIEW, f"{name}: {why}")
        for name, want in spec.review_unless.items()
        if name not in site.bound or not is_default(site, name, want)
    ]


def _helper_note(site: CallSite) -> Note:
    why = site.rule.notes[0] if site.rule.notes else "stock Keras cannot express torch's behaviour here"
    return Note(Severity.MIGRATED, f"runtime helper: {why}")


Built = tuple[cst.Call, list[Note]] | str  # the target constructor and its notes, or why not


def _constructor(site: CallSite, tools: Tools, scheduled: bool) -> Built:
    return construct(site, tools, scheduled, TORCH_TO_KERAS_REDUCTIONS, "mean")


class Builder(Protocol):
    """What ``construct`` needs from either direction's transformer."""

    def call(self, qualified: str, args: Sequence[cst.Arg]) -> cst.Call: ...

    def code(self, text: str) -> cst.BaseExpression: ...

    def map_args(self, site: CallSite, skip: Sequence[str] = ()) -> MappedArgs: ...


def construct(
    site: CallSite,
    tools: Builder,
    scheduled: bool,
    reductions: Mapping[str, str | None],
    default_reduction: str,
) -> Built:
    """The target constructor of a training rule: its stock target when that is exact for these
    arguments (``TrainingSpec``), else its runtime helper (``emit``). Both directions use it."""
    spec = site.rule.training
    assert spec is not None and site.rule.emit is not None
    joined = [n for names in spec.join.values() for n in names]
    mapped = tools.map_args(site, skip=(*spec.split, *joined))
    if mapped.unsupported is not None:
        return mapped.unsupported
    notes = [*mapped.notes, *_reviews(site, spec)]
    args = sorted(mapped.args, key=lambda a: a.keyword is None or a.keyword.value not in _LR)
    split = _split(site, spec) + _join(site, spec, tools)
    if split:  # after the learning rate, in signature order
        at = 1 if args and args[0].keyword is not None and args[0].keyword.value in _LR else 0
        args[at:at] = split
    if not use_stock(site, spec, scheduled, default_reduction):
        return tools.call(site.rule.emit, args), [*notes, _helper_note(site)]
    assert spec.stock is not None
    drop = set(spec.stock_unless) | {"reduction"}
    kept = [a for a in args if a.keyword is None or a.keyword.value not in drop]
    have = {a.keyword.value for a in kept if a.keyword is not None}
    kept += [kwarg(k, tools.code(v)) for k, v in spec.stock_set.items() if k not in have]
    red = reductions.get(reduction(site, default_reduction) or default_reduction)
    if red is not None:
        kept.append(kwarg("reduction", tools.code(red)))
    return tools.call(spec.stock, kept), notes


def optimizer(site: CallSite, tools: Tools) -> HookResult | str:
    plan = tools.training_plan()
    opt = plan.optimizer_of_call(tools.original_call())
    if "params" not in site.bound:
        return "the optimizer is given no parameters"
    params = site.bound["params"]
    if isinstance(params, cst.List | cst.Tuple | cst.Dict):
        return "parameter groups (per-group options): Keras has one optimizer per set of variables"
    scheduled = opt is not None and plan.scheduled(opt.name)
    return _result(_constructor(site, tools, scheduled))


def _result(built: Built) -> HookResult | str:
    if isinstance(built, str):
        return built
    return HookResult(built[0], notes=tuple(built[1]))


def loss(site: CallSite, tools: Tools) -> HookResult | str:
    return _result(_constructor(site, tools, scheduled=False))


def loss_fn(site: CallSite, tools: Tools) -> HookResult | str:
    """``F.cross_entropy(input, target, ...)`` -> ``<loss object>(target, input)``."""
    pred, target = site.bound.get("input"), site.bound.get("target")
    if pred is None or target is None:
        return "the loss is not given both input and target"
    inner = CallSite(
        site.rule,
        site.call,
        {k: v for k, v in site.bound.items() if k not in ("input", "target")},
        site.layouts,
        site.line,
    )
    built = _constructor(inner, tools, scheduled=False)
    if isinstance(built, str):
        return built
    return HookResult(_swapped(built[0], target, pred), notes=tuple(built[1]))


def _swapped(obj: cst.Call, target: cst.BaseExpression, pred: cst.BaseExpression) -> cst.Call:
    return cst.Call(
        obj,
        [cst.Arg(target, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), cst.Arg(pred)],
    )


def _lr_of(plan_call: cst.Call) -> str | None:
    for i, a in enumerate(plan_call.args):
        if (a.keyword is not None and a.keyword.value == "lr") or (a.keyword is None and i == 1):
            return code_of(a.value)
    return None


def schedule(site: CallSite, tools: Tools) -> HookResult | str:
    """A torch scheduler (stepped per epoch or per batch) as a Keras schedule counted in optimizer
    steps: ``{spe}`` in the template is ``steps_per_epoch`` for per-epoch stepping, 1 per batch."""
    spec = site.rule.training
    assert spec is not None
    plan = tools.training_plan()
    sched = plan.schedule_of_call(tools.original_call())
    if sched is None:
        return "a scheduler not assigned to a name, or given no optimizer name"
    opt = plan.optimizers.get(sched.optimizer)
    if opt is None:
        return f"the optimizer {sched.optimizer!r} is not built in this file"
    if spec.template is None:  # a helper object stepped like torch's (ReduceLROnPlateau)
        return _result(_constructor(site, tools, scheduled=False))
    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    if sched.step is StepKind.EPOCH and "{spe}" not in spec.template:
        return "stepped once per epoch, but this schedule is defined per optimizer step: step it per batch"
    values = {k: code_of(v) for k, v in site.bound.items()}
    values["lr"] = _lr_of(opt.call) or f"float({sched.optimizer}.learning_rate)"
    for k, v in spec.defaults.items():
        values.setdefault(k, v)
    given = set(site.bound)
    text = re.sub(  # optional segments: kept when every name in them was given
        r"\{\?(.*?)\?\}",
        lambda m: m.group(1) if set(re.findall(r"\{(\w+)\}", m.group(1))) <= given else "",
        spec.template,
    )
    for _ in range(3):  # defaults may name other placeholders
        text = re.sub(
            r"\{(\w+)\}",
            lambda m: values.get(m.group(1), m.group(0)),
            text,
        )
    if sched.step is StepKind.BATCH:
        text = re.sub(r"\s*\*\s*\{spe\}", "", text).replace("{spe}", "1")
    text = text.replace("{spe}", "steps_per_epoch")
    missing = re.findall(r"\{(\w+)\}", text)
    if missing:
        return f"{missing[0]} is required"
    stepped = {
        StepKind.BATCH: "stepped per batch",
        StepKind.EPOCH: "stepped per epoch",
        StepKind.PLATEAU: "stepped per epoch",
        StepKind.UNSEEN: "no scheduler.step() seen: taken as stepped per epoch",
    }[sched.step]
    notes = [
        Note(Severity.MIGRATED, f"{stepped}; counted in optimizer steps"),
        *_reviews(site, spec),
    ]
    return HookResult(tools.code(text), notes=tuple(notes))


def tensor_dataset(site: CallSite, tools: Tools) -> HookResult | str:
    tensors = [a.value for a in site.call.args if a.keyword is None and not a.star]
    if not tensors or len(tensors) != len(site.call.args):
        return "TensorDataset takes tensors positionally"
    elems = [
        cst.Element(t, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        if i < len(tensors) - 1
        else cst.Element(t)
        for i, t in enumerate(tensors)
    ]
    arg = cst.Tuple(elems) if len(tensors) > 1 else tensors[0]
    notes = []
    models = tools.channels_last_models()
    if models:
        notes.append(
            Note(
                Severity.REVIEW,
                f"{', '.join(models)} take channels-last input: transpose channels-first images "
                "(N, C, H, W) to (N, H, W, C) before they reach the model",
            )
        )
    return HookResult(
        tools.call("tensorflow.data.Dataset.from_tensor_slices", [cst.Arg(arg)]), notes=tuple(notes)
    )


def data_loader(site: CallSite, tools: Tools) -> HookResult | str:
    """``DataLoader(ds, batch_size, shuffle, drop_last)`` -> ``ds.shuffle(n).batch(b, drop_remainder)``."""
    ds = site.bound.get("dataset")
    if ds is None:
        return "no dataset"
    plan = tools.training_plan()
    sampler = site.bound.get("sampler")
    dist = plan.samplers.get(sampler.value) if isinstance(sampler, cst.Name) else None
    for name, allowed in (("sampler", "None"), ("batch_sampler", "None"), ("collate_fn", "None")):
        if not is_default(site, name, allowed) and not (name == "sampler" and dist is not None):
            return f"{name}= has no tf.data counterpart here"
    if not is_default(site, "worker_init_fn", "None"):
        return "worker_init_fn= runs code in each loader worker: tf.data has no workers to run it in"
    from_tensors = isinstance(ds, cst.Call) and code_of(ds.func).endswith("Dataset.from_tensor_slices")
    if not from_tensors and not (isinstance(ds, cst.Name) and ds.value in plan.tensor_datasets):
        return (
            "a DataLoader over a custom Dataset: tf.data needs the data as tensors "
            "(TensorDataset -> from_tensor_slices) or a generator (tf.data.Dataset.from_generator)"
        )
    notes = [
        Note(Severity.MIGRATED, f"{name}= dropped: {why}")
        for name, why in _LOADER_DROPPED.items()
        if name in site.bound and literal(site.bound[name]) is not None
    ]
    if "generator" in site.bound and literal(site.bound["generator"]) is not None:
        notes.append(
            Note(
                Severity.REVIEW,
                "generator=: the shuffle order comes from TensorFlow's seed, not this generator",
            )
        )
    batch = site.bound.get("batch_size", cst.Integer("1"))
    expr: cst.BaseExpression = ds
    shuffle = not is_default(site, "shuffle", "False")
    drop_last = site.bound.get("drop_last")
    if dist is not None:  # DistributedSampler(ds, num_replicas, rank, shuffle=True, seed, drop_last)
        expr, shuffle = _sharded(dist, expr, tools, notes)
    if shuffle:  # a buffer as large as the dataset: a uniform permutation, redrawn every epoch
        size = cst.Call(cst.Name("len"), [cst.Arg(_first_tensor(ds) or ds)])
        expr = cst.Call(cst.Attribute(expr, cst.Name("shuffle")), [cst.Arg(size)])
    args = [cst.Arg(batch)]
    if drop_last is not None and literal(drop_last) is not False:
        args = [
            cst.Arg(batch, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
            kwarg("drop_remainder", drop_last),
        ]
    expr = cst.Call(cst.Attribute(expr, cst.Name("batch")), args)
    if "batch_size" not in site.bound:
        notes.append(Note(Severity.MIGRATED, "DataLoader's default batch size is 1"))
    return HookResult(expr, notes=tuple(notes))


# DataLoader arguments that change how batches are produced, not which: dropped with a note
_LOADER_DROPPED: Mapping[str, str] = MappingProxyType(
    {
        "num_workers": "tf.data runs its own parallel pipeline (.prefetch(tf.data.AUTOTUNE) overlaps it)",
        "pin_memory": "TensorFlow manages host-to-device copies itself",
        "pin_memory_device": "TensorFlow manages host-to-device copies itself",
        "persistent_workers": "tf.data has no worker processes",
        "prefetch_factor": "tf.data has no worker processes (add .prefetch(...) to prefetch)",
        "timeout": "tf.data has no worker processes",
        "multiprocessing_context": "tf.data has no worker processes",
        "in_order": "tf.data keeps the order",
    }
)


def _sharded(
    sampler: cst.Call, ds: cst.BaseExpression, tools: Tools, notes: list[Note]
) -> tuple[cst.BaseExpression, bool]:
    """``DistributedSampler(ds, num_replicas, rank, shuffle, seed, drop_last)``: ``ds.shard(n, i)``
    and whether to shuffle (the sampler's ``shuffle``, True by default)."""
    names = ["dataset", "num_replicas", "rank", "shuffle", "seed", "drop_last"]
    bound = {
        a.keyword.value if a.keyword is not None else names[i]: a.value for i, a in enumerate(sampler.args)
    }
    replicas = bound.get("num_replicas") or tools.call("migrator.runtime.keras_support.world_size", [])
    rank = bound.get("rank") or tools.call("migrator.runtime.keras_support.process_rank", [])
    shuffle = "shuffle" not in bound or literal(bound["shuffle"]) is not False
    sharded = cst.Call(
        cst.Attribute(ds, cst.Name("shard")),
        [cst.Arg(replicas, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), cst.Arg(rank)],
    )
    notes.append(
        Note(
            Severity.REVIEW,
            "DistributedSampler -> dataset.shard(replicas, rank): every replica-th sample from rank on, as "
            "torch's sampler takes them; torch shuffles before sharding (a new split every epoch), the "
            "migrated pipeline shuffles within a fixed shard; torch pads (or with drop_last trims) the "
            "shards to equal length, shard() does not",
        )
    )
    return sharded, shuffle


def _first_tensor(ds: cst.BaseExpression) -> cst.BaseExpression | None:
    """``tf.data.Dataset.from_tensor_slices((x, y))``: ``x`` (the number of samples)."""
    if isinstance(ds, cst.Call) and ds.args:
        a = ds.args[0].value
        return a.elements[0].value if isinstance(a, cst.Tuple) and a.elements else a
    return None


def statement(site: CallSite, tools: Tools) -> HookResult | str:
    """Calls the training pass rewrites as whole statements (clipping, ``torch.load`` inside
    ``load_state_dict``, ``torch.no_grad``): left for it, or unsupported when it will not."""
    plan = tools.training_plan()
    original = tools.original_call()
    handled = id(original) in plan.load_calls or any(
        a.value is not None and any(arg.value is a.value for arg in original.args)
        for a in plan.statements.values()
    )
    if site.rule.match[0] in ("torch.no_grad", "torch.inference_mode"):
        handled = True
    if not handled:
        if site.rule.match[0] == "torch.load":
            return "only model.load_state_dict(torch.load(path)) maps to Keras (model.load_weights)"
        return "only inside a training loop fwmigrate recognises"
    return HookResult(site.call)


def save(site: CallSite, tools: Tools) -> HookResult | str:
    """``torch.save(model.state_dict(), path)`` -> ``model.save_weights(path')``."""
    obj, path = site.bound.get("obj"), site.bound.get("f")
    if obj is None or path is None:
        return "torch.save needs an object and a path"
    if not (
        isinstance(obj, cst.Call)
        and isinstance(obj.func, cst.Attribute)
        and obj.func.attr.value == "state_dict"
    ):
        return "only torch.save(model.state_dict(), path) maps to Keras (save_weights)"
    new_path, notes = weights_path(path)
    return HookResult(
        cst.Call(cst.Attribute(obj.func.value, cst.Name("save_weights")), [cst.Arg(new_path)]), notes=notes
    )


def weights_path(path: cst.BaseExpression) -> tuple[cst.BaseExpression, tuple[Note, ...]]:
    """Keras weight files must end in ``.weights.h5``: a literal path is renamed, others flagged."""
    value = literal(path)
    if isinstance(value, str):
        stem = re.sub(r"\.(pt|pth|bin|ckpt)$", "", value)
        new = stem if stem.endswith(".weights.h5") else f"{stem}.weights.h5"
        note = Note(Severity.MIGRATED, f"Keras weight files end in .weights.h5: {value!r} -> {new!r}")
        return cst.SimpleString(repr(new).replace("'", '"') if '"' not in new else repr(new)), (note,)
    return path, (Note(Severity.REVIEW, "Keras needs a weights path ending in .weights.h5"),)
