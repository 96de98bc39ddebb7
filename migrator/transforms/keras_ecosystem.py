"""tf2torch hooks for the code around a model: devices, ``tf.distribute`` strategies, TensorBoard
summaries, ``tf.function``, mixed precision, export and ``tf.data`` sources.

What spans statements (a ``with`` block unwrapped, a strategy's name, the writer a summary goes
to, the chain of a pipeline) is found by ``engine.tf2torch.eco_scan`` and rewritten by
``engine.tf2torch.ecosystem``; these hooks write the expressions."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.site import CallSite, Note
from migrator.engine.tf2torch.eco_scan import StrategyKind
from migrator.engine.values import literal
from migrator.transforms.keras_common import layer_out
from migrator.types import Severity

if TYPE_CHECKING:
    from migrator.engine.tf2torch.shapes import Shape
    from migrator.engine.tf2torch.transformer import KerasToTorch, LayerOut

# A statement whose call a hook answered with this node is removed (``leave_Expr``); used as a
# value it reads ``None``, which is what the TensorFlow call returned.
REMOVED = cst.Name("None")

_DEVICE = re.compile(
    r"^/?(?:job:[^/]+/)?(?:replica:\d+/)?(?:task:\d+/)?(?:device:)?(cpu|gpu)(?::(\d+))?$", re.IGNORECASE
)
SOFT_PLACEMENT = (
    "TensorFlow places ops on the CPU when the GPU is missing (soft placement): so does the torch "
    "device, which is CUDA only when torch.cuda.is_available()"
)


def _out(tools: KerasToTorch, expr: cst.BaseExpression, site: CallSite, notes: list[Note]) -> LayerOut:
    for note in notes:
        tools.note(note)
    return layer_out(expr, site, None)


def device_code(tools: KerasToTorch, spec: cst.BaseExpression | None) -> tuple[str, list[Note]] | str:
    """A TensorFlow device name (``"/GPU:0"``, ``"/device:CPU:0"``) as a ``torch.device`` expression."""
    dev = tools.torch_name("torch.device")
    if spec is None:
        cuda = tools.torch_name("torch.cuda.is_available")
        return f'{dev}("cuda" if {cuda}() else "cpu")', [Note(Severity.MIGRATED, SOFT_PLACEMENT)]
    value = literal(spec)
    match = _DEVICE.match(value) if isinstance(value, str) else None
    if match is None:
        return (
            f"device {code_of(spec)}: only literal CPU and GPU names ('/CPU:0', '/GPU:1', "
            "'/device:GPU:0') have a torch device"
        )
    if match.group(1).lower() == "cpu":
        return f'{dev}("cpu")', []
    cuda = tools.torch_name("torch.cuda.is_available")
    index = match.group(2) or "0"
    note = Note(Severity.MIGRATED, SOFT_PLACEMENT)
    return f'{dev}("cuda:{index}" if {cuda}() else "cpu")', [note]


def device(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """``tf.device("/GPU:0")`` -> ``torch.device("cuda:0" if torch.cuda.is_available() else "cpu")``."""
    got = device_code(tools, site.bound.get("device_name"))
    if isinstance(got, str):
        return got
    return _out(tools, tools.code(got[0]), site, got[1])


def list_devices(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """``tf.config.list_physical_devices("GPU")`` -> one ``torch.device`` per CUDA device."""
    kind = literal(site.bound["device_type"]) if "device_type" in site.bound else None
    dev = tools.torch_name("torch.device")
    if kind == "GPU":
        count = tools.torch_name("torch.cuda.device_count")
        return _out(tools, tools.code(f'[{dev}("cuda", i) for i in range({count}())]'), site, [])
    if kind == "CPU":
        return _out(tools, tools.code(f'[{dev}("cpu")]'), site, [])
    return "only list_physical_devices('GPU') and ('CPU') have a torch form"


def removed(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut:
    """TensorFlow-only configuration with no effect to reproduce: the statement goes (the rule's
    summary says why)."""
    return _out(tools, REMOVED, site, [])


def strategy(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """A ``tf.distribute`` strategy assigned to a name becomes the ``device`` the model runs on;
    its ``scope()`` block is unwrapped and ``num_replicas_in_sync`` becomes a count
    (``engine.tf2torch.ecosystem``); a replicated model is trained through ``nn.DataParallel``."""
    original = tools.original_call
    if original is None or id(original) not in tools.train_plan.eco.strategy_calls:
        return (
            "assign the strategy to a name (strategy = ...) so that its scope and replica count can migrate"
        )
    kind = StrategyKind(site.rule.match[0])
    notes: list[Note] = []
    if kind is StrategyKind.MIRRORED and "devices" in site.bound:
        return "devices=: choose the GPUs with CUDA_VISIBLE_DEVICES; nn.DataParallel uses every visible one"
    if kind is StrategyKind.ONE_DEVICE:
        got = device_code(tools, site.bound.get("device"))
        if isinstance(got, str):
            return got
        return _out(tools, tools.code(got[0]), site, got[1])
    got = device_code(tools, None)
    assert not isinstance(got, str)
    if kind is StrategyKind.MULTI_WORKER:
        notes.append(
            Note(
                Severity.REVIEW,
                "runs as one worker on the local devices: several workers need torch.distributed "
                "(init_process_group from torchrun's environment, not TF_CONFIG), DistributedDataParallel "
                "and a DistributedSampler per worker, which fit's migration does not write",
            )
        )
    if "cross_device_ops" in site.bound:
        notes.append(
            Note(Severity.MIGRATED, "cross_device_ops dropped: nn.DataParallel reduces on the first GPU")
        )
    return _out(tools, tools.code(got[0]), site, got[1] + notes)


_SUMMARY_METHODS = {
    "tensorflow.summary.scalar": "add_scalar",
    "tensorflow.summary.histogram": "add_histogram",
    "tensorflow.summary.text": "add_text",
    "tensorflow.summary.image": "add_images",
}


def summary(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """``tf.summary.scalar(name, v, step=s)`` inside ``with writer.as_default():`` ->
    ``writer.add_scalar(name, v, s)``."""
    original = tools.original_call
    hit = tools.train_plan.eco.summaries.get(id(original)) if original is not None else None
    if hit is None:
        return (
            "writes to the default writer: call it inside `with writer.as_default():` of a writer "
            "this file makes with tf.summary.create_file_writer"
        )
    writer, default_step = hit
    step = site.bound.get("step", default_step)
    if step is None:
        return "needs step= (or writer.as_default(step=...)): torch's add_* take the step explicitly"
    method = _SUMMARY_METHODS[site.rule.match[0]]
    notes: list[Note] = []
    data = code_of(site.bound["data"])
    extra = ""
    if method == "add_images":
        count = site.bound.get("max_outputs")
        data = f"{data}[:{code_of(count) if count is not None else 3}]"  # TF logs the first 3 only
        extra = ', dataformats="NHWC"'
    if "description" in site.bound:
        notes.append(Note(Severity.MIGRATED, "description dropped: SummaryWriter has no description field"))
    if "buckets" in site.bound:
        notes.append(Note(Severity.REVIEW, "buckets dropped: torch's histogram picks its own bins"))
    text = f"{writer}.{method}({code_of(site.bound['name'])}, {data}, {code_of(step)}{extra})"
    return _out(tools, tools.code(text), site, notes)


def function(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut:
    """``tf.function(f)`` -> ``f``: eager torch computes the same values (see the rule's notes);
    a decorator ``@tf.function(...)`` is removed where the function is defined."""
    notes = []
    for key in (
        "jit_compile",
        "input_signature",
        "reduce_retracing",
        "autograph",
        "experimental_relax_shapes",
    ):
        if key in site.bound:
            notes.append(Note(Severity.MIGRATED, f"{key}= dropped (graph tracing/XLA only)"))
    fn = site.bound.get("func")
    return _out(tools, fn if fn is not None else site.call, site, notes)


def global_policy(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """``set_global_policy("mixed_bfloat16")``: the migrated fit/evaluate/predict that follow run
    the forward pass and the loss under ``torch.autocast`` (and a ``GradScaler`` for float16)."""
    value = literal(site.bound["policy"]) if "policy" in site.bound else None
    if value == "float32":
        return _out(tools, REMOVED, site, [Note(Severity.MIGRATED, "float32 is torch's default")])
    if value not in ("mixed_float16", "mixed_bfloat16"):
        return "only the literal policies 'mixed_float16', 'mixed_bfloat16' and 'float32' migrate"
    dtype = value.removeprefix("mixed_")
    note = Note(
        Severity.REVIEW,
        f"a global policy (every layer built afterwards computes in {dtype}, its variables stay "
        "float32) becomes torch.autocast around the forward pass and loss of the migrated "
        "fit/evaluate/predict only: other calls of the model run in float32, and autocast picks "
        "per op which ones run in the low precision",
    )
    return _out(tools, REMOVED, site, [note])


def loss_scale(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """``LossScaleOptimizer(opt)`` -> ``opt``: the migrated fit scales the loss with
    ``torch.amp.GradScaler`` (Keras's initial scale and growth interval)."""
    inner = site.bound.get("inner_optimizer")
    if inner is None:
        return "LossScaleOptimizer needs its inner optimizer"
    return _out(
        tools, inner, site, [Note(Severity.MIGRATED, "the loss scaling moves to a GradScaler in fit")]
    )


def tensorboard(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """``keras.callbacks.TensorBoard(log_dir)`` -> ``SummaryWriter(log_dir)``: the migrated fit
    writes the epoch's losses to it (``train/`` and ``validation/`` runs, as Keras does)."""
    notes: list[Note] = []
    for key, default in (("histogram_freq", 0), ("embeddings_freq", 0), ("write_images", False)):
        value = literal(site.bound[key]) if key in site.bound else default
        if value != default:
            notes.append(Note(Severity.REVIEW, f"{key}={value!r}: only the epoch losses are written"))
    freq = literal(site.bound["update_freq"]) if "update_freq" in site.bound else "epoch"
    if freq != "epoch":
        notes.append(Note(Severity.REVIEW, f"update_freq={freq!r}: the losses are written once per epoch"))
    notes.append(Note(Severity.MIGRATED, "the graph and the profile are not written"))
    log_dir = site.bound.get("log_dir", cst.SimpleString('"logs"'))
    return _out(tools, tools.call("torch.utils.tensorboard.SummaryWriter", [cst.Arg(log_dir)]), site, notes)


def saved_model(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """``tf.saved_model.save(model, path)`` -> ``torch.export.save(torch.export.export(model,
    (example,), dynamic_shapes=...), path.pt2)``."""
    model = site.bound.get("obj")
    path = site.bound.get("export_dir")
    if not isinstance(model, cst.Name) or path is None:
        return "export a model given by its name"
    if "signatures" in site.bound or "options" in site.bound:
        return "signatures= and options= have no torch.export counterpart"
    from migrator.engine.tf2torch.train_extras import EXPORT_NOTE, export_code

    code, why = export_code(tools.trainer, model.value, path)
    if code is None:
        return why
    return _out(tools, tools.code(code), site, [Note(Severity.MIGRATED, EXPORT_NOTE)])


def from_tensor_slices(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """The source of a ``tf.data`` pipeline: ``TensorDataset`` of the tensors (one tensor: itself);
    the chained methods become the ``DataLoader`` (``engine.tf2torch.data``)."""
    from migrator.engine.tf2torch import data

    original = tools.original_call
    pipeline = tools.train_plan.eco.bases.get(id(original)) if original is not None else None
    if pipeline is None:
        return "not a tf.data pipeline the migration follows"
    problem = data.problem(pipeline)
    if problem is not None:
        return problem
    return _out(tools, tools.code(data.source(tools, pipeline, site.call)), site, [])
