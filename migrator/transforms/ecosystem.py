"""Hooks for the code around models (torch2tf): devices, data parallelism and ``torch.distributed``,
TensorBoard, compilation, determinism, mixed precision, export.

Statement-level changes (a strategy scope, removed set-up calls, an unwrapped autocast block, the
loss-scaled training step) are decided by ``engine.ecosystem_scan`` and written by
``engine.train_rewrite``; the hooks here migrate the calls themselves and say what became of them.
"""

from __future__ import annotations

import re

import libcst as cst

from migrator.engine.emitter import code_of, kwarg
from migrator.engine.site import CallSite, HookResult, Note, Tools
from migrator.engine.values import NOT_LITERAL, literal
from migrator.types import Severity

_COMMA = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _args(*args: cst.Arg) -> list[cst.Arg]:
    return [a.with_changes(comma=_COMMA) if i < len(args) - 1 else a for i, a in enumerate(args)]


def _string(text: str) -> cst.SimpleString:
    return cst.SimpleString(f'"{text}"')


def tf_device(spec: str, index: int | None = None) -> str | None:
    """torch's device string as TensorFlow's: ``"cuda:1"`` -> ``"/GPU:1"``, ``"cpu"`` -> ``"/CPU:0"``."""
    m = re.fullmatch(r"(cuda|cpu|mps)(?::(\d+))?", spec)
    if m is None:
        return None
    kind = "CPU" if m.group(1) == "cpu" else "GPU"
    number = index if index is not None else int(m.group(2) or 0)
    return f"/{kind}:{number}"


def _device_expr(expr: cst.BaseExpression, index: int | None) -> cst.BaseExpression | None:
    """A literal device string, or a conditional expression choosing between two."""
    value = literal(expr)
    if isinstance(value, str):
        got = tf_device(value, index)
        return _string(got) if got is not None else None
    if isinstance(expr, cst.IfExp):
        body, orelse = _device_expr(expr.body, index), _device_expr(expr.orelse, index)
        if body is not None and orelse is not None:
            return expr.with_changes(body=body, orelse=orelse)
    return None


def device(site: CallSite, tools: Tools) -> HookResult | str:
    """``torch.device("cuda")`` -> ``"/GPU:0"``: TensorFlow places operations by itself, so the
    device is only a name (for ``tf.device``, which ``with torch.device(...):`` becomes)."""
    spec = site.bound.get("type")
    if spec is None:
        return "torch.device needs a device type"
    index = literal(site.bound["index"]) if "index" in site.bound else None
    if index is not None and not isinstance(index, int):
        return "a device index that is not a literal"
    got = _device_expr(spec, index)
    notes: tuple[Note, ...] = ()
    if got is None:
        got = spec
        notes = (
            Note(
                Severity.REVIEW,
                "a device name that is not a literal: TensorFlow names devices '/GPU:0', '/CPU:0'",
            ),
        )
    if id(tools.original_call()) in tools.training_plan().handled:  # `with torch.device(...):`
        return HookResult(tools.call("tensorflow.device", [cst.Arg(got)]), notes=notes)
    return HookResult(
        got, notes=notes or (Note(Severity.MIGRATED, "a device name; TensorFlow places operations itself"),)
    )


def gpu_available(site: CallSite, tools: Tools) -> HookResult:
    """``torch.cuda.is_available()`` -> ``bool(tf.config.list_physical_devices("GPU"))``."""
    devices = tools.call("tensorflow.config.list_physical_devices", [cst.Arg(_string("GPU"))])
    return HookResult(cst.Call(cst.Name("bool"), [cst.Arg(devices)]))


def gpu_count(site: CallSite, tools: Tools) -> HookResult:
    """``torch.cuda.device_count()`` -> ``len(tf.config.list_physical_devices("GPU"))``."""
    devices = tools.call("tensorflow.config.list_physical_devices", [cst.Arg(_string("GPU"))])
    return HookResult(cst.Call(cst.Name("len"), [cst.Arg(devices)]))


def placement(site: CallSite, tools: Tools) -> HookResult | str:
    """``x.cuda()`` / ``x.cpu()`` / ``model.cuda(rank)``: the value itself (TensorFlow places it)."""
    x = site.bound["self"]
    return HookResult(
        x.with_changes(lpar=[], rpar=[]) if x.lpar else x,
        layout=site.layouts.get("self"),
        notes=(Note(Severity.MIGRATED, "a device move: TensorFlow places tensors and variables itself"),),
    )


def data_parallel(site: CallSite, tools: Tools) -> HookResult | str:
    """``nn.DataParallel(model)`` / ``DistributedDataParallel(model, ...)`` -> ``model``, built with its
    optimizer under ``with strategy.scope():`` (``engine.ecosystem_scan``) when ``model.fit`` trains it."""
    module = site.bound.get("module")
    if module is None:
        return "no module to wrap"
    group = site.bound.get("process_group")
    if group is not None and literal(group) is not None:
        return f"process_group={code_of(group)}: {site.rule.args['process_group'].reason}"
    mapped = tools.map_args(site, skip=("module",))
    if mapped.unsupported is not None:
        return mapped.unsupported
    strategy = site.rule.emit or "tensorflow.distribute.MirroredStrategy"
    short = strategy.rpartition(".")[2]
    why = tools.training_plan().parallel.get(id(tools.original_call()))
    notes = list(mapped.notes)
    if why:
        notes.append(Note(Severity.REVIEW, f"the model itself, with no {short}: {why}"))
    else:
        notes.append(
            Note(
                Severity.MIGRATED,
                f"the model itself, built with its optimizer under tf.distribute.{short}().scope()",
            )
        )
    return HookResult(module.with_changes(lpar=[], rpar=[]) if module.lpar else module, notes=tuple(notes))


def drop_statement(site: CallSite, tools: Tools) -> HookResult | str:
    """A set-up call with nothing to do in TensorFlow: its statement goes (``engine.ecosystem_scan``)."""
    return _dropped(site, tools, Severity.MIGRATED)


def drop_statement_review(site: CallSite, tools: Tools) -> HookResult | str:
    """As ``drop_statement``, with a review finding: the set-up lives elsewhere in TensorFlow."""
    return _dropped(site, tools, Severity.REVIEW)


def _dropped(site: CallSite, tools: Tools, severity: Severity) -> HookResult | str:
    if id(tools.original_call()) not in tools.training_plan().handled:
        return "only as a statement of its own (it is removed)"
    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    why = site.rule.notes[0] if site.rule.notes else site.rule.summary
    return HookResult(site.call, notes=(*mapped.notes, Note(severity, f"removed: {why}")))


def rewritten(site: CallSite, tools: Tools) -> HookResult | str:
    """A call the training-step rewrite replaces (``scaler.scale(loss).backward()``, ``scaler.step``)."""
    if id(tools.original_call()) not in tools.training_plan().handled:
        return site.rule.notes[0] if site.rule.notes else "only inside a training loop fwmigrate recognises"
    return HookResult(site.call, notes=(Note(Severity.MIGRATED, "rewritten with the training step"),))


def same_call(site: CallSite, tools: Tools) -> HookResult:
    """``writer.flush()``: the same method exists on the target object."""
    return HookResult(site.call, notes=(Note(Severity.MIGRATED, "the same method of tf.summary's writer"),))


# ---------------------------------------------------------------------------------- TensorBoard
def summary_writer(site: CallSite, tools: Tools) -> HookResult | str:
    """``SummaryWriter(log_dir, flush_secs=s)`` ->
    ``tf.summary.create_file_writer(log_dir, flush_millis=s * 1000)``."""
    if "log_dir" not in site.bound or literal(site.bound["log_dir"]) is None:
        return "no log_dir: torch makes runs/<date>_<host>; give tf.summary.create_file_writer a directory"
    mapped = tools.map_args(site, skip=("flush_secs",))
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    secs = site.bound.get("flush_secs")
    if secs is not None:
        v = literal(secs)
        millis: cst.BaseExpression = (
            cst.Integer(str(int(v * 1000)))
            if isinstance(v, int | float) and not isinstance(v, bool)
            else tools.code(f"int({code_of(secs)} * 1000)")
        )
        args.append(kwarg("flush_millis", millis))
    else:  # torch flushes every 120 s, TensorFlow every 5 s by default
        args.append(kwarg("flush_millis", cst.Integer("120000")))
    assert site.rule.emit is not None
    return HookResult(tools.call(site.rule.emit, _args(*args)), notes=mapped.notes)


_IMAGE_FORMATS = {  # torch dataformats -> (permutation to N?HWC, leading axes to add)
    "CHW": "ops.transpose({x}, (1, 2, 0))[None]",
    "HWC": "{x}[None]",
    "HW": "{x}[None, :, :, None]",
    "NCHW": "ops.transpose({x}, (0, 2, 3, 1))",
    "NHWC": "{x}",
}


def summary(site: CallSite, tools: Tools) -> HookResult | str:
    """``writer.add_scalar(tag, v, step)`` -> ``tf.summary.scalar(tag, v, step=step)`` in a
    ``with writer.as_default():`` around the statement (the engine adds it)."""
    func = site.call.func
    if not isinstance(func, cst.Attribute):
        return "a writer method called on something other than a name"
    if site.bound.get("global_step") is None or literal(site.bound["global_step"]) is None:
        return "no global_step: tf.summary needs the step of every value"
    image = "dataformats" in site.rule.params
    mapped = tools.map_args(site, skip=("dataformats",) if image else ())
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    if image:
        fmt = literal(site.bound["dataformats"]) if "dataformats" in site.bound else "CHW"
        if not isinstance(fmt, str) or fmt not in _IMAGE_FORMATS:
            return f"dataformats={code_of(site.bound['dataformats'])}: only {', '.join(_IMAGE_FORMATS)}"
        data = args[1].value
        text = _IMAGE_FORMATS[fmt].replace("ops.", "keras.ops.").format(x=code_of(data))
        args[1] = args[1].with_changes(value=tools.code(text) if fmt != "NHWC" else data)
    assert site.rule.emit is not None
    ctx = cst.Call(cst.Attribute(func.value, cst.Name("as_default")))
    return HookResult(tools.call(site.rule.emit, _args(*args)), notes=mapped.notes, context=ctx)


# ---------------------------------------------------------------------------------- compilation
def _is_function(expr: cst.BaseExpression, tools: Tools) -> bool:
    return isinstance(expr, cst.Lambda) or (
        isinstance(expr, cst.Name) and expr.value in tools.training_plan().functions
    )


def compile_fn(site: CallSite, tools: Tools) -> HookResult | str:
    """``torch.compile`` / ``torch.jit.script`` / ``torch.jit.trace``: a function becomes a
    ``tf.function`` (XLA, ``jit_compile=True``, where torch compiles it: ``torch.compile`` with the
    default inductor backend); a module stays itself (Keras already runs fit/evaluate/predict as a
    graph; ``model.compile(jit_compile=True)`` asks for XLA there)."""
    target = site.bound.get(site.rule.params[0])
    compiles = site.rule.match[0] == "torch.compile"
    backend = literal(site.bound["backend"]) if "backend" in site.bound else "inductor"
    disabled = "disable" in site.bound and literal(site.bound["disable"]) is True
    notes: list[Note] = []
    if compiles and backend not in ("inductor", "eager", "aot_eager", NOT_LITERAL):
        notes.append(Note(Severity.REVIEW, f"backend={backend!r}: compiled with XLA instead"))
    if "mode" in site.bound:
        notes.append(Note(Severity.MIGRATED, "mode= dropped: XLA has no such presets"))
    xla = compiles and backend not in ("eager", "aot_eager") and not disabled
    if target is not None and not _is_function(target, tools):
        message = (
            "the model itself: Keras runs fit/evaluate/predict as a compiled graph (XLA with "
            "model.compile(jit_compile=True)); a hand-written step runs eagerly unless wrapped in tf.function"
        )
        return HookResult(target, notes=(*notes, Note(Severity.MIGRATED, message)))
    if disabled:
        return HookResult(
            target or cst.Name("None"), notes=(Note(Severity.MIGRATED, "disable=True: unchanged"),)
        )
    if compiles and backend == "eager" and target is not None:
        return HookResult(target, notes=(Note(Severity.MIGRATED, "backend='eager' does not compile"),))
    args = [cst.Arg(target)] if target is not None else []
    if xla:
        args.append(kwarg("jit_compile", cst.Name("True")))
    dynamic = literal(site.bound["dynamic"]) if "dynamic" in site.bound else None
    if dynamic is True:
        args.append(kwarg("reduce_retracing", cst.Name("True")))
    return HookResult(tools.call("tensorflow.function", _args(*args)), notes=tuple(notes))


def determinism(site: CallSite, tools: Tools) -> HookResult | str:
    """``torch.use_deterministic_algorithms(True)`` -> ``tf.config.experimental.enable_op_determinism()``."""
    mode = literal(site.bound["mode"]) if "mode" in site.bound else NOT_LITERAL
    if mode is False:
        return "mode=False: TensorFlow cannot switch op determinism off (off is its default): delete the call"
    if mode is not True:
        return "a mode that is not a literal: TensorFlow's switch only turns determinism on"
    notes: list[Note] = []
    if "warn_only" in site.bound and literal(site.bound["warn_only"]) is not False:
        notes.append(
            Note(Severity.REVIEW, "warn_only: TensorFlow raises on an op without a deterministic kernel")
        )
    assert site.rule.emit is not None
    return HookResult(tools.call(site.rule.emit, []), notes=tuple(notes))


# ---------------------------------------------------------------------------------- mixed precision
_POLICIES = {"float16": "mixed_float16", "half": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def autocast(site: CallSite, tools: Tools) -> HookResult | str:
    """``with torch.autocast(device_type, dtype):`` -> the block unwrapped and a global
    ``keras.mixed_precision.set_global_policy("mixed_float16")`` before the model is built."""
    if id(tools.original_call()) not in tools.training_plan().handled:
        return "only as the context manager of a `with` statement"
    device_type = literal(site.bound["device_type"]) if "device_type" in site.bound else None
    default = (
        "bfloat16" if site.rule.match[0] == "torch.cpu.amp.autocast" or device_type == "cpu" else "float16"
    )
    dtype = default
    if "dtype" in site.bound:
        dtype = code_of(site.bound["dtype"]).rpartition(".")[2]
    if dtype not in _POLICIES:
        return f"dtype {code_of(site.bound['dtype'])}: Keras's mixed policies are float16 and bfloat16"
    if "cache_enabled" in site.bound:
        pass  # a torch cache of casted weights: no effect on the numbers
    call = tools.call("keras.mixed_precision.set_global_policy", [cst.Arg(_string(_POLICIES[dtype]))])
    enabled = site.bound.get("enabled")
    on = literal(enabled) if enabled is not None else True
    if on is False:
        return HookResult(cst.Name("None"), notes=(Note(Severity.MIGRATED, "enabled=False: nothing to do"),))
    note = Note(Severity.MIGRATED, f"global policy {_POLICIES[dtype]!r}, set before the model is built")
    if on is True:
        return HookResult(call, notes=(note,))
    assert enabled is not None
    return HookResult(cst.IfExp(test=enabled, body=call, orelse=cst.Name("None")), notes=(note,))


def grad_scaler(site: CallSite, tools: Tools) -> HookResult | str:
    """``scaler = GradScaler(...)`` -> ``scaler = keras.optimizers.LossScaleOptimizer(optimizer,
    initial_scale=65536.0)``: the optimizer ``scaler.step`` steps, with torch's initial scale."""
    opt = tools.training_plan().scalers.get(id(tools.original_call()))
    if opt is None or opt == "?no step":
        return "a GradScaler whose scaler.step(optimizer) is not in a training loop fwmigrate recognises"
    if opt == "?after":
        return (
            "the GradScaler is built before its optimizer: build it after "
            "(it becomes a LossScaleOptimizer around it)"
        )
    mapped = tools.map_args(site, skip=("enabled",))
    if mapped.unsupported is not None:
        return mapped.unsupported
    have = {a.keyword.value for a in mapped.args if a.keyword is not None}
    args = [cst.Arg(cst.Name(opt)), *mapped.args]
    if "initial_scale" not in have:
        args.append(kwarg("initial_scale", cst.Float("65536.0")))
    assert site.rule.emit is not None
    wrapped = tools.call(site.rule.emit, _args(*args))
    enabled = site.bound.get("enabled")
    on = literal(enabled) if enabled is not None else True
    if on is False:
        return HookResult(
            cst.Name(opt),
            notes=(*mapped.notes, Note(Severity.MIGRATED, "enabled=False: the optimizer itself")),
        )
    if on is True:
        return HookResult(wrapped, notes=mapped.notes)
    assert enabled is not None
    return HookResult(cst.IfExp(test=enabled, body=wrapped, orelse=cst.Name(opt)), notes=mapped.notes)


# ---------------------------------------------------------------------------------- export
def onnx_export(site: CallSite, tools: Tools) -> HookResult | str:
    """``torch.onnx.export(model, args, path)`` -> ``model.export(path, format="onnx")``."""
    model, path = site.bound.get("model"), site.bound.get("f")
    if model is None or path is None:
        return "torch.onnx.export needs a model and a file path"
    mapped = tools.map_args(site, skip=("model", "args", "f"))
    if mapped.unsupported is not None:
        return mapped.unsupported
    call = cst.Call(
        cst.Attribute(model, cst.Name("export")),
        _args(cst.Arg(path), kwarg("format", _string("onnx")), *mapped.args),
    )
    why = (
        "Keras writes ONNX from TensorFlow through the tf2onnx package (install it); the example "
        "inputs are not needed: the traced signature is the built model's, with a free batch axis"
    )
    return HookResult(call, notes=(*mapped.notes, Note(Severity.REVIEW, why)))


# ---------------------------------------------------------------------------------- data
def distributed_sampler(site: CallSite, tools: Tools) -> HookResult | str:
    """``sampler = DistributedSampler(ds, ...)``: read by the DataLoader that takes it (its
    statement goes)."""
    if id(tools.original_call()) not in tools.training_plan().handled:
        return "a DistributedSampler that is not assigned to a name a DataLoader takes as sampler="
    return HookResult(
        site.call,
        notes=(Note(Severity.MIGRATED, "removed: the DataLoader that takes it shards the dataset"),),
    )


__all__ = [
    "autocast",
    "compile_fn",
    "data_parallel",
    "determinism",
    "device",
    "distributed_sampler",
    "drop_statement",
    "drop_statement_review",
    "gpu_available",
    "gpu_count",
    "grad_scaler",
    "onnx_export",
    "placement",
    "rewritten",
    "same_call",
    "summary",
    "summary_writer",
    "tf_device",
]
