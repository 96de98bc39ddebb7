"""Statement-level rewrites of torch training code into Keras (torch2tf).

The transformer has already migrated every expression (optimizers, losses, data, ...); here whole
statements change: the training loop becomes a ``tf.GradientTape`` step, ``zero_grad`` and
``model.train()`` disappear, ``with torch.no_grad():`` unwraps, a scheduler is attached to its
optimizer as its learning-rate schedule. Blocks are rewritten as a whole so that a block left empty
gets ``pass`` and the comments of a removed statement move to the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libcst as cst

from migrator.engine.emitter import code_of, kwarg
from migrator.engine.train_plan import Action, StepKind, TrainingPlan
from migrator.engine.train_scan import FitLoop, StatementAction, TrainLoop
from migrator.engine.walk import Walker
from migrator.types import Severity

Report = Callable[..., None]  # (node, severity, api, message, marker=True)


def _stmt(text: str) -> cst.BaseStatement:
    return cst.parse_statement(text)


def _with_comments(stmt: cst.BaseStatement, carried: list[cst.EmptyLine]) -> cst.BaseStatement:
    if not carried:
        return stmt
    if isinstance(stmt, cst.SimpleStatementLine | cst.BaseCompoundStatement):
        return stmt.with_changes(leading_lines=[*carried, *lead(stmt)])
    return stmt


def lead(stmt: cst.BaseStatement) -> list[cst.EmptyLine]:
    return list(getattr(stmt, "leading_lines", ()))


def _comments(stmt: cst.BaseStatement) -> list[cst.EmptyLine]:
    return [ln for ln in lead(stmt) if ln.comment is not None]


class TrainingRewriter:
    def __init__(self, plan: TrainingPlan, name: Callable[[str], str], report: Report) -> None:
        self.plan = plan
        self.name = name  # qualified -> the code the emitter uses for it ("tf.GradientTape")
        self.report = report

    # ----------------------------------------------------------------- blocks
    def block(
        self, originals: Sequence[cst.BaseStatement], updated: Sequence[cst.BaseStatement]
    ) -> list[cst.BaseStatement] | None:
        """The rewritten statements of a block, or None when nothing in it changes."""
        if len(originals) != len(updated):
            return None
        if not any(
            id(o) in self.plan.statements
            or id(o) in self.plan.no_grad
            or id(o) in self.plan.schedule_statements
            or id(o) in self.plan.fits
            for o in originals
        ):
            return None
        out: list[cst.BaseStatement] = []
        carried: list[cst.EmptyLine] = []
        for o, u in zip(originals, updated, strict=True):
            act = self.plan.statements.get(id(o))
            if act is not None and act.action is Action.DROP:
                self._dropped(o, act)
                carried += _comments(u)
                continue
            if act is not None and act.action is Action.LOAD:
                new = self._load(o, act)
                out.append(_with_comments(new.with_changes(leading_lines=lead(u)), carried))
                carried = []
                continue
            if (
                id(o) in self.plan.no_grad
                and isinstance(u, cst.With)
                and isinstance(u.body, cst.IndentedBlock)
            ):
                self.report(
                    o,
                    Severity.MIGRATED,
                    "torch.no_grad",
                    "unwrapped: Keras records gradients only inside a GradientTape",
                )
                inner = list(u.body.body)
                carried += lead(u)
                if inner:
                    inner[0] = _with_comments(inner[0], carried)
                    carried = []
                out += inner
                continue
            fit = self.plan.fits.get(id(o))
            if fit is not None and isinstance(u, cst.For) and isinstance(u.body, cst.IndentedBlock):
                fitted = self.fit(fit, u)
                fitted[0] = _with_comments(fitted[0], carried)
                carried = []
                out += fitted
                continue
            sched = self.plan.schedule_statements.get(id(o))
            if sched is not None and sched.optimizer in self.plan.optimizers:
                out += self._schedule(o, u, sched.name, sched.optimizer, sched.step, carried)
                carried = []
                continue
            out.append(_with_comments(u, carried))
            carried = []
        if not out:
            out.append(_with_comments(cst.SimpleStatementLine([cst.Pass()]), carried))
        return out

    def _dropped(self, node: cst.CSTNode, act: StatementAction) -> None:
        code = code_of(node).strip()
        if act.model:
            why = "Keras takes training=True per call (inside the tape) and runs in inference mode otherwise"
        elif act.optimizer and ".zero_grad" in code:
            why = "a GradientTape starts from no gradients every step"
        else:
            why = "the schedule is counted in optimizer steps inside the optimizer"
        self.report(node, Severity.MIGRATED, code.splitlines()[-1], f"removed: {why}")

    def _load(self, node: cst.CSTNode, act: StatementAction) -> cst.SimpleStatementLine:
        from migrator.transforms.training import weights_path

        assert act.value is not None
        path, notes = weights_path(act.value)
        for n in notes:
            self.report(node, n.severity, "load_state_dict", n.message)
        return cst.SimpleStatementLine(
            [cst.Expr(cst.parse_expression(f"{act.model}.load_weights({code_of(path)})"))]
        )

    def _schedule(
        self,
        original: cst.BaseStatement,
        stmt: cst.BaseStatement,
        name: str,
        optimizer: str,
        step: StepKind,
        carried: list[cst.EmptyLine],
    ) -> list[cst.BaseStatement]:
        text = code_of(stmt)
        if not self.plan.is_keras_schedule(name):  # a helper stepped like torch's (ReduceLROnPlateau)
            return [_with_comments(stmt, carried)]
        pre: list[cst.BaseStatement] = []
        if "steps_per_epoch" in text:
            loader = self.plan.loader_of(optimizer)
            if loader is not None:
                pre.append(_stmt(f"steps_per_epoch = len({loader})\n"))
            else:
                why = "no training loop over a loader was found: set the optimizer steps per epoch"
                self.report(original, Severity.REVIEW, "steps_per_epoch", why, marker=False)
                pre.append(_stmt(f"steps_per_epoch = 1  # fwmigrate: review: steps_per_epoch: {why}\n"))
        out = [*pre, stmt.with_changes(leading_lines=[]), _stmt(f"{optimizer}.learning_rate = {name}\n")]
        out[0] = out[0].with_changes(leading_lines=[*carried, *lead(stmt)])
        return out

    # ----------------------------------------------------------------- the loop
    def fit(self, fit: FitLoop, updated: cst.For) -> list[cst.BaseStatement]:
        """The epoch loop as ``model.compile(...)`` and ``model.fit(loader, epochs=E, verbose=0)``."""
        loss = fit.loss_object
        if loss is None:  # a functional loss: the migrated call is `<loss object>(y, pred)`
            inner = updated.body.body[0] if isinstance(updated.body, cst.IndentedBlock) else None
            loss = _loss_object(inner, fit.inner.loss) if isinstance(inner, cst.For) else None
            if loss is None or not isinstance(inner, cst.For):  # the loss did not migrate: keep the loop
                body = [
                    self.loop(fit.inner, s, inside_fit=True) if isinstance(s, cst.For) and s is inner else s
                    for s in updated.body.body
                ]
                return [updated.with_changes(body=updated.body.with_changes(body=body))]
        compile_ = _stmt(f"{fit.model}.compile(optimizer={fit.optimizer}, loss={loss})\n")
        epochs = code_of(fit.epochs)
        fit_ = _stmt(f"{fit.model}.fit({fit.loader}, epochs={epochs}, shuffle=False, verbose=0)\n")
        self.report(
            fit.node,
            Severity.MIGRATED,
            "training loop",
            "-> model.compile + model.fit over the same batches in the same order (exact)",
        )
        return [compile_.with_changes(leading_lines=lead(updated)), fit_]

    def loop(self, loop: TrainLoop, updated: cst.For, inside_fit: bool = False) -> cst.For:
        assert isinstance(updated.body, cst.IndentedBlock)
        if id(loop.node) in self.plan.fit_inner and not inside_fit:
            return updated  # the epoch loop around it becomes compile + fit
        originals = loop.node.body.body if isinstance(loop.node.body, cst.IndentedBlock) else ()
        body = list(updated.body.body)
        if len(originals) != len(body):
            return updated
        tape = self.name("tensorflow.GradientTape")
        tf = tape.rsplit(".", 1)[0]
        model = loop.model
        head: list[cst.BaseStatement] = []
        taped: list[cst.BaseStatement] = []
        tail: list[cst.BaseStatement] = []
        carried: list[cst.EmptyLine] = []
        for i, (o, u) in enumerate(zip(originals, body, strict=True)):
            act = self.plan.statements.get(id(o))
            if act is not None and act.action is Action.DROP:
                self._dropped(o, act)
                carried += _comments(u)
                continue
            u = _with_comments(u, carried)
            carried = []
            if i < loop.tape_from:
                head.append(u)
            elif i < loop.backward:
                taped.append(_training_calls(u, model))
            elif act is not None and act.action is Action.BACKWARD:
                tail.append(
                    _stmt(f"grads = tape.gradient({loop.loss}, {model}.trainable_variables)\n").with_changes(
                        leading_lines=lead(u)
                    )
                )
                self.report(o, Severity.MIGRATED, f"{loop.loss}.backward", "-> tape.gradient")
            elif act is not None and act.action is Action.STEP:
                tail.append(
                    _stmt(
                        f"{act.optimizer}.apply_gradients(zip(grads, {model}.trainable_variables))\n"
                    ).with_changes(leading_lines=lead(u))
                )
                self.report(o, Severity.MIGRATED, f"{act.optimizer}.step", "-> apply_gradients")
            elif act is not None and act.action in (Action.CLIP_NORM, Action.CLIP_VALUE):
                assert act.value is not None
                v = code_of(act.value)
                text = (
                    f"grads, _ = {tf}.clip_by_global_norm(grads, {v})\n"
                    if act.action is Action.CLIP_NORM
                    else f"grads = [{tf}.clip_by_value(g, -{v}, {v}) for g in grads]\n"
                )
                tail.append(_stmt(text).with_changes(leading_lines=lead(u)))
                what = "global norm (torch's clip_grad_norm_)" if act.action is Action.CLIP_NORM else "value"
                self.report(o, Severity.MIGRATED, "clip_grad", f"clipped by {what} between gradient and step")
            else:
                tail.append(u)
        if not taped:
            return updated
        with_tape = cst.With(
            items=[cst.WithItem(cst.Call(cst.parse_expression(tape)), asname=cst.AsName(cst.Name("tape")))],
            body=cst.IndentedBlock(taped),
        )
        self.report(loop.node, Severity.MIGRATED, "training loop", "-> tf.GradientTape step")
        new_body = [*head, with_tape, *tail]
        return updated.with_changes(body=updated.body.with_changes(body=new_body))


def _loss_object(loop: cst.For, loss: str) -> str | None:
    """In a migrated training loop, the object of ``loss = <object>(y, pred)``."""
    found: list[str] = []

    class Find:
        def visit_Assign(self, node: cst.Assign) -> None:
            if (
                len(node.targets) == 1
                and code_of(node.targets[0].target) == loss
                and isinstance(node.value, cst.Call)
                and isinstance(node.value.func, cst.Call)
            ):
                found.append(code_of(node.value.func))

    Walker(Find()).walk(loop)
    return found[0] if found else None


def _training_calls(stmt: cst.BaseStatement, model: str) -> cst.BaseStatement:
    """``model(x)`` inside the tape runs in training mode: ``model(x, training=True)``."""

    class Add(cst.CSTTransformer):
        def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
            if code_of(updated.func) == model and not any(
                a.keyword is not None and a.keyword.value == "training" for a in updated.args
            ):
                args = list(updated.args)
                args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                return updated.with_changes(args=[*args, kwarg("training", cst.Name("True"))])
            return updated

    out = stmt.visit(Add())
    assert isinstance(out, cst.BaseStatement)
    return out


__all__ = ["TrainingRewriter"]
