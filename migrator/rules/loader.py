"""Load rule files (TOML) from directories and validate them, with errors naming file, rule and field."""

from __future__ import annotations

import enum
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import libcst as cst

from migrator.rules.schema import (
    ArgSpec,
    Contract,
    Example,
    Rule,
    RuleKind,
    TrainingSpec,
    TrainRole,
    ValueTransform,
)
from migrator.types import Direction


class RuleError(ValueError):
    """An invalid rule file. The message is one line: ``file: rule id: field: problem``."""

    def __init__(self, path: Path, rule_id: str | None, field_name: str | None, problem: str):
        parts = [str(path)]
        if rule_id:
            parts.append(f"rule {rule_id}")
        if field_name:
            parts.append(f"field {field_name!r}")
        parts.append(problem)
        super().__init__(": ".join(parts))
        self.path = path
        self.rule_id = rule_id
        self.field_name = field_name


_RULE_KEYS = {
    "id",
    "kind",
    "match",
    "params",
    "emit",
    "args",
    "set",
    "hook",
    "weights",
    "contract",
    "rank",
    "summary",
    "notes",
    "examples",
    "unchanged",
    "unsupported",
    "shape",
    "infer",
    "signature",
    "lazy",
    "training",
}
_TRAINING_KEYS = {
    "role",
    "stock",
    "stock_unless",
    "stock_unless_scheduled",
    "stock_set",
    "stock_reductions",
    "targets",
    "compare_params",
    "template",
    "defaults",
    "split",
    "review_unless",
    "stock_if",
    "join",
}
_TARGET_KINDS = ("class_index", "binary", "probs", "real")
_ARG_KEYS = {
    "to",
    "drop",
    "skip_if",
    "values",
    "only",
    "reason",
    "axis",
    "value",
    "positional",
    "review",
    "default",
    "activation",
}


@dataclass(frozen=True)
class RuleSet:
    """Rules indexed for matching. Built once per run; never mutated."""

    rules: tuple[Rule, ...]
    by_name: Mapping[str, Rule] = field(default_factory=dict)
    by_method: Mapping[str, Rule] = field(default_factory=dict)

    def get(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None


class _Default(enum.Enum):
    """The type of :data:`_DEFAULT`: "use the default cache directory"."""

    TOKEN = enum.auto()


_DEFAULT = _Default.TOKEN


def default_rule_dir(direction: Direction) -> Path:
    """The rule directory shipped inside the package (found through the import system, which
    also knows an editable install's mapping; ``importlib.resources`` would cost ~3 ms of imports
    on every ``check``)."""
    spec = importlib.util.find_spec("migrator.rules_data")
    if spec is None or not spec.submodule_search_locations:
        raise RuleError(
            Path(__file__).parent, None, None, "the shipped rules (migrator.rules_data) are not installed"
        )
    return Path(next(iter(spec.submodule_search_locations))) / direction.value


def load_rules(
    direction: Direction, extra_dirs: Iterable[Path] = (), cache_dir: Path | _Default | None = _DEFAULT
) -> RuleSet:
    """Load the shipped rules for ``direction`` and then each extra directory.

    A rule in a later directory that matches the same API as an earlier one replaces it, so users
    can override shipped behaviour; duplicate ids within one directory are an error. A load that
    succeeds is kept in ``cache_dir`` (default: :func:`migrator.rules.cache.default_cache_dir`;
    None: no cache) and read from there while no rule file changes.
    """
    from migrator.rules import cache

    dirs = [default_rule_dir(direction), *extra_dirs]
    files: list[tuple[Path, list[Path]]] = []
    for d in dirs:
        if not d.is_dir():
            raise RuleError(d, None, None, "rule directory does not exist")
        files.append((d, sorted(d.rglob("*.toml"))))
    where = cache.default_cache_dir() if isinstance(cache_dir, _Default) else cache_dir
    key = cache.cache_key(direction, [f for _, fs in files for f in fs]) if where is not None else None
    if where is not None and key is not None:
        entry = cache.read(where, key)
        if isinstance(entry, RuleSet):
            return entry
    rules = _load_dirs(files, direction)
    if where is not None and key is not None:
        cache.write(where, key, rules)
    return rules


def _load_dirs(files: list[tuple[Path, list[Path]]], direction: Direction) -> RuleSet:
    ordered: dict[str, Rule] = {}  # match key -> rule, later directories win
    seen_ids: dict[str, Path] = {}
    all_rules: list[Rule] = []
    for _, paths in files:
        dir_ids: set[str] = set()
        for path in paths:
            for rule in _load_file(path, direction):
                if rule.id in dir_ids:
                    raise RuleError(path, rule.id, "id", f"duplicate rule id (also in {seen_ids[rule.id]})")
                dir_ids.add(rule.id)
                seen_ids[rule.id] = path
                all_rules.append(rule)
                for m in rule.match:
                    ordered[m] = rule
    by_name = {k: r for k, r in ordered.items() if r.kind is not RuleKind.METHOD}
    by_method = {k.removeprefix("Tensor."): r for k, r in ordered.items() if r.kind is RuleKind.METHOD}
    live = {id(r) for r in ordered.values()}
    return RuleSet(
        rules=tuple(r for r in all_rules if id(r) in live),
        by_name=MappingProxyType(by_name),
        by_method=MappingProxyType(by_method),
    )


def _load_file(path: Path, direction: Direction) -> list[Rule]:
    import tomllib  # not needed when the rules come from the cache

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise RuleError(path, None, None, f"not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(path, None, None, f"invalid TOML: {exc}") from None
    unknown = set(data) - {"rule"}
    if unknown:
        raise RuleError(path, None, sorted(unknown)[0], "unknown top-level key (expected [[rule]])")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise RuleError(path, None, "rule", "must be an array of tables ([[rule]])")
    return [_parse_rule(path, raw, direction) for raw in raw_rules]


def _check_code(path: Path, rule_id: str, field_name: str, text: object) -> str:
    if not isinstance(text, str):
        raise RuleError(path, rule_id, field_name, f"must be Python code as a string, got {text!r}")
    try:
        cst.parse_expression(text)
    except cst.ParserSyntaxError:
        raise RuleError(path, rule_id, field_name, f"not a Python expression: {text!r}") from None
    return text


def _str(path: Path, rule_id: str, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise RuleError(path, rule_id, name, f"must be a string, got {type(value).__name__}")
    return value


def _str_tuple(path: Path, rule_id: str, name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(path, rule_id, name, "must be a string or a list of strings")
    return tuple(value)


def _enum(path: Path, rule_id: str, name: str, value: object, enum_type: Any) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(e.value) for e in enum_type)
        raise RuleError(path, rule_id, name, f"{value!r} is not one of {choices}") from None


def _parse_rule(path: Path, raw: Any, direction: Direction) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(path, None, None, "each [[rule]] must be a table")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise RuleError(path, None, "id", "every rule needs a non-empty string id")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RuleError(path, rule_id, sorted(unknown)[0], "unknown field")
    if "kind" not in raw:
        raise RuleError(path, rule_id, "kind", "missing")
    kind: RuleKind = _enum(path, rule_id, "kind", raw["kind"], RuleKind)
    if "match" not in raw:
        raise RuleError(path, rule_id, "match", "missing")
    match = _str_tuple(path, rule_id, "match", raw["match"])
    if kind is RuleKind.METHOD and not all(m.startswith("Tensor.") for m in match):
        raise RuleError(path, rule_id, "match", "method rules match 'Tensor.<name>'")
    params = _str_tuple(path, rule_id, "params", raw.get("params", []))
    emit = raw.get("emit")
    if emit is not None:
        emit = _str(path, rule_id, "emit", emit)
    hook = raw.get("hook")
    if hook is not None:
        from migrator.transforms import hooks_for

        hooks = hooks_for(direction)
        hook = _str(path, rule_id, "hook", hook)
        if hook not in hooks:
            raise RuleError(
                path, rule_id, "hook", f"unknown hook {hook!r} (known: {', '.join(sorted(hooks))})"
            )
    unsupported = raw.get("unsupported")
    if unsupported is not None:
        unsupported = _str(path, rule_id, "unsupported", unsupported)
    if emit is None and hook is None and unsupported is None and kind is not RuleKind.BASE:
        raise RuleError(path, rule_id, "emit", "a rule needs 'emit', 'hook' or 'unsupported'")
    args_raw = raw.get("args", {})
    if not isinstance(args_raw, dict):
        raise RuleError(path, rule_id, "args", "must be a table")
    args = {}
    for name, spec in args_raw.items():
        if params and name not in params:
            raise RuleError(path, rule_id, f"args.{name}", f"not in params {list(params)}")
        args[name] = _parse_arg(path, rule_id, name, spec)
    set_raw = raw.get("set", {})
    if not isinstance(set_raw, dict):
        raise RuleError(path, rule_id, "set", "must be a table")
    set_ = {k: _check_code(path, rule_id, f"set.{k}", v) for k, v in set_raw.items()}
    weights = raw.get("weights")
    if weights is not None:
        weights = _str(path, rule_id, "weights", weights)
    contract: Contract = _enum(path, rule_id, "contract", raw.get("contract", "none"), Contract)
    rank = raw.get("rank")
    if rank is not None and (not isinstance(rank, int) or rank < 2):
        raise RuleError(path, rule_id, "rank", "must be an integer >= 2")
    examples = []
    for i, ex in enumerate(raw.get("examples", [])):
        if not isinstance(ex, dict) or set(ex) != {"before", "after"}:
            raise RuleError(path, rule_id, f"examples[{i}]", "needs exactly 'before' and 'after'")
        examples.append(
            Example(
                before=_str(path, rule_id, f"examples[{i}].before", ex["before"]),
                after=_str(path, rule_id, f"examples[{i}].after", ex["after"]),
            )
        )
    shape = raw.get("shape")
    if shape is not None:
        from migrator.engine.tf2torch.shapes import SHAPES

        shape = _str(path, rule_id, "shape", shape)
        if shape not in SHAPES:
            raise RuleError(
                path,
                rule_id,
                "shape",
                f"unknown shape function {shape!r} (known: {', '.join(sorted(SHAPES))})",
            )
    infer_raw = raw.get("infer", {})
    if not isinstance(infer_raw, dict) or not all(v == "channels" for v in infer_raw.values()):
        raise RuleError(path, rule_id, "infer", 'must be a table of target keyword -> "channels"')
    lazy = raw.get("lazy")
    if lazy is not None:
        lazy = _str(path, rule_id, "lazy", lazy)
    return Rule(
        id=rule_id,
        kind=kind,
        match=match,
        source=path,
        params=params,
        emit=emit,
        args=MappingProxyType(args),
        set=MappingProxyType(set_),
        hook=hook,
        weights=weights,
        contract=contract,
        rank=rank,
        summary=_str(path, rule_id, "summary", raw.get("summary", "")),
        notes=_str_tuple(path, rule_id, "notes", raw.get("notes", [])),
        examples=tuple(examples),
        unchanged=_str_tuple(path, rule_id, "unchanged", raw.get("unchanged", [])),
        unsupported=unsupported,
        shape=shape,
        infer=MappingProxyType(dict(infer_raw)),
        signature=_str_tuple(path, rule_id, "signature", raw.get("signature", [])),
        lazy=lazy,
        training=_parse_training(path, rule_id, raw["training"]) if "training" in raw else None,
    )


def _code_table(path: Path, rule_id: str, where: str, raw: object) -> Mapping[str, str]:
    if not isinstance(raw, dict):
        raise RuleError(path, rule_id, where, "must be a table of name -> code")
    return MappingProxyType({k: _check_code(path, rule_id, f"{where}.{k}", v) for k, v in raw.items()})


def _name_lists(path: Path, rule_id: str, where: str, raw: object) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise RuleError(path, rule_id, where, "must be a table of name -> [names]")
    return MappingProxyType({k: _str_tuple(path, rule_id, f"{where}.{k}", v) for k, v in raw.items()})


def _parse_training(path: Path, rule_id: str, raw: Any) -> TrainingSpec:
    if not isinstance(raw, dict):
        raise RuleError(path, rule_id, "training", "must be a table")
    unknown = set(raw) - _TRAINING_KEYS
    if unknown:
        raise RuleError(path, rule_id, f"training.{sorted(unknown)[0]}", "unknown field")
    role: TrainRole = _enum(path, rule_id, "training.role", raw.get("role"), TrainRole)
    targets = raw.get("targets")
    if targets is not None and targets not in _TARGET_KINDS:
        raise RuleError(path, rule_id, "training.targets", f"must be one of {', '.join(_TARGET_KINDS)}")
    if role in (TrainRole.LOSS, TrainRole.LOSS_FN) and targets is None:
        raise RuleError(path, rule_id, "training.targets", "a loss rule says what targets it takes")
    template = raw.get("template")
    if template is not None:
        template = _str(path, rule_id, "training.template", template)
    compare = raw.get("compare_params", False)
    if not isinstance(compare, bool):
        raise RuleError(path, rule_id, "training.compare_params", "must be true or false")
    stock = raw.get("stock")
    return TrainingSpec(
        role=role,
        stock=_str(path, rule_id, "training.stock", stock) if stock is not None else None,
        stock_unless=_code_table(path, rule_id, "training.stock_unless", raw.get("stock_unless", {})),
        stock_unless_scheduled=_str_tuple(
            path, rule_id, "training.stock_unless_scheduled", raw.get("stock_unless_scheduled", [])
        ),
        stock_set=_code_table(path, rule_id, "training.stock_set", raw.get("stock_set", {})),
        stock_reductions=_str_tuple(
            path, rule_id, "training.stock_reductions", raw.get("stock_reductions", [])
        ),
        targets=targets,
        compare_params=compare,
        template=template,
        defaults=_code_table(path, rule_id, "training.defaults", raw.get("defaults", {})),
        review_unless=_code_table(path, rule_id, "training.review_unless", raw.get("review_unless", {})),
        stock_if=_code_table(path, rule_id, "training.stock_if", raw.get("stock_if", {})),
        join=_name_lists(path, rule_id, "training.join", raw.get("join", {})),
        split=_name_lists(path, rule_id, "training.split", raw.get("split", {})),
    )


def _parse_arg(path: Path, rule_id: str, name: str, spec: Any) -> ArgSpec:
    where = f"args.{name}"
    if not isinstance(spec, dict):
        raise RuleError(path, rule_id, where, "must be an inline table, e.g. { to = 'units' }")
    unknown = set(spec) - _ARG_KEYS
    if unknown:
        raise RuleError(path, rule_id, f"{where}.{sorted(unknown)[0]}", "unknown field")
    values = spec.get("values", {})
    if not isinstance(values, dict):
        raise RuleError(path, rule_id, f"{where}.values", "must be a table of code -> code")
    for k, v in values.items():
        _check_code(path, rule_id, f"{where}.values", k)
        _check_code(path, rule_id, f"{where}.values", v)
    only = _str_tuple(path, rule_id, f"{where}.only", spec.get("only", []))
    for v in only:
        _check_code(path, rule_id, f"{where}.only", v)
    skip_if = spec.get("skip_if")
    if skip_if is not None:
        skip_if = _check_code(path, rule_id, f"{where}.skip_if", skip_if)
    default = spec.get("default")
    if default is not None:
        default = _check_code(path, rule_id, f"{where}.default", default)
    value = spec.get("value")
    if value is not None:
        value = _enum(path, rule_id, f"{where}.value", value, ValueTransform)
    for flag in ("drop", "axis", "positional", "activation"):
        if not isinstance(spec.get(flag, False), bool):
            raise RuleError(path, rule_id, f"{where}.{flag}", "must be true or false")
    to = spec.get("to")
    if to is not None:
        to = _str(path, rule_id, f"{where}.to", to)
    return ArgSpec(
        to=to,
        drop=spec.get("drop", False),
        skip_if=skip_if,
        values=MappingProxyType(dict(values)),
        only=only,
        reason=_str(path, rule_id, f"{where}.reason", spec.get("reason", "")),
        axis=spec.get("axis", False),
        value=value,
        positional=spec.get("positional", False),
        review=_str(path, rule_id, f"{where}.review", spec.get("review", "")),
        default=default,
        activation=spec.get("activation", False),
    )
