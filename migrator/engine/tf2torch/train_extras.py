"""What the code around a model adds to the migrated training loop (tf2torch): the device the
model and batches move to, ``nn.DataParallel`` for a model built under a MirroredStrategy scope,
``torch.autocast`` under a mixed-precision policy, a ``GradScaler`` for float16 loss scaling, a
TensorBoard writer, and the export of a model with ``torch.export``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.tf2torch.train_scan import call_arg
from migrator.engine.values import literal

if TYPE_CHECKING:
    from migrator.engine.tf2torch.training import TrainingRewriter

PARALLEL = "parallel_model"
EXPORT_NOTE = (
    "a torch.export program (.pt2) traced with an example batch of the inferred input shape, the "
    "batch size dynamic; load it with torch.export.load(path).module()"
)
KERAS_SCALE = "init_scale=32768.0, growth_interval=2000"  # LossScaleOptimizer's defaults


@dataclass(frozen=True)
class Extras:
    """How one training statement runs: on ``device`` or not, through which module, in which
    autocast dtype, with a GradScaler or not."""

    device: bool
    forward: str  # the module the batches go through (the model, or parallel_model)
    amp: str | None  # "float16" / "bfloat16"
    scaler: bool

    @property
    def device_type(self) -> str:
        return "device.type" if self.device else '"cpu"'

    def to(self, code: str) -> str:
        return f"{code}.to(device)" if self.device else code

    def batch_lines(self) -> list[str]:
        return ["xb, yb = xb.to(device), yb.to(device)"] if self.device else []

    def autocast(self, t: TrainingRewriter, lines: list[str]) -> list[str]:
        """``lines`` under ``torch.autocast`` when a mixed policy is in force."""
        if self.amp is None:
            return lines
        autocast, dtype = t.name("torch.autocast"), t.name("torch." + self.amp)
        head = f"with {autocast}(device_type={self.device_type}, dtype={dtype}):"
        return [head, *(f"    {ln}" for ln in lines)]


def scaler_line(t: TrainingRewriter, scaled: cst.Call | None, device: bool) -> str:
    """``torch.amp.GradScaler`` with Keras's loss-scale defaults (or the LossScaleOptimizer's)."""
    args = KERAS_SCALE
    if scaled is not None:
        init = call_arg(scaled, "initial_scale", 1)
        steps = call_arg(scaled, "dynamic_growth_steps", 2)
        args = (
            f"init_scale={code_of(init) if init is not None else '32768.0'}, "
            f"growth_interval={code_of(steps) if steps is not None else '2000'}"
        )
    where = "device.type" if device else '"cpu"'
    return f"scaler = {t.name('torch.amp.GradScaler')}({where}, {args})"


def step_lines(extras: Extras, clip: list[str], scheduled: bool) -> list[str]:
    """backward, clipping and the optimizer step (through the GradScaler when there is one)."""
    if not extras.scaler:
        return ["loss.backward()", *clip, "optimizer.step()", *(["scheduler.step()"] if scheduled else [])]
    unscale = ["scaler.unscale_(optimizer)"] if clip else []
    return [
        "scaler.scale(loss).backward()",
        *unscale,
        *clip,
        "scaler.step(optimizer)",
        "scaler.update()",
        *(["scheduler.step()"] if scheduled else []),
    ]


def tensorboard_lines(
    t: TrainingRewriter, code: str, history: str, validation: bool
) -> tuple[list[str], list[str], list[str]]:
    """Before the loop, at the end of each epoch, after the loop: the writers Keras's TensorBoard
    callback keeps (``log_dir/train`` and ``log_dir/validation``, tag ``epoch_loss``)."""
    call = cst.parse_expression(code)
    log_dir = call_arg(call, "log_dir", 0) if isinstance(call, cst.Call) else None
    where = code_of(log_dir) if log_dir is not None else '"logs"'
    writer = t.name("torch.utils.tensorboard.SummaryWriter")
    join = t.name("os.path.join")
    before = [f'tensorboard = {writer}({join}({where}, "train"))']
    epoch = [f'    tensorboard.add_scalar("epoch_loss", {history}["loss"][-1], epoch)']
    after = ["tensorboard.close()"]
    if validation:
        before.append(f'tensorboard_val = {writer}({join}({where}, "validation"))')
        epoch.append(f'    tensorboard_val.add_scalar("epoch_loss", {history}["val_loss"][-1], epoch)')
        after.append("tensorboard_val.close()")
    return before, epoch, after


def export_code(
    t: TrainingRewriter, model: str, path: cst.BaseExpression, device: bool = False
) -> tuple[str | None, str]:
    """``torch.export.save(torch.export.export(model.eval(), (example,), dynamic_shapes=...), path)``
    with an example batch of the model's statically inferred input shape (None and the reason when
    it is not known)."""
    source = t.plan.model_sources.get(model)
    found = t.lookup.input_example(source) if source is not None else None
    if found is None:
        return None, (
            "the model's input shape is not known statically: write torch.export.export(model, (example,)) "
            "with an example batch"
        )
    shape = ", ".join(str(d) for d in found)
    value = literal(path)
    target = (
        repr(f"{value}.pt2").replace("'", '"') if isinstance(value, str) else f'str({code_of(path)}) + ".pt2"'
    )
    export = t.name("torch.export.export")
    dim = t.name("torch.export.Dim")
    example = f"{t.name('torch.randn')}(2, {shape}{', device=device' if device else ''})"
    program = f'{export}({model}.eval(), ({example},), dynamic_shapes=({{0: {dim}("batch")}},))'
    return f"{t.name('torch.export.save')}({program}, {target})", ""
