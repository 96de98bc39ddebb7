"""The training scan's look at the code around models (torch2tf): device placement, data-parallel
wrappers and ``torch.distributed`` set-up, TensorBoard writers, gradient scalers and autocast,
determinism flags. ``collect`` runs before the training loops are scanned (a loop's
``scaler.scale(loss).backward()`` needs to know ``scaler``); ``finish`` after them (a strategy
scope is only faithful around a model that ``model.fit`` trains)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.train_plan import Action, StrategyScope, TrainingPlan, Unwrap
from migrator.engine.train_scan import StatementAction, child_blocks
from migrator.engine.values import literal
from migrator.engine.walk import Walker
from migrator.rules.loader import RuleSet

Resolve = Callable[[cst.BaseExpression], "str | None"]

WRITER = "torch.utils.tensorboard.SummaryWriter"
SAMPLER = "torch.utils.data.distributed.DistributedSampler"
SCALERS = frozenset({"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler"})
AUTOCAST = frozenset(
    {"torch.autocast", "torch.amp.autocast", "torch.cuda.amp.autocast", "torch.cpu.amp.autocast"}
)
STRATEGIES = {
    "torch.nn.DataParallel": "tensorflow.distribute.MirroredStrategy",
    "torch.nn.parallel.DataParallel": "tensorflow.distribute.MirroredStrategy",
    "torch.nn.parallel.DistributedDataParallel": "tensorflow.distribute.MultiWorkerMirroredStrategy",
}
_OBJECTS = frozenset({WRITER, SAMPLER, "torch.utils.data.DistributedSampler", *SCALERS})
_DROP_HOOKS = ("drop_statement", "drop_statement_review")
_SETTINGS = ("torch.backends.cudnn.deterministic", "torch.backends.cudnn.benchmark")
MOVES = frozenset({"to", "cuda", "cpu"})

NO_FIT = (
    "the model is trained by a hand-written step: a tf.distribute strategy runs such a step only "
    "through strategy.run over strategy.experimental_distribute_dataset, with the loss divided by the "
    "number of replicas; the migrated step runs on one device (the same numbers)"
)
NO_TRAIN = (
    "no training loop that becomes model.fit trains this model here: build it and its optimizer inside "
    "`with strategy.scope():` and train it with fit (or strategy.run)"
)
NO_BLOCK = (
    "the model and its optimizer are not built in one block: build both inside `with strategy.scope():`"
)
POLICY_REVIEW = (
    "autocast applies mixed precision to this block only; Keras's counterpart is a global policy, "
    "set before the model is built: every layer of the model computes in {dtype} everywhere "
    "(evaluation too) while its variables stay float32"
)
NO_POLICY_PLACE = (
    "; no statement building the model was found: call keras.mixed_precision.set_global_policy before it"
)


def blocks(body: Sequence[cst.BaseStatement]) -> Iterator[Sequence[cst.BaseStatement]]:
    """Every statement list (a block), nested ones included, outside class bodies."""
    yield body
    for stmt in body:
        for inner in child_blocks(stmt):
            yield from blocks(inner)


def _small(stmt: cst.BaseStatement) -> cst.BaseSmallStatement | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def _assigned(stmt: cst.BaseStatement) -> tuple[str, cst.BaseExpression] | None:
    a = _small(stmt)
    if isinstance(a, cst.Assign) and len(a.targets) == 1 and isinstance(a.targets[0].target, cst.Name):
        return a.targets[0].target.value, a.value
    return None


def moved(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``model.to(device).cuda()`` -> ``model``: the value under device moves."""
    while (
        isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in MOVES
    ):
        expr = expr.func.value
    return expr


def collect(plan: TrainingPlan, every: Sequence[cst.BaseStatement], rules: RuleSet, resolve: Resolve) -> None:
    """Names bound to torch objects whose methods have rules, functions, devices, autocast blocks;
    statements that go or change."""
    for stmt in every:
        if isinstance(stmt, cst.FunctionDef):
            plan.functions.add(stmt.name.value)
        hit = _assigned(stmt)
        if hit is not None and isinstance(hit[1], cst.Call):
            qual = resolve(hit[1].func)
            if qual in _OBJECTS:
                plan.objects[hit[0]] = SAMPLER if qual == "torch.utils.data.DistributedSampler" else qual
            elif qual == "torch.device":
                plan.devices.add(hit[0])
        if isinstance(stmt, cst.With) and len(stmt.items) == 1 and isinstance(stmt.items[0].item, cst.Call):
            call = stmt.items[0].item
            qual = resolve(call.func)
            if qual in AUTOCAST:
                plan.unwrap[id(stmt)] = Unwrap(qual, POLICY_REVIEW)
                plan.handled.add(id(call))
            elif qual == "torch.device":
                plan.handled.add(id(call))  # `with torch.device("cuda"):` -> `with tf.device("/GPU:0"):`
    for stmt in every:
        _statement(plan, stmt, rules, resolve)
    _samplers(plan, every, resolve)


def _samplers(plan: TrainingPlan, every: Sequence[cst.BaseStatement], resolve: Resolve) -> None:
    """``sampler = DistributedSampler(ds)`` taken by ``DataLoader(..., sampler=sampler)``: the
    DataLoader shards the dataset itself, the sampler's statement goes."""
    if SAMPLER not in plan.objects.values():
        return  # nothing to look for: spare the walk over every statement
    taken: set[str] = set()

    class Loaders:
        def visit_Call(self, node: cst.Call) -> None:
            if resolve(node.func) == "torch.utils.data.DataLoader":
                for a in node.args:
                    if (
                        a.keyword is not None
                        and a.keyword.value == "sampler"
                        and isinstance(a.value, cst.Name)
                    ):
                        taken.add(a.value.value)

    for stmt in every:
        if isinstance(stmt, cst.SimpleStatementLine):
            Walker(Loaders()).walk(stmt)
    for stmt in every:
        hit = _assigned(stmt)
        if (
            hit is not None
            and hit[0] in taken
            and plan.objects.get(hit[0]) == SAMPLER
            and isinstance(hit[1], cst.Call)
        ):
            plan.samplers[hit[0]] = hit[1]
            plan.statements[id(stmt)] = StatementAction(Action.DROP, quiet=True)
            plan.handled.add(id(hit[1]))


def finish(
    plan: TrainingPlan, module: cst.Module, every: Sequence[cst.BaseStatement], resolve: Resolve
) -> None:
    """Strategy scopes, scalers, the autocast policy's place."""
    _scalers(plan, every, resolve)
    for stmt in every:
        hit = _assigned(stmt)
        if hit is not None and isinstance(hit[1], cst.Call) and resolve(hit[1].func) in STRATEGIES:
            _parallel(plan, module, stmt, hit[0], hit[1], resolve)
    _policies(plan, module, resolve)


def _statement(plan: TrainingPlan, stmt: cst.BaseStatement, rules: RuleSet, resolve: Resolve) -> None:
    small = _small(stmt)
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        call = small.value
        qual = resolve(call.func) or _object_method(plan, call)
        rule = rules.by_name.get(qual) if qual is not None else None
        if rule is not None and rule.hook in _DROP_HOOKS:
            plan.statements[id(stmt)] = StatementAction(Action.DROP, why=rule.summary, quiet=True)
            plan.handled.add(id(call))
    elif isinstance(small, cst.Assign) and len(small.targets) == 1:
        target = small.targets[0].target
        qual = resolve(target)
        if qual in _SETTINGS:
            plan.handled.add(id(target))
            on = literal(small.value) is True
            if qual.endswith("deterministic") and on:
                act = StatementAction(
                    Action.CALL, call="tensorflow.config.experimental.enable_op_determinism"
                )
            elif qual.endswith("deterministic"):
                act = StatementAction(Action.DROP, why="cuDNN's deterministic flag off: TensorFlow's default")
            else:
                act = StatementAction(
                    Action.DROP,
                    why="cuDNN's autotuning flag: TensorFlow autotunes cuDNN by default "
                    "(TF_CUDNN_USE_AUTOTUNE)",
                )
            plan.statements[id(stmt)] = act


def _object_method(plan: TrainingPlan, call: cst.Call) -> str | None:
    """``writer.add_scalar`` where ``writer = SummaryWriter(...)``: the qualified method name."""
    f = call.func
    if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) and f.value.value in plan.objects:
        return f"{plan.objects[f.value.value]}.{f.attr.value}"
    return None


def object_method(plan: TrainingPlan, call: cst.Call) -> str | None:
    return _object_method(plan, call)


def _scalers(plan: TrainingPlan, every: Sequence[cst.BaseStatement], resolve: Resolve) -> None:
    """Each GradScaler and the optimizer it steps (``scaler.step(optimizer)``), for the
    LossScaleOptimizer it becomes; built before that optimizer it cannot wrap it."""
    order = {id(s): i for i, s in enumerate(every)}
    steps: dict[str, str] = {}
    for stmt in every:
        small = _small(stmt)
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            f = small.value.func
            args = small.value.args
            if (
                isinstance(f, cst.Attribute)
                and f.attr.value == "step"
                and isinstance(f.value, cst.Name)
                and plan.objects.get(f.value.value) in SCALERS
                and len(args) == 1
                and isinstance(args[0].value, cst.Name)
            ):
                steps[f.value.value] = args[0].value.value
    built = {name: i for i, s in enumerate(every) if (h := _assigned(s)) is not None for name in [h[0]]}
    for stmt in every:
        hit = _assigned(stmt)
        if hit is None or plan.objects.get(hit[0]) not in SCALERS or not isinstance(hit[1], cst.Call):
            continue
        opt = steps.get(hit[0])
        if opt is None:
            plan.scalers[id(hit[1])] = "?no step"
        elif opt in plan.optimizers and built.get(opt, -1) > order[id(stmt)]:
            plan.scalers[id(hit[1])] = "?after"
        else:
            plan.scalers[id(hit[1])] = opt


def _model_statement(
    plan: TrainingPlan, module: cst.Module, names: set[str], skip: set[int]
) -> tuple[Sequence[cst.BaseStatement], int] | None:
    """The block and index of the first statement that builds one of ``names`` (``model = Net()``)."""
    for block in blocks(module.body):
        for i, s in enumerate(block):
            hit = _assigned(s)
            if hit is not None and hit[0] in names and id(s) not in skip and isinstance(hit[1], cst.Call):
                return block, i
    return None


def _parallel(
    plan: TrainingPlan,
    module: cst.Module,
    stmt: cst.BaseStatement,
    name: str,
    call: cst.Call,
    resolve: Resolve,
) -> None:
    """``model = nn.DataParallel(model)``: the model itself, built with its optimizer inside
    ``with strategy.scope():`` when ``model.fit`` trains it (a hand-written step is marked)."""
    qual = resolve(call.func)
    assert qual is not None
    inner = moved(call.args[0].value) if call.args else None
    models = {name} | ({code_of(inner)} if isinstance(inner, cst.Name) else set())
    if not any(f.model in models for f in plan.fits.values()):
        looped = any(lp.model in models for lp in plan.loops.values())
        plan.parallel[id(call)] = NO_FIT if looped else NO_TRAIN
        return
    found = _model_statement(plan, module, models, {id(stmt)})
    opts = {id(o.call) for o in plan.optimizers.values() if o.model in models}
    if found is not None:
        block, first = found
        for j in range(first, len(block)):
            hit = _assigned(block[j])
            if hit is not None and id(hit[1]) in opts:
                plan.scopes[id(block[first])] = StrategyScope(id(block[j]), STRATEGIES[qual], qual)
                plan.parallel[id(call)] = ""
                return
    plan.parallel[id(call)] = NO_BLOCK


def _policies(plan: TrainingPlan, module: cst.Module, resolve: Resolve) -> None:
    """Each autocast block's policy goes before the statement that builds the trained model."""
    for with_id, unwrap in list(plan.unwrap.items()):
        found = _model_statement(plan, module, plan.model_names, set())
        if found is None:
            plan.unwrap[with_id] = replace(unwrap, review=unwrap.review + NO_POLICY_PLACE)
            continue
        block, i = found
        plan.unwrap[with_id] = replace(unwrap, policy_before=id(block[i]))
        plan.policies.setdefault(id(block[i]), with_id)


__all__ = [
    "AUTOCAST",
    "MOVES",
    "SCALERS",
    "STRATEGIES",
    "WRITER",
    "blocks",
    "collect",
    "finish",
    "moved",
    "object_method",
]
