"""The record's ``"training"`` key (what ``verify --train-steps`` builds on each side) parsed into
frozen values, with the error that names what is wrong in it."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from migrator.verify.driver import UserCodeError
from migrator.verify.result import TrainingCode

TARGET_KINDS = ("class_index", "binary", "probs", "real")
SCHEDULE_STEPS = ("epoch", "batch", "plateau", "callback", "optimizer")
CLIP_KINDS = ("norm", "tensor_norm", "value")  # global norm, each tensor's norm, each value


class TrainingError(UserCodeError):
    """Training could not run: a bad record, an expression that fails, a step that raises. One line."""


def flat_code(expr: str) -> str:
    """Code on one line, for a one-line message."""
    return " ".join(expr.split())


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# The plan: the record's "training" key


@dataclass(frozen=True)
class Clip:
    kind: str  # one of CLIP_KINDS
    value: float

    def code(self, framework: str) -> str:
        v = repr(float(self.value))
        if framework == "torch":
            return {
                "norm": f"torch.nn.utils.clip_grad_norm_(model.parameters(), {v})",
                "tensor_norm": f"torch.nn.utils.clip_grad_norm_(p, {v}) for each parameter p",
                "value": f"torch.nn.utils.clip_grad_value_(model.parameters(), {v})",
            }[self.kind]
        return {
            "norm": f"tf.clip_by_global_norm(grads, {v})",
            "tensor_norm": f"tf.clip_by_norm(g, {v}) for each gradient g",
            "value": f"tf.clip_by_value(g, -{v}, {v}) for each gradient g",
        }[self.kind]


@dataclass(frozen=True)
class Schedule:
    name: str  # an expression, usually the setup name of the scheduler
    step: str  # one of SCHEDULE_STEPS


@dataclass(frozen=True)
class SidePlan:
    """One side's training set-up: expressions from that side's file."""

    model: str  # the name the setup expressions use for the model
    setup: tuple[tuple[str, str], ...]  # (name, expression), evaluated in order
    optimizer: str
    loss: str  # evaluated with _fwm_pred and _fwm_target bound; a scalar
    schedule: Schedule | None = None
    clip: Clip | None = None

    def definition(self, expr: str, exclude: frozenset[str] = frozenset()) -> str:
        """``expr`` with the setup entries it names (and theirs, in setup order) as ``name = ...``
        lines; names in ``exclude`` (the other parts of the set-up) are not followed."""
        wanted = _names(expr) - exclude
        lines: list[str] = []
        for name, text in reversed(self.setup):
            if name in wanted:
                lines.append(f"{name} = {text}")
                wanted |= _names(text) - exclude
        lines.reverse()
        if expr not in dict(self.setup):
            lines.append(expr)
        return "\n".join(lines)

    def parts(self) -> dict[str, frozenset[str]]:
        """The names each part's code does not follow: the other parts' setup names."""
        own = {
            "optimizer": _names(self.optimizer),
            "schedule": _names(self.schedule.name) if self.schedule is not None else set(),
            "loss": set(),
        }
        bound = {name for name, _ in self.setup} | {self.model}
        return {
            part: frozenset((set().union(*(v for k, v in own.items() if k != part)) | {self.model}) & bound)
            for part in own
        }


def _names(expr: str) -> set[str]:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


@dataclass(frozen=True)
class TrainingPlan:
    """What the migration recorded about training: ``source`` is the original file's side,
    ``target`` the migrated file's."""

    targets: str  # one of TARGET_KINDS
    source: SidePlan
    target: SidePlan
    compare_params: bool = False
    uses: Mapping[str, str] = field(default_factory=dict)  # rule ids, by part
    notes: tuple[str, ...] = ()

    @staticmethod
    def from_record(record: Mapping[str, Any]) -> TrainingPlan | None:
        """The plan of a migration record; None when it has no ``"training"`` key."""
        data = record.get("training")
        return None if data is None else TrainingPlan.parse(data)

    @staticmethod
    def parse(data: Any) -> TrainingPlan:
        """Raises ``TrainingError`` naming the key that is wrong."""
        where = "the migration record's training"
        if not isinstance(data, Mapping):
            raise TrainingError(f"{where} is not an object")
        targets = data.get("targets")
        if targets not in TARGET_KINDS:
            raise TrainingError(f"{where}.targets is {targets!r}, not one of {', '.join(TARGET_KINDS)}")
        uses = data.get("uses") or {}
        notes = data.get("notes") or []
        if not isinstance(uses, Mapping) or not isinstance(notes, list):
            raise TrainingError(f"{where}: uses must be an object and notes a list")
        return TrainingPlan(
            targets=str(targets),
            source=_side(data.get("source"), f"{where}.source"),
            target=_side(data.get("target"), f"{where}.target"),
            compare_params=bool(data.get("compare_params", False)),
            uses={str(k): str(v) for k, v in uses.items()},
            notes=tuple(str(n) for n in notes),
        )

    def codes(self) -> dict[str, TrainingCode | None]:
        """Optimizer, loss and schedule as source and target code, for the report."""
        s, t = self.source, self.target
        sx, tx = s.parts(), t.parts()

        def schedule(side: SidePlan, exclude: frozenset[str]) -> str:
            if side.schedule is None:
                return "(none)"
            how = {
                "epoch": "step() after every epoch",
                "batch": "step() after every optimizer step",
                "plateau": "step(epoch mean loss) after every epoch",
                "callback": "Keras callback: on_epoch_begin / on_epoch_end",
                "optimizer": "a LearningRateSchedule inside the optimizer",
            }[side.schedule.step]
            return f"{side.definition(side.schedule.name, exclude)}\n# {how}"

        return {
            "optimizer": TrainingCode(
                s.definition(s.optimizer, sx["optimizer"]), t.definition(t.optimizer, tx["optimizer"])
            ),
            "loss": TrainingCode(s.definition(s.loss, sx["loss"]), t.definition(t.loss, tx["loss"])),
            "schedule": (
                TrainingCode(schedule(s, sx["schedule"]), schedule(t, tx["schedule"]))
                if s.schedule or t.schedule
                else None
            ),
        }


def _side(data: Any, where: str) -> SidePlan:
    if not isinstance(data, Mapping):
        raise TrainingError(f"{where} is missing or not an object")

    def text(key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise TrainingError(f"{where}.{key} must be an expression (a non-empty string)")
        return value

    setup = []
    for k, entry in enumerate(data.get("setup") or []):
        if not (
            isinstance(entry, list | tuple)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and entry[0].isidentifier()
            and isinstance(entry[1], str)
        ):
            raise TrainingError(f"{where}.setup[{k}] is not a [name, expression] pair")
        setup.append((entry[0], entry[1]))
    schedule = None
    if data.get("schedule") is not None:
        sched = data["schedule"]
        if not isinstance(sched, Mapping) or sched.get("step") not in SCHEDULE_STEPS:
            raise TrainingError(
                f"{where}.schedule must be null or {{name, step}} with step one of "
                + ", ".join(SCHEDULE_STEPS)
            )
        if not isinstance(sched.get("name"), str) or not sched["name"]:
            raise TrainingError(f"{where}.schedule.name must be an expression")
        schedule = Schedule(sched["name"], sched["step"])
    clip = None
    if data.get("clip") is not None:
        c = data["clip"]
        if not isinstance(c, Mapping) or c.get("kind") not in CLIP_KINDS:
            raise TrainingError(f"{where}.clip must be null or {{kind: norm|value, value}}")
        try:
            clip = Clip(str(c["kind"]), float(c["value"]))
        except (KeyError, TypeError, ValueError):
            raise TrainingError(f"{where}.clip.value must be a number") from None
    return SidePlan(
        model=text("model"),
        setup=tuple(setup),
        optimizer=text("optimizer"),
        loss=text("loss"),
        schedule=schedule,
        clip=clip,
    )
