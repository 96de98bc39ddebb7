"""Migrate one source text: parse, resolve imports, transform, then rewrite the import block."""

from __future__ import annotations

import re
from functools import lru_cache

import libcst as cst

from migrator.engine.codegen import module_code
from migrator.engine.emitter import Emitter, code_of
from migrator.engine.names import build_import_table, dotted, import_bindings
from migrator.engine.parse import parse_module
from migrator.engine.positions import HOOK_TYPES, PositionTracker, index_module
from migrator.engine.train_plan import TrainingPlan
from migrator.engine.transformer import TorchToKeras
from migrator.engine.walk import Walker
from migrator.rules.loader import RuleSet
from migrator.types import ClassRecord, Direction, MigrationRecord, MigrationResult

HEADER = "# Migrated from PyTorch by fwmigrate (torch2tf). Feature maps are channels-last (NHWC)."
# the short names the output would bind (`from keras import layers, ops`, `import tensorflow as tf`)
_SHORT_NAMES = re.compile(r"(?<![\w.])(layers|ops|tf)\b")
# a file without any of these words has no training code: the training scan is skipped
_TRAINING_WORDS = re.compile(
    r"optim|backward|no_grad|inference_mode|state_dict|\bsave\b|\bload\b|Loss|loss|DataLoader|Dataset"
    r"|device|distributed|DataParallel|SummaryWriter|autocast|GradScaler|compile|jit|cudnn"
)
# Strings and comments, so that a comment saying "three layers" does not count as a use of `layers`.
_STRINGS_AND_COMMENTS = re.compile(
    r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|#[^\n]*'
)


def migrate_torch_source(source: str, rules: RuleSet, source_name: str = "<stdin>") -> MigrationResult:
    """Migrate PyTorch source text to Keras 3. Raises ``libcst.ParserSyntaxError`` on bad syntax."""
    module = parse_module(source)
    imports = build_import_table(module, frozenset({"torch"}))
    if not imports.bindings:
        record = MigrationRecord(Direction.TORCH2TF, source_name, (), ())
        return MigrationResult(source, (), record, changed=False)
    code_only = _STRINGS_AND_COMMENTS.sub(" ", source)
    taken = frozenset(_SHORT_NAMES.findall(code_only))
    emitter = Emitter(taken)
    torch_classes = frozenset(_torch_classes(module, imports.resolve))
    tracker = PositionTracker(index_module(source))
    plan = TrainingPlan()
    if _TRAINING_WORDS.search(code_only):  # the scanner is imported only for files that may train
        from migrator.engine.train_scan import scan

        plan = scan(module, rules, imports.resolve)
    transformer = TorchToKeras(rules, imports, emitter, torch_classes, tracker, plan)
    new = Walker(transformer, tracker.enter, tracker.exit, HOOK_TYPES).walk(module)
    new = _layers_not_models(new, transformer.used_as_layer, emitter)
    new = _rewrite_imports(new, transformer.kept_roots, emitter.import_lines())
    classes = tuple(
        ClassRecord(
            name,
            "keras.layers.Layer" if name in transformer.used_as_layer else base,
            inputs,
            outputs,
        )
        for name, (base, inputs, outputs) in transformer.class_records.items()
    )
    training = None
    if plan.found:
        from migrator.engine.train_record import training_record

        training = training_record(plan, transformer.train_code, rules, imports.resolve, module)
    record = MigrationRecord(Direction.TORCH2TF, source_name, classes, tuple(transformer.records), training)
    findings = tuple(sorted(transformer.findings))
    code = module_code(new)
    return MigrationResult(code, findings, record, changed=code != source)


def _torch_classes(module: cst.Module, resolve: object) -> set[str]:
    out = set()
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef):
            for b in stmt.bases:
                if resolve(b.value) == "torch.nn.Module":  # type: ignore[operator]
                    out.add(stmt.name.value)
    return out


def _layers_not_models(module: cst.Module, names: set[str], emitter: Emitter) -> cst.Module:
    """Classes that other modules build are ``keras.layers.Layer``; the outermost stay ``keras.Model``."""
    if not names:
        return module
    body = []
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value in names:
            bases = [
                b.with_changes(value=emitter.name("keras.layers.Layer"))
                if code_of(b.value) == "keras.Model"
                else b
                for b in stmt.bases
            ]
            stmt = stmt.with_changes(bases=bases)
        body.append(stmt)
    return module.with_changes(body=body)


def _rewrite_imports(module: cst.Module, kept_roots: set[str], wanted: list[str]) -> cst.Module:
    """Drop torch imports nothing refers to any more; add the keras imports the output uses."""
    body = list(module.body)
    existing = {_import_text(s) for s in body if isinstance(s, cst.SimpleStatementLine)}
    insert_at: int | None = None
    leading: list[cst.EmptyLine] = []
    new_body: list[cst.BaseStatement] = []
    for stmt in body:
        if (
            isinstance(stmt, cst.SimpleStatementLine)
            and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Import | cst.ImportFrom)
        ):
            imp = stmt.body[0]
            kept_names = []
            touched = False
            for alias in imp.names if not isinstance(imp.names, cst.ImportStar) else []:
                bs = import_bindings(_single(imp, alias))
                is_torch = any(b.qualified.split(".", 1)[0] == "torch" for b in bs)
                if is_torch and not any(b.local in kept_roots for b in bs):
                    touched = True
                    continue
                kept_names.append(alias)
            if touched:
                if insert_at is None:
                    insert_at = len(new_body)
                    leading = list(stmt.leading_lines)
                if kept_names:
                    kept_names[-1] = kept_names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                    new_body.append(stmt.with_changes(body=[imp.with_changes(names=kept_names)]))
                continue
        new_body.append(stmt)
    if insert_at is None:
        insert_at = _after_docstring(new_body)
    lines = [w for w in wanted if w not in existing]
    new_stmts: list[cst.SimpleStatementLine | cst.BaseCompoundStatement] = [_parse_import(w) for w in lines]
    has_header = any(
        line.comment is not None and line.comment.value == HEADER
        for line in [
            *module.header,
            *(x for s in new_body for x in getattr(s, "leading_lines", ())),
        ]
    )
    if not has_header:
        header = [*leading, cst.EmptyLine(comment=cst.Comment(HEADER))]
        if new_stmts:
            new_stmts[0] = new_stmts[0].with_changes(leading_lines=header)
        elif insert_at < len(new_body):
            first = new_body[insert_at]
            if isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement):
                new_body[insert_at] = first.with_changes(leading_lines=[*header, *first.leading_lines])
    elif new_stmts and leading:
        new_stmts[0] = new_stmts[0].with_changes(leading_lines=leading)
    new_body[insert_at:insert_at] = new_stmts
    return module.with_changes(body=new_body)


def _import_text(stmt: cst.SimpleStatementLine) -> str | None:
    """``import a.b as c`` / ``from a import b, c`` in canonical spelling (whatever the spacing,
    comments and parentheses), for a line that is one import; else None."""
    if len(stmt.body) != 1:
        return None
    imp = stmt.body[0]
    if not isinstance(imp, cst.Import | cst.ImportFrom) or isinstance(imp.names, cst.ImportStar):
        return None
    names = []
    for alias in imp.names:
        name = dotted(alias.name)
        asname = alias.asname.name if alias.asname is not None else None
        if name is None or not (asname is None or isinstance(asname, cst.Name)):
            return None
        names.append(name if asname is None else f"{name} as {asname.value}")
    if isinstance(imp, cst.Import):
        return f"import {', '.join(names)}"
    module = dotted(imp.module) if imp.module is not None else ""
    if module is None:
        return None
    return f"from {'.' * len(imp.relative)}{module} import {', '.join(names)}"


def _single(imp: cst.Import | cst.ImportFrom, alias: cst.ImportAlias) -> cst.Import | cst.ImportFrom:
    return imp.with_changes(names=[alias.with_changes(comma=cst.MaybeSentinel.DEFAULT)])


def _after_docstring(body: list[cst.BaseStatement]) -> int:
    i = 0
    while i < len(body):
        s = body[i]
        if isinstance(s, cst.SimpleStatementLine) and len(s.body) == 1:
            small = s.body[0]
            if isinstance(small, cst.Expr) and isinstance(
                small.value, cst.SimpleString | cst.ConcatenatedString
            ):
                i += 1
                continue
            if isinstance(small, cst.ImportFrom) and code_of(small).startswith("from __future__"):
                i += 1
                continue
        break
    return i


@lru_cache(maxsize=64)
def _parse_import(line: str) -> cst.SimpleStatementLine | cst.BaseCompoundStatement:
    return cst.parse_statement(line + "\n")
