"""Statement-level rewrites for the code around a model (tf2torch), from ``eco_scan``'s plan:

- ``with tf.device(d):`` -> ``device = torch.device(...)`` and the block's body, unwrapped (the
  migrated fit/evaluate/predict move the model and the batches to ``device``);
- ``strategy = tf.distribute.X()`` -> ``device = torch.device(...)``; ``with strategy.scope():``
  unwrapped; ``strategy.num_replicas_in_sync`` -> the number of devices the model runs on;
- ``with writer.as_default():`` unwrapped (its ``tf.summary.*`` calls name the writer);
- ``@tf.function`` removed; ``len(tf.config.list_physical_devices("GPU"))`` ->
  ``torch.cuda.device_count()``, ``if tf.config.list_physical_devices("GPU"):`` ->
  ``if torch.cuda.is_available():``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.tf2torch.analysis import canonical
from migrator.engine.values import literal
from migrator.types import Severity

if TYPE_CHECKING:
    from migrator.engine.tf2torch.transformer import KerasToTorch

LIST_DEVICES = (
    "tensorflow.config.list_physical_devices",
    "tensorflow.config.experimental.list_physical_devices",
)
MARKER = "# fwmigrate:"


def _gpu_listing(t: KerasToTorch, node: cst.BaseExpression) -> bool:
    """``tf.config.list_physical_devices("GPU")`` (the original node)."""
    return (
        isinstance(node, cst.Call)
        and canonical(t.imports.resolve(node.func)) in LIST_DEVICES
        and len(node.args) == 1
        and literal(node.args[0].value) == "GPU"
    )


def device_count(t: KerasToTorch, original: cst.Call) -> cst.BaseExpression | None:
    """``len(tf.config.list_physical_devices("GPU"))`` -> ``torch.cuda.device_count()``."""
    func = original.func
    if (
        isinstance(func, cst.Name)
        and func.value == "len"
        and len(original.args) == 1
        and _gpu_listing(t, original.args[0].value)
    ):
        return t.code(f"{t.torch_name('torch.cuda.device_count')}()")
    return None


def gpu_test(t: KerasToTorch, original: cst.If, updated: cst.If) -> cst.If:
    """``if tf.config.list_physical_devices("GPU"):`` -> ``if torch.cuda.is_available():``."""
    if _gpu_listing(t, original.test):
        return updated.with_changes(test=t.code(f"{t.torch_name('torch.cuda.is_available')}()"))
    return updated


def replicas(t: KerasToTorch, original: cst.Attribute) -> cst.BaseExpression | None:
    """``strategy.num_replicas_in_sync`` -> how many devices the migrated model runs on."""
    eco = t.train_plan.eco
    owner = original.value
    if not isinstance(owner, cst.Name) or owner.value not in t.eco_strategies:
        return None
    if original.attr.value == "num_replicas_in_sync":
        if eco.strategies[owner.value].replicated:
            return t.code(f"max({t.torch_name('torch.cuda.device_count')}(), 1)")
        return cst.Integer("1")
    if original.attr.value != "scope":
        t.report(
            original,
            Severity.UNSUPPORTED,
            f"{owner.value}.{original.attr.value}",
            "the strategy became the torch device: only scope() and num_replicas_in_sync migrate",
        )
    return None


def strategy_target(t: KerasToTorch, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
    """``strategy = tf.distribute.MirroredStrategy()`` -> ``device = torch.device(...)``."""
    hit = t.train_plan.eco.strategy_assigns.get(id(original))
    value = updated.value
    if hit is None or not isinstance(value, cst.Call) or code_of(value.func) == code_of(original.value.func):  # type: ignore[attr-defined]
        return updated
    t.eco_strategies.add(hit[0])
    return updated.with_changes(targets=[updated.targets[0].with_changes(target=cst.Name("device"))])


def with_block(t: KerasToTorch, original: cst.With, updated: cst.With, markers: list[str]) -> Any:
    """A device, strategy-scope or writer block: its body unwrapped (None: not one of them)."""
    eco = t.train_plan.eco
    first: list[cst.BaseStatement] = []
    if id(original) in eco.device_withs:
        item = updated.items[0].item
        if not isinstance(item, cst.Call) or code_of(item.func) == code_of(original.items[0].item.func):  # type: ignore[attr-defined]
            return None  # the device could not be migrated (its marker says why)
        first = [cst.parse_statement(f"device = {code_of(item)}\n")]
    elif id(original) in eco.scope_withs:
        if eco.scope_withs[id(original)] not in t.eco_strategies:
            return None
        t.report(
            original,
            Severity.MIGRATED,
            "strategy.scope()",
            "unwrapped: torch builds models and optimizers the same way everywhere",
        )
    elif id(original) in eco.writer_withs:
        t.report(
            original,
            Severity.MIGRATED,
            "writer.as_default()",
            "unwrapped: its tf.summary calls write to the writer by name",
        )
    else:
        return None
    body = updated.body
    stmts = list(body.body) if isinstance(body, cst.IndentedBlock) else []
    out = [*first, *stmts]
    if not out:
        out = [cst.SimpleStatementLine([cst.Pass()])]
    comments = [cst.EmptyLine(comment=cst.Comment(m)) for m in dict.fromkeys(markers)]
    head = out[0]
    assert isinstance(head, cst.SimpleStatementLine | cst.BaseCompoundStatement)
    out[0] = head.with_changes(leading_lines=[*updated.leading_lines, *comments, *head.leading_lines])
    return cst.FlattenSentinel(out)


def strip_tf_function(
    t: KerasToTorch, original: cst.FunctionDef, updated: cst.FunctionDef
) -> cst.FunctionDef:
    """``@tf.function`` / ``@tf.function(jit_compile=True)`` removed: the function runs eagerly."""
    if id(original) not in t.train_plan.eco.decorators:
        return updated
    kept = []
    for od, ud in zip(original.decorators, updated.decorators, strict=True):
        expr = od.decorator
        if (
            canonical(t.imports.resolve(expr.func if isinstance(expr, cst.Call) else expr))
            == "tensorflow.function"
        ):
            if not isinstance(expr, cst.Call):
                rule = t.rules.by_name.get("tensorflow.function")
                t._find(
                    original,
                    Severity.MIGRATED,
                    "tensorflow.function",
                    rule.summary if rule else "removed",
                    rule.id if rule else None,
                )
            continue
        kept.append(ud)
    return updated.with_changes(decorators=kept)
