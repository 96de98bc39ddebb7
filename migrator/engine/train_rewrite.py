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
from migrator.engine.train_plan import Action, StepKind, TrainingPlan, Unwrap
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
    def __init__(
        self,
        plan: TrainingPlan,
        name: Callable[[str], str],
        report: Report,
        absorbed: set[int] | None = None,
    ) -> None:
        self.plan = plan
        self.absorbed = absorbed if absorbed is not None else set()  # ids of statements left empty
        self.name = name  # qualified -> the code the emitter uses for it ("tf.GradientTape")
        self.report = report
        self.items: dict[int, cst.BaseExpression] = {}  # id(original With) -> its migrated item (autocast)
        self._carry: list[cst.EmptyLine] = []

    # ----------------------------------------------------------------- blocks
    def block(
        self, originals: Sequence[cst.BaseStatement], updated: Sequence[cst.BaseStatement]
    ) -> list[cst.BaseStatement] | None:
        """The rewritten statements of a block, or None when nothing in it changes."""
        if len(originals) != len(updated):
            return None
        plan = self.plan
        if not any(
            id(o) in plan.statements
            or id(o) in plan.no_grad
            or id(o) in plan.schedule_statements
            or id(o) in plan.fits
            or id(o) in plan.unwrap
            or id(o) in plan.scopes
            or id(o) in plan.policies
            for o in originals
        ):
            return None
        out: list[cst.BaseStatement] = []
        carried: list[cst.EmptyLine] = []
        scope: tuple[int, int] | None = None  # (where the scope's statements start in out, id(last))
        for o, u in zip(originals, updated, strict=True):
            if id(o) in plan.policies:
                out += self._policy(plan.policies[id(o)])
            strat = plan.scopes.get(id(o))
            if strat is not None:
                name = self.name(strat.strategy)
                out.append(_with_comments(_stmt(f"strategy = {name}()\n"), [*carried, *lead(u)]))
                u = u.with_changes(leading_lines=[]) if hasattr(u, "leading_lines") else u
                carried = []
                scope = (len(out), strat.last)
            self._statement(o, u, out, carried)
            carried = self._carry
            if scope is not None and id(o) == scope[1]:
                inner = out[scope[0] :]
                del out[scope[0] :]
                out.append(
                    cst.With(
                        items=[cst.WithItem(cst.parse_expression("strategy.scope()"))],
                        body=cst.IndentedBlock(inner or [cst.SimpleStatementLine([cst.Pass()])]),
                    )
                )
                scope = None
        markers = [
            ln for ln in carried if ln.comment is not None and ln.comment.value.startswith("# fwmigrate:")
        ]
        if not out or markers:  # an empty block, or a removed last statement whose marker must stay
            out.append(_with_comments(cst.SimpleStatementLine([cst.Pass()]), carried if not out else markers))
        return out

    def _statement(
        self,
        o: cst.BaseStatement,
        u: cst.BaseStatement,
        out: list[cst.BaseStatement],
        carried: list[cst.EmptyLine],
    ) -> None:
        """One statement of a block into ``out``; comments of removed ones are left in ``_carry``."""
        self._carry = carried
        out_len = len(out)
        self._block_one(o, u, out, carried)
        if len(out) > out_len:
            self._carry = []

    def _block_one(
        self,
        o: cst.BaseStatement,
        u: cst.BaseStatement,
        out: list[cst.BaseStatement],
        carried: list[cst.EmptyLine],
    ) -> None:
        act = self.plan.statements.get(id(o))
        if id(u) in self.absorbed:  # `model = model` left by a removed wrapper or device move
            self._carry = [*carried, *lead(u)]
            return
        if act is not None and act.action is Action.CALL:
            self.report(o, Severity.MIGRATED, code_of(o).strip().splitlines()[-1], f"-> {act.call}()")
            new = _stmt(f"{self.name(act.call)}()\n").with_changes(leading_lines=lead(u))
            out.append(_with_comments(new, carried))
            return
        unwrap = self.plan.unwrap.get(id(o))
        if unwrap is not None and isinstance(u, cst.With) and isinstance(u.body, cst.IndentedBlock):
            inner = list(u.body.body)
            marks = [*carried, *lead(u), *self._unwrapped(o, unwrap)]
            if inner:
                inner[0] = _with_comments(inner[0], marks)
                out += inner
            else:
                self._carry = marks
            return
        if act is not None and act.action is Action.DROP:
            self._dropped(o, act)
            self._carry = [*carried, *_comments(u)]
            return
        if act is not None and act.action is Action.LOAD:
            new = self._load(o, act)
            out.append(_with_comments(new.with_changes(leading_lines=lead(u)), carried))
            return
        if id(o) in self.plan.no_grad and isinstance(u, cst.With) and isinstance(u.body, cst.IndentedBlock):
            self.report(
                o,
                Severity.MIGRATED,
                "torch.no_grad",
                "unwrapped: Keras records gradients only inside a GradientTape",
            )
            inner = list(u.body.body)
            marks = [*carried, *lead(u)]
            if inner:
                inner[0] = _with_comments(inner[0], marks)
                out += inner
            else:
                self._carry = marks
            return
        fit = self.plan.fits.get(id(o))
        if fit is not None and isinstance(u, cst.For) and isinstance(u.body, cst.IndentedBlock):
            fitted = self.fit(fit, u)
            fitted[0] = _with_comments(fitted[0], carried)
            out += fitted
            return
        sched = self.plan.schedule_statements.get(id(o))
        if sched is not None and sched.optimizer in self.plan.optimizers:
            out += self._schedule(o, u, sched.name, sched.optimizer, sched.step, carried)
            return
        out.append(_with_comments(u, carried))

    def _unwrapped(self, node: cst.CSTNode, unwrap: Unwrap) -> list[cst.EmptyLine]:
        """Report an unwrapped autocast block; its review marker goes above its first statement."""
        expr = self.items.get(id(node))
        if isinstance(expr, cst.Name) and expr.value == "None":
            self.report(
                node, Severity.MIGRATED, unwrap.api, "unwrapped: autocast is disabled here", marker=False
            )
            return []
        policy = _policy_name(expr)
        message = unwrap.review.format(dtype=policy.removeprefix("mixed_") if policy else "float16")
        self.report(node, Severity.REVIEW, unwrap.api, message, marker=False)
        return [cst.EmptyLine(comment=cst.Comment(f"# fwmigrate: review: {unwrap.api}: {message}"))]

    def _policy(self, with_id: int) -> list[cst.BaseStatement]:
        """The global mixed-precision policy an autocast block asked for, before the model is built."""
        expr = self.items.get(with_id)
        if isinstance(expr, cst.IfExp):  # autocast(enabled=flag)
            body = cst.SimpleStatementLine([cst.Expr(expr.body.with_changes(lpar=[], rpar=[]))])
            return [cst.If(test=expr.test, body=cst.IndentedBlock([body]))]
        if isinstance(expr, cst.Call):
            return [cst.SimpleStatementLine([cst.Expr(expr)])]
        return []

    def _dropped(self, node: cst.CSTNode, act: StatementAction) -> None:
        if act.quiet:  # the rule's hook reported it
            return
        code = code_of(node).strip()
        if act.why:
            why = act.why
        elif act.model:
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
            if (act is not None and act.action is Action.DROP) or id(u) in self.absorbed:
                if act is not None:
                    self._dropped(o, act)
                carried += _comments(u)
                continue
            u = _with_comments(u, carried)
            carried = []
            unwrap = self.plan.unwrap.get(id(o))
            if i < loop.tape_from:
                head.append(u)
            elif i < loop.backward and unwrap is not None and isinstance(u, cst.With):
                inner = list(u.body.body) if isinstance(u.body, cst.IndentedBlock) else []
                marks = [*lead(u), *self._unwrapped(o, unwrap)]
                if inner:
                    inner[0] = _with_comments(inner[0], marks)
                taped += [_training_calls(s, model) for s in inner]
            elif i < loop.backward:
                taped.append(_training_calls(u, model))
            elif act is not None and act.action is Action.BACKWARD:
                target = loop.loss
                if act.scaler:  # the scaled loss is computed on the tape
                    taped.append(_stmt(f"scaled_loss = {act.scaler}.scale_loss({loop.loss})\n"))
                    target = "scaled_loss"
                    self.report(
                        o, Severity.MIGRATED, f"{act.scaler}.scale", "-> LossScaleOptimizer.scale_loss"
                    )
                tail.append(
                    _stmt(f"grads = tape.gradient({target}, {model}.trainable_variables)\n").with_changes(
                        leading_lines=lead(u)
                    )
                )
                self.report(o, Severity.MIGRATED, f"{loop.loss}.backward", "-> tape.gradient")
            elif act is not None and act.action is Action.STEP:
                applier = act.scaler or act.optimizer
                tail.append(
                    _stmt(
                        f"{applier}.apply_gradients(zip(grads, {model}.trainable_variables))\n"
                    ).with_changes(leading_lines=lead(u))
                )
                what = "-> apply_gradients" + (" (unscales, skips non-finite steps)" if act.scaler else "")
                self.report(o, Severity.MIGRATED, f"{applier}.step", what)
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


def _policy_name(expr: cst.BaseExpression | None) -> str | None:
    """``"mixed_bfloat16"`` in ``keras.mixed_precision.set_global_policy("mixed_bfloat16")``."""
    if isinstance(expr, cst.IfExp):
        expr = expr.body
    if isinstance(expr, cst.Call) and expr.args and isinstance(expr.args[0].value, cst.SimpleString):
        return str(expr.args[0].value.evaluated_value)
    return None


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

    out = Walker(Add()).walk(stmt)
    assert isinstance(out, cst.BaseStatement)
    return out


__all__ = ["TrainingRewriter"]
