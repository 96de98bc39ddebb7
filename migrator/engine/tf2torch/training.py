"""Keras training code -> an explicit PyTorch loop (tf2torch).

``model.compile(optimizer, loss, metrics)`` becomes the optimizer (built on ``model.parameters()``)
and the loss module; ``model.fit`` becomes a ``DataLoader`` over ``TensorDataset`` and the loop
Keras runs (train mode, zero_grad, forward, loss, backward, clipping, step, the schedule per
step, the epoch's mean loss, validation, LR callbacks); ``evaluate`` and ``predict`` run in eval
mode under ``torch.no_grad()``; ``save_weights``/``load_weights``/``save`` become state_dict files.
``train_scan.scan`` finds these statements on the original tree; ``TrainingRewriter`` writes
them from the migrated expressions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.tf2torch import train_extras
from migrator.engine.tf2torch.eco_scan import Pipeline
from migrator.engine.tf2torch.train_extras import PARALLEL, Extras
from migrator.engine.tf2torch.train_scan import (
    ACCURACY,
    FIT_ARGS,
    LOSS_NAMES,
    OPTIMIZER_NAMES,
    Callback,
    CallbackKind,
    KerasTrainingPlan,
    call_arg,
)
from migrator.engine.train_bindings import with_bindings
from migrator.engine.values import literal
from migrator.rules.schema import Rule
from migrator.types import Severity

_INPUTS = "migrator.runtime.torch_support.as_input"  # floats -> float32, integers -> int64, as Keras


def _lines(text: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(text).body)


def torch_weights_path(path: cst.BaseExpression) -> tuple[str, str | None]:
    """``model.weights.h5`` -> ``model.pt``; a non-literal path is kept (and reported)."""
    value = literal(path)
    if isinstance(value, str):
        new = re.sub(r"(\.weights)?\.(h5|keras|hdf5)$", "", value) + ".pt"
        return repr(new).replace("'", '"'), f"{value!r} -> {new!r}"
    return code_of(path), None


class Lookup(Protocol):
    """What the rewriter asks of the transformer."""

    def torch_name(self, qualified: str) -> str: ...

    def report(self, node: cst.CSTNode, severity: Severity, api: str, message: str) -> None: ...

    def migrate_text(self, text: str, where: cst.CSTNode) -> cst.BaseExpression | None: ...

    def training_rule(self, expr: cst.BaseExpression, module: str) -> Rule | None: ...

    def source_code(self, expr: cst.BaseExpression, module: str) -> str: ...

    def target_code(self, call: cst.Call) -> str: ...

    def known_names(self, side: str) -> dict[str, str]: ...

    def input_perm(self, builder: str) -> tuple[int, ...] | None: ...

    def input_example(self, builder: str) -> tuple[int, ...] | None: ...


class TrainingRewriter:
    """Writes the PyTorch statements for one Keras training statement."""

    def __init__(self, plan: KerasTrainingPlan, lookup: Lookup) -> None:
        self.plan = plan
        self.lookup = lookup
        self.name = lookup.torch_name
        self.report = lookup.report
        # model -> optimizer line, loss line, loss rule, schedule
        self._compiled: dict[str, tuple[str, str, Rule | None, str | None]] = {}
        self._setup: dict[str, list[list[str]]] = {}  # model -> the target's [name, code] set-up
        self._scaled: set[str] = set()  # models whose compile made a GradScaler
        self.record: dict[str, Any] | None = None  # the migration record's "training" part

    def migrate(self, text: str, where: cst.CSTNode) -> cst.BaseExpression | None:
        return self.lookup.migrate_text(text, where)

    def loss_rule(self, expr: cst.BaseExpression) -> Rule | None:
        return self.lookup.training_rule(expr, "keras.losses")

    def statement(
        self, original: cst.BaseStatement, updated: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        hit = self.plan.statements.get(id(original))
        if hit is None or not isinstance(updated, cst.SimpleStatementLine):
            return None
        method, model, ocall = hit
        small = updated.body[0]
        call = small.value if isinstance(small, cst.Expr | cst.Assign) else None
        if not isinstance(call, cst.Call):
            return None
        targets = small.targets if isinstance(small, cst.Assign) else ()
        out: list[cst.BaseStatement] | None
        if method == "compile":
            out = self._compile(original, model, ocall, call)
        elif method == "fit":
            out = self._fit(original, model, ocall, call, targets)
        elif method == "evaluate":
            out = self._evaluate(original, model, ocall, call, targets)
        elif method == "predict":
            out = self._predict(original, model, ocall, call, targets)
        else:
            out = self._weights(original, method, model, call)
        if out is None:
            return None
        out[0] = out[0].with_changes(leading_lines=updated.leading_lines)
        return out

    # ------------------------------------------------------------------ compile
    def _compile(
        self, original: cst.CSTNode, model: str, ocall: cst.Call, call: cst.Call
    ) -> list[cst.BaseStatement] | None:
        compiled = self.plan.compiles[model]
        opt = call_arg(call, "optimizer", 0)
        loss = call_arg(call, "loss", 1)
        if opt is None or loss is None:
            self.report(
                original, Severity.UNSUPPORTED, f"{model}.compile", "compile needs an optimizer and a loss"
            )
            return None
        opt = self._named(opt, OPTIMIZER_NAMES, "keras.optimizers", original)
        loss = self._named(loss, LOSS_NAMES, "keras.losses", original)
        if opt is None or loss is None:
            return None
        params = f"{model}.parameters()"
        opt_code = _call_factory(opt, params)
        lines = [f"optimizer = {opt_code}"]
        schedule = self._schedule_of(compiled.optimizer, opt)
        if schedule is not None:
            lines[0] = f"optimizer = {_call_factory(_with_lr(opt, f'{schedule}(0)'), params)}"
            lines.append(
                f"scheduler = {self.name('migrator.runtime.torch_support.ScheduleLR')}(optimizer, {schedule})"
            )
        lines.append(f"loss_fn = {code_of(loss)}")
        if any(m not in ACCURACY for m in compiled.metrics):
            self.report(
                original,
                Severity.UNSUPPORTED,
                f"{model}.compile",
                f"metrics {list(compiled.metrics)}: only accuracy is migrated",
            )
        rule = self.loss_rule(compiled.loss) if compiled.loss is not None else None
        self._compiled[model] = (lines[0], lines[-1], rule, schedule)
        self._setup[model] = [ln.split(" = ", 1) for ln in lines]
        extras = self._compile_extras(original, model, compiled.optimizer)
        moved = [
            ln for ln in extras if ln == f"{model}.to(device)"
        ]  # before the optimizer takes its parameters
        lines = moved + lines + [ln for ln in extras if ln not in moved]
        self.report(
            original,
            Severity.MIGRATED,
            f"{model}.compile",
            "-> the optimizer over model.parameters() and the loss module",
        )
        return _lines("\n".join(lines) + "\n")

    def _compile_extras(
        self, original: cst.CSTNode, model: str, optimizer: cst.BaseExpression | None
    ) -> list[str]:
        """The model moved to ``device``, its DataParallel replica (MirroredStrategy scope), the
        GradScaler (a LossScaleOptimizer, or Keras's automatic one under mixed_float16)."""
        eco = self.plan.eco
        device = id(original) in eco.device_statements
        out = [f"{model}.to(device)"] if device else []
        kind = eco.replicated.get(model)
        if kind is not None and kind.replicated:
            count = self.name("torch.cuda.device_count")
            out.append(
                f"{PARALLEL} = {self.name('torch.nn.DataParallel')}({model}) if {count}() > 1 else {model}"
            )
            self.report(
                original,
                Severity.MIGRATED,
                f"{model} (strategy scope)",
                "trained through nn.DataParallel when more than one CUDA device is present, as "
                "MirroredStrategy replicates it on every GPU (one process)",
            )
        scaled: cst.Call | None = None
        if isinstance(optimizer, cst.Name) and optimizer.value in eco.loss_scaled:
            scaled = eco.loss_scaled[optimizer.value]
        elif isinstance(optimizer, cst.Call) and id(optimizer) in eco.loss_scale_calls:
            scaled = optimizer
        if scaled is not None or eco.amp(original) == "float16":
            out.append(train_extras.scaler_line(self, scaled, device))
            self._scaled.add(model)
        return out

    def _extras(self, original: cst.CSTNode, model: str) -> Extras:
        eco = self.plan.eco
        kind = eco.replicated.get(model)
        forward = PARALLEL if kind is not None and kind.replicated else model
        return Extras(
            id(original) in eco.device_statements, forward, eco.amp(original), model in self._scaled
        )

    def input_code(self, model: str | None, x: str) -> str:
        """An array as the (migrated) model takes it; without a model, ``as_input``."""
        return self._input(model, x) if model is not None else f"{self.name(_INPUTS)}({x})"

    def target_code_for(self, model: str | None, y: str) -> str:
        """Targets in the dtype the model's loss takes (class indices: int64, else float32)."""
        compiled = self.plan.compiles.get(model) if model is not None else None
        rule = self.loss_rule(compiled.loss) if compiled is not None and compiled.loss is not None else None
        if rule is None or rule.training is None:
            return f"{self.name(_INPUTS)}({y})"
        dtype = "torch.long" if rule.training.targets == "class_index" else "torch.float32"
        return f"{self.name('torch.as_tensor')}({y}, dtype={self.name(dtype)})"

    def _pipeline(self, expr: cst.BaseExpression | None, ocall_arg: cst.BaseExpression | None) -> str | None:
        """A (migrated) tf.data pipeline given to fit/evaluate/predict: its name or its code."""
        eco = self.plan.eco
        if isinstance(ocall_arg, cst.Name) and ocall_arg.value in eco.named:
            return ocall_arg.value
        if isinstance(ocall_arg, cst.Call) and id(ocall_arg) in eco.pipelines and expr is not None:
            return code_of(expr)
        return None

    def _named(
        self, expr: cst.BaseExpression, names: dict[str, str], module: str, where: cst.CSTNode
    ) -> cst.BaseExpression | None:
        if isinstance(expr, cst.SimpleString):
            key = str(expr.evaluated_value)
            if key not in names:
                self.report(where, Severity.UNSUPPORTED, key, f"no torch counterpart for {key!r}")
                return None
            return self.migrate(f"{module}.{names[key]}()", where)
        return expr

    # ------------------------------------------------------------------ fit
    def _fit(
        self,
        original: cst.CSTNode,
        model: str,
        ocall: cst.Call,
        call: cst.Call,
        targets: Sequence[cst.AssignTarget],
    ) -> list[cst.BaseStatement] | None:
        if model not in self._compiled:
            return None
        unknown = [
            a.keyword.value for a in call.args if a.keyword is not None and a.keyword.value not in FIT_ARGS
        ]
        if unknown or any(a.star for a in call.args):
            self.report(
                original,
                Severity.UNSUPPORTED,
                f"{model}.fit",
                f"fit({unknown[0] if unknown else '*args'}=...) is not migrated",
            )
            return None
        x, y = call_arg(call, "x", 0), call_arg(call, "y", 1)
        pipeline = self._pipeline(x, call_arg(ocall, "x", 0))
        steps = call_arg(call, "steps_per_epoch")
        if (x is None or y is None) and pipeline is None:
            self.report(
                original,
                Severity.UNSUPPORTED,
                f"{model}.fit",
                "fit over a dataset or generator is not migrated; pass arrays or a "
                "tf.data.Dataset.from_tensor_slices pipeline",
            )
            return None
        why = self._fit_data_problem(ocall, pipeline, y, steps)
        if why is not None:
            self.report(original, Severity.UNSUPPORTED, f"{model}.fit", why)
            return None
        if call_arg(call, "validation_split") is not None:
            self.report(
                original,
                Severity.UNSUPPORTED,
                f"{model}.fit",
                "validation_split is not migrated; pass validation_data",
            )
            return None
        _, _, rule, schedule = self._compiled[model]
        extras = self._extras(original, model)
        epochs = code_of(call_arg(call, "epochs", 3) or cst.Integer("1"))
        history = code_of(targets[0].target) if targets else "history"
        clip = self._clip_lines(model)
        val = call_arg(call, "validation_data")
        val_pipeline = self._pipeline(val, call_arg(ocall, "validation_data"))
        callbacks = self._callbacks(original, ocall, call)
        if callbacks is None:
            return None
        keys = ['"loss": []'] + (['"val_loss": []'] if val is not None else [])
        if pipeline is not None:
            lines: list[str] = []
            loader = pipeline
        else:
            assert x is not None and y is not None
            lines = self._fit_arrays(model, call, x, y, rule)
            loader = "train_loader"
        if val is not None and val_pipeline is None:
            if not (isinstance(val, cst.Tuple) and len(val.elements) == 2):
                self.report(
                    original, Severity.UNSUPPORTED, f"{model}.fit", "validation_data must be an (x, y) tuple"
                )
                return None
            vx, vy = (code_of(e.value) for e in val.elements)
            tensor, ytype = self.name("torch.as_tensor"), self._ytype(rule)
            lines.append(
                f"x_val, y_val = {extras.to(self._input(model, vx))}, "
                f"{extras.to(f'{tensor}({vy}, dtype={ytype})')}"
            )
        lines += [f"{history} = {{{', '.join(keys)}}}"]
        tracked = ("loss", "val_loss") if val is not None else ("loss",)
        board: tuple[list[str], list[str], list[str]] = ([], [], [])
        for cb in list(callbacks):
            monitor = cb.monitor
            if cb.kind is CallbackKind.TENSORBOARD:
                board = train_extras.tensorboard_lines(self, cb.code, history, val is not None)
            elif monitor is not None and monitor not in tracked:
                self.report(
                    original,
                    Severity.REVIEW,
                    "ReduceLROnPlateau",
                    f"monitors {monitor!r}, which this fit does not compute"
                    + (" (no validation_data)" if monitor.startswith("val_") else "")
                    + ": Keras warns and never reduces; the migrated loop leaves it out",
                )
                callbacks.remove(cb)
            elif monitor is not None:
                lines.append(f"{cb.name} = {cb.code}(optimizer)")
        lines += board[0]
        if steps is not None:
            loader = f"{self.name('itertools.islice')}({loader}, {code_of(steps)})"
        forward = [f"loss = loss_fn({extras.forward}(xb), yb)"]
        step = train_extras.step_lines(extras, clip, schedule is not None)
        body = [
            f"for epoch in range({epochs}):",
            *(f"    {c}" for c in self._epoch_start(callbacks)),
            f"    {model}.train()",
            "    total, count = 0.0, 0",
            f"    for xb, yb in {loader}:",
            *(f"        {c}" for c in [*extras.batch_lines(), "optimizer.zero_grad()"]),
            *(f"        {c}" for c in extras.autocast(self, forward)),
            *(f"        {c}" for c in step),
            "        total += loss.item() * len(xb)",
            "        count += len(xb)",
            f'    {history}["loss"].append(total / count)',
        ]
        if val_pipeline is not None:
            body += [
                f"    {model}.eval()",
                f"    with {self.name('torch.no_grad')}():",
                "        total, count = 0.0, 0",
                f"        for xb, yb in {val_pipeline}:",
                *(f"            {c}" for c in extras.batch_lines()),
                *(
                    f"            {c}"
                    for c in extras.autocast(self, [f"loss = loss_fn({extras.forward}(xb), yb)"])
                ),
                "            total += loss.item() * len(xb)",
                "            count += len(xb)",
                f'        {history}["val_loss"].append(total / count)',
            ]
        elif val is not None:
            val_loss = f"loss_fn({extras.forward}(x_val), y_val)"
            tail = [f"loss = {val_loss}", f'{history}["val_loss"].append(loss.item())']
            body += [
                f"    {model}.eval()",
                f"    with {self.name('torch.no_grad')}():",
                *(
                    f"        {c}"
                    for c in (
                        [*extras.autocast(self, tail[:1]), tail[1]]
                        if extras.amp
                        else [f'{history}["val_loss"].append({val_loss}.item())']
                    )
                ),
            ]
        for cb in callbacks:
            if cb.kind is CallbackKind.PLATEAU and cb.monitor is not None:
                body.append(f'    {cb.name}.step({history}["{cb.monitor}"][-1])')
        body += board[1] + board[2]
        if self.record is None:
            self.record = self._record(model, ocall, callbacks)
        self.report(
            original,
            Severity.MIGRATED,
            f"{model}.fit",
            "-> the training loop Keras runs over the migrated tf.data pipeline"
            if pipeline is not None
            else "-> DataLoader over TensorDataset and the training loop Keras runs",
        )
        return _lines("\n".join(lines + body) + "\n")

    def _ytype(self, rule: Rule | None) -> str:
        target = rule.training.targets if rule is not None and rule.training is not None else None
        return self.name("torch.long" if target == "class_index" else "torch.float32")

    def _fit_arrays(
        self, model: str, call: cst.Call, x: cst.BaseExpression, y: cst.BaseExpression, rule: Rule | None
    ) -> list[str]:
        batch = code_of(call_arg(call, "batch_size", 2) or cst.Integer("32"))
        shuffle = call_arg(call, "shuffle")
        shuffle_code = code_of(shuffle) if shuffle is not None else "True"
        tensor = self.name("torch.as_tensor")
        ds = self.name("torch.utils.data.TensorDataset")
        dl = self.name("torch.utils.data.DataLoader")
        return [
            f"train_data = {ds}({self._input(model, code_of(x))}, "
            f"{tensor}({code_of(y)}, dtype={self._ytype(rule)}))",
            f"train_loader = {dl}(train_data, batch_size={batch}, shuffle={shuffle_code})",
        ]

    def _fit_data_problem(
        self,
        ocall: cst.Call,
        pipeline: str | None,
        y: cst.BaseExpression | None,
        steps: cst.BaseExpression | None,
    ) -> str | None:
        """Why a fit over a pipeline cannot be migrated (None when it can)."""
        if pipeline is None:
            return "steps_per_epoch over arrays is not migrated" if steps is not None else None
        found = self._pipeline_of(call_arg(ocall, "x", 0))
        if y is not None:
            return "a dataset gives the targets itself: fit(dataset, y) is an error in Keras"
        if found is None or len(found.components) != 2:
            return "fit over a dataset of (inputs, targets) pairs only"
        if not any(s.method == "batch" for s in found.steps):
            return "fit over an unbatched dataset is not migrated: batch it"
        if found.repeats and steps is None:
            return "a repeated dataset needs steps_per_epoch (Keras would never end an epoch)"
        if steps is not None and not found.repeats:
            return "steps_per_epoch over a finite dataset is not migrated: Keras stops when the data runs out"
        return None

    def _pipeline_of(self, expr: cst.BaseExpression | None) -> Pipeline | None:
        eco = self.plan.eco
        if isinstance(expr, cst.Name):
            return eco.named.get(expr.value)
        return eco.pipelines.get(id(expr)) if expr is not None else None

    def _record(self, model: str, ocall: cst.Call, callbacks: list[Callback]) -> dict[str, Any] | None:
        """What ``verify --train-steps`` builds on both sides, as code from the two files."""
        compiled = self.plan.compiles[model]
        if compiled.optimizer is None or compiled.loss is None:
            return None
        opt_rule = self.lookup.training_rule(compiled.optimizer, "keras.optimizers")
        loss_rule = self.lookup.training_rule(compiled.loss, "keras.losses")
        if opt_rule is None or loss_rule is None or loss_rule.training is None:
            return None
        src_setup: list[list[str]] = []
        opt_call = self._optimizer_call(compiled.optimizer)
        lr = call_arg(opt_call, "learning_rate", 0) if opt_call is not None else None
        src_setup.append(["optimizer", self.lookup.source_code(compiled.optimizer, "keras.optimizers")])
        src_setup.append(["loss_fn", self.lookup.source_code(compiled.loss, "keras.losses")])
        tgt_setup = [list(p) for p in self._setup[model]]
        _, _, _, schedule = self._compiled[model]
        src_sched: dict[str, str] | None = (
            {"name": lr.value, "step": "optimizer"}
            if schedule is not None and isinstance(lr, cst.Name)
            else None
        )
        tgt_sched: dict[str, str] | None = (
            {"name": "scheduler", "step": "batch"} if schedule is not None else None
        )
        notes: list[str] = []
        for cb in callbacks:
            if cb.kind is CallbackKind.TENSORBOARD:
                continue
            if cb.monitor is None:
                notes.append(f"the per-epoch learning-rate function {cb.code} is not part of the check")
                continue
            src_setup.append([cb.name, code_of(cb.origin)])
            tgt_setup.append([cb.name, f"{cb.code}(optimizer)"])
            src_sched = {"name": cb.name, "step": "callback"}
            tgt_sched = {"name": cb.name, "step": "plateau"}
        clip = None
        for key, kind in (("global_clipnorm", "norm"), ("clipnorm", "tensor_norm"), ("clipvalue", "value")):
            got = call_arg(opt_call, key) if opt_call is not None else None
            value = literal(got) if got is not None else None
            if isinstance(value, int | float):
                clip = {"kind": kind, "value": float(value)}
        src_setup = with_bindings(src_setup, self.lookup.known_names("source"), model)
        tgt_setup = with_bindings(tgt_setup, self.lookup.known_names("target"), model)
        return {
            "targets": loss_rule.training.targets,
            "compare_params": bool(opt_rule.training and opt_rule.training.compare_params),
            "uses": {"optimizer": opt_rule.id, "loss": loss_rule.id},
            "notes": notes,
            "source": {
                "model": model,
                "setup": src_setup,
                "optimizer": "optimizer",
                "loss": "loss_fn(_fwm_target, _fwm_pred)",
                "schedule": src_sched,
                "clip": None,
            },
            "target": {
                "model": model,
                "setup": tgt_setup,
                "optimizer": "optimizer",
                "loss": "loss_fn(_fwm_pred, _fwm_target)",
                "schedule": tgt_sched,
                "clip": clip,
            },
        }

    def _schedule_of(self, original: cst.BaseExpression | None, migrated: cst.BaseExpression) -> str | None:
        """The schedule driving the optimizer's learning rate (a name or a migrated call), if any."""
        call = self._optimizer_call(original) if original is not None else None
        lr = call_arg(call, "learning_rate", 0) if call is not None else None
        if lr is None or not self.plan.is_schedule(lr):
            return None
        if isinstance(lr, cst.Name):
            return lr.value
        got = call_arg(migrated, "lr") if isinstance(migrated, cst.Call) else None
        return code_of(got) if got is not None else None

    def _optimizer_call(self, expr: cst.BaseExpression) -> cst.Call | None:
        if isinstance(expr, cst.Name) and expr.value in self.plan.assigned:
            return self.plan.assigned[expr.value][0]
        return expr if isinstance(expr, cst.Call) else None

    def _input(self, model: str, x: str) -> str:
        """Arrays as the migrated model takes them: ``as_input``, and a permute when the model is
        channels-first while Keras took the arrays channels-last (NHWC -> NCHW)."""
        code = f"{self.name(_INPUTS)}({x})"
        source = self.plan.model_sources.get(model)
        perm = self.lookup.input_perm(source) if source is not None else None
        if perm is not None and list(perm) != sorted(perm):
            code += f".permute({', '.join(str(p) for p in perm)})"
        return code

    def _epoch_start(self, callbacks: list[Callback]) -> list[str]:
        out = []
        for cb in callbacks:
            if cb.kind is CallbackKind.LR_SCHEDULE:  # schedule(epoch, lr) at each epoch's start
                out += [
                    "for group in optimizer.param_groups:",
                    f'    group["lr"] = {cb.code}(epoch, group["lr"])',
                ]
        return out

    def _callbacks(self, where: cst.CSTNode, ocall: cst.Call, call: cst.Call) -> list[Callback] | None:
        """The fit's callbacks, or None (and a finding) when one is not migrated."""
        ocbs, cbs = call_arg(ocall, "callbacks"), call_arg(call, "callbacks")
        if cbs is None or ocbs is None:
            return []
        if not isinstance(cbs, cst.List | cst.Tuple) or not isinstance(ocbs, cst.List | cst.Tuple):
            self.report(where, Severity.UNSUPPORTED, "callbacks", "callbacks must be a literal list")
            return None
        out: list[Callback] = []
        for i, (oe, e) in enumerate(zip(ocbs.elements, cbs.elements, strict=True)):
            rule = self.lookup.training_rule(oe.value, "keras.callbacks")
            origin = oe.value
            if isinstance(origin, cst.Name) and origin.value in self.plan.assigned:
                origin = self.plan.assigned[origin.value][0]
            if rule is not None and rule.id == "tf2torch.callbacks.ReduceLROnPlateau":
                monitor = _monitor(origin if isinstance(origin, cst.Call) else None)
                out.append(Callback(f"plateau{i or ''}", code_of(e.value), monitor, origin))
            elif rule is not None and rule.id == "tf2torch.callbacks.LearningRateScheduler":
                out.append(
                    Callback(
                        f"lr_schedule{i or ''}", code_of(e.value), None, origin, CallbackKind.LR_SCHEDULE
                    )
                )
            elif rule is not None and rule.id == "tf2torch.callbacks.TensorBoard":
                if any(c.kind is CallbackKind.TENSORBOARD for c in out):
                    self.report(
                        where, Severity.UNSUPPORTED, "TensorBoard", "one TensorBoard callback per fit"
                    )
                    return None
                out.append(Callback("tensorboard", code_of(e.value), None, origin, CallbackKind.TENSORBOARD))
            else:
                self.report(
                    where,
                    Severity.UNSUPPORTED,
                    code_of(oe.value).split("(")[0],
                    "this callback is not migrated",
                )
                return None
        return out

    def _clip_lines(self, model: str) -> list[str]:
        compiled = self.plan.compiles.get(model)
        opt = compiled.optimizer if compiled is not None else None
        if isinstance(opt, cst.Name) and opt.value in self.plan.assigned:
            opt = self.plan.assigned[opt.value][0]
        if not isinstance(opt, cst.Call):
            return []
        utils = "torch.nn.utils"
        out = []
        for key, text in (
            ("global_clipnorm", f"{self.name(utils + '.clip_grad_norm_')}({model}.parameters(), {{}})"),
            (
                "clipnorm",
                f"for p in {model}.parameters():\n    {self.name(utils + '.clip_grad_norm_')}(p, {{}})",
            ),
            ("clipvalue", f"{self.name(utils + '.clip_grad_value_')}({model}.parameters(), {{}})"),
        ):
            v = call_arg(opt, key)
            if v is not None:
                out += text.format(code_of(v)).splitlines()
        return out

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate(
        self,
        original: cst.CSTNode,
        model: str,
        ocall: cst.Call,
        call: cst.Call,
        targets: Sequence[cst.AssignTarget],
    ) -> list[cst.BaseStatement] | None:
        if model not in self._compiled:
            return None
        x, y = call_arg(call, "x", 0), call_arg(call, "y", 1)
        pipeline = self._pipeline(x, call_arg(ocall, "x", 0))
        found = self._pipeline_of(call_arg(ocall, "x", 0))
        if pipeline is not None and (
            y is not None or found is None or len(found.components) != 2 or found.repeats
        ):
            self.report(
                original,
                Severity.UNSUPPORTED,
                f"{model}.evaluate",
                "evaluate over a finite, batched dataset of (inputs, targets) pairs only",
            )
            return None
        if pipeline is None and (x is None or y is None):
            return None
        _, _, rule, _ = self._compiled[model]
        extras = self._extras(original, model)
        kind = rule.training.targets if rule is not None and rule.training is not None else None
        accuracy = any(m in ACCURACY for m in self.plan.compiles[model].metrics)
        correct = {
            "class_index": "(pred.argmax(dim=1) == yb).sum().item()",
            "probs": "(pred.argmax(dim=1) == yb.argmax(dim=1)).sum().item()",
            "binary": "((pred > 0.5).float() == yb).float().mean(dim=-1).sum().item()",
        }.get(kind or "")
        if accuracy and correct is None:
            self.report(
                original, Severity.UNSUPPORTED, f"{model}.evaluate", "accuracy for this loss is not migrated"
            )
            return None
        result = "total / count" + (", correct / count" if accuracy else "")
        target = code_of(targets[0].target) if targets else None
        if pipeline is None:
            assert x is not None and y is not None
            batch = code_of(call_arg(call, "batch_size", 2) or cst.Integer("32"))
            tensor = self.name("torch.as_tensor")
            dl, ds = self.name("torch.utils.data.DataLoader"), self.name("torch.utils.data.TensorDataset")
            data = [
                f"    eval_data = {ds}({self._input(model, code_of(x))}, "
                f"{tensor}({code_of(y)}, dtype={self._ytype(rule)}))",
                f"    eval_loader = {dl}(eval_data, batch_size={batch})",
            ]
            pipeline = "eval_loader"
        else:
            data = []
        pred = [f"pred = {extras.forward}(xb)" + (".float()" if extras.amp else "")]
        lines = [
            f"{model}.eval()",
            f"with {self.name('torch.no_grad')}():",
            *data,
            "    total, correct, count = 0.0, 0.0, 0",
            f"    for xb, yb in {pipeline}:",
            *(f"        {c}" for c in [*extras.batch_lines(), *extras.autocast(self, pred)]),
            "        total += loss_fn(pred, yb).item() * len(xb)",
            *([f"        correct += {correct}"] if accuracy else []),
            "        count += len(xb)",
        ]
        if target is not None:
            listed = accuracy and not isinstance(targets[0].target, cst.Tuple)  # score = [loss, acc]
            lines.append(f"{target} = {'[' + result + ']' if listed else result}")
        self.report(
            original,
            Severity.MIGRATED,
            f"{model}.evaluate",
            "-> the loss (and accuracy) averaged over the samples in eval mode",
        )
        return _lines("\n".join(lines) + "\n")

    def _predict(
        self,
        original: cst.CSTNode,
        model: str,
        ocall: cst.Call,
        call: cst.Call,
        targets: Sequence[cst.AssignTarget],
    ) -> list[cst.BaseStatement] | None:
        x = call_arg(call, "x", 0)
        if x is None or not targets:
            return None
        extras = self._extras(original, model)
        pipeline = self._pipeline(x, call_arg(ocall, "x", 0))
        found = self._pipeline_of(call_arg(ocall, "x", 0))
        tail = (".float()" if extras.amp else "") + (".cpu()" if extras.device else "") + ".numpy()"
        out = code_of(targets[0].target)
        if pipeline is not None:
            if found is None or found.repeats or not any(s.method == "batch" for s in found.steps):
                self.report(
                    original,
                    Severity.UNSUPPORTED,
                    f"{model}.predict",
                    "predict over a finite, batched dataset only",
                )
                return None
            xb = "xb" if len(found.components) == 1 else "xb, *_"
            cat = self.name("torch.cat")
            pred = [f"{out} = {cat}([{extras.forward}({extras.to('xb')}) for {xb} in {pipeline}]){tail}"]
        else:
            pred = [f"{out} = {extras.forward}({extras.to(self._input(model, code_of(x)))}){tail}"]
        lines = [
            f"{model}.eval()",
            f"with {self.name('torch.no_grad')}():",
            *(f"    {c}" for c in extras.autocast(self, pred)),
        ]
        self.report(
            original,
            Severity.MIGRATED,
            f"{model}.predict",
            "-> the model in eval mode under no_grad, as a NumPy array",
        )
        return _lines("\n".join(lines) + "\n")

    # ------------------------------------------------------------------ weights
    def _export(self, original: cst.CSTNode, model: str, call: cst.Call) -> list[cst.BaseStatement] | None:
        """``model.export(path)`` (a SavedModel for serving) -> a ``torch.export`` program."""
        fmt = call_arg(call, "format", 1)
        others = [
            a.keyword.value
            for a in call.args[1:]
            if a.keyword is not None and a.keyword.value not in ("format", "verbose")
        ]
        if (fmt is not None and literal(fmt) != "tf_saved_model") or others:
            why = (
                f"format={code_of(fmt)}"
                if fmt is not None and literal(fmt) != "tf_saved_model"
                else f"{others[0]}="
            )
            self.report(original, Severity.UNSUPPORTED, f"{model}.export", f"{why} is not migrated")
            return None
        device = id(original) in self.plan.eco.device_statements
        code, why = train_extras.export_code(self, model, call.args[0].value, device)
        if code is None:
            self.report(original, Severity.UNSUPPORTED, f"{model}.export", why)
            return None
        self.report(original, Severity.MIGRATED, f"{model}.export", f"-> {train_extras.EXPORT_NOTE}")
        return _lines(code + "\n")

    def _weights(
        self, original: cst.CSTNode, method: str, model: str, call: cst.Call
    ) -> list[cst.BaseStatement] | None:
        if method == "export":
            return self._export(original, model, call)
        path, renamed = torch_weights_path(call.args[0].value)
        save = self.name("torch.save")
        if method == "load_weights":
            text = f"{model}.load_state_dict({self.name('torch.load')}({path}, weights_only=True))"
        else:
            text = f"{save}({model}.state_dict(), {path})"
        if method == "save":
            self.report(
                original,
                Severity.REVIEW,
                f"{model}.save",
                "saves the weights (state_dict) only; rebuild the model in code to load them",
            )
        else:
            self.report(
                original,
                Severity.MIGRATED,
                f"{model}.{method}",
                f"-> a state_dict file{': ' + renamed if renamed else ''}",
            )
        return _lines(text + "\n")


def _monitor(call: cst.Call | None) -> str:
    m = call_arg(call, "monitor", 0) if call is not None else None
    return str(m.evaluated_value) if isinstance(m, cst.SimpleString) else "val_loss"


def _call_factory(opt: cst.BaseExpression, params: str) -> str:
    """``functools.partial(C, lr=0.1)`` -> ``C(params, lr=0.1)``; a name -> ``name(params)``."""
    if isinstance(opt, cst.Call) and code_of(opt.func) == "functools.partial" and opt.args:
        rest = [code_of(a).rstrip(", ") for a in opt.args[1:]]
        return f"{code_of(opt.args[0].value)}({', '.join([params, *rest])})"
    return f"{code_of(opt)}({params})"


def _with_lr(opt: cst.BaseExpression, lr: str) -> cst.BaseExpression:
    """The optimizer (factory) with its learning rate replaced; a factory name gets it as a keyword."""
    if not isinstance(opt, cst.Call):
        return cst.parse_expression(f"functools.partial({code_of(opt)}, lr={lr})")
    args = [
        a.with_changes(value=cst.parse_expression(lr))
        if a.keyword is not None and a.keyword.value == "lr"
        else a
        for a in opt.args
    ]
    return opt.with_changes(args=args)
