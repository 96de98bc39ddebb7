"""Migrate one Keras source text to PyTorch: parse, analyse shapes, transform, rewrite imports."""

from __future__ import annotations

import re
from types import MappingProxyType

import libcst as cst

from migrator.engine.codegen import module_code
from migrator.engine.emitter import code_of
from migrator.engine.migrate import _STRINGS_AND_COMMENTS, _after_docstring
from migrator.engine.migrate import HEADER as TORCH2TF_HEADER
from migrator.engine.names import ImportTable, build_import_table, import_bindings
from migrator.engine.parse import parse_module
from migrator.engine.positions import HOOK_TYPES, PositionTracker, index_module
from migrator.engine.tf2torch.analysis import Analysis, canonical, keras_side
from migrator.engine.tf2torch.eco_scan import scan as scan_ecosystem
from migrator.engine.tf2torch.emit import TorchEmitter
from migrator.engine.tf2torch.shapes import Dim, Shape
from migrator.engine.tf2torch.support import NEEDS, SUPPORT
from migrator.engine.tf2torch.train_scan import scan as scan_training
from migrator.engine.tf2torch.transformer import KerasToTorch
from migrator.engine.tf2torch.values import LayerVal, SeqBuilder, TensorVal
from migrator.engine.values import literal
from migrator.engine.walk import Walker
from migrator.rules.loader import RuleSet
from migrator.types import (
    ClassRecord,
    Direction,
    Finding,
    MigrationRecord,
    MigrationResult,
    Severity,
    TensorLayout,
)

HEADER = "# Migrated from Keras by fwmigrate (tf2torch). Feature maps are channels-first (NCHW)."
_ROOTS = frozenset({"keras", "tensorflow"})


def migrate_keras_source(
    source: str, rules: RuleSet, source_name: str = "<stdin>", input_shape: Shape | None = None
) -> MigrationResult:
    """Migrate Keras 3 / tf.keras source text to PyTorch. Raises ``libcst.ParserSyntaxError``.

    ``input_shape`` (Keras layout, without the batch axis) declares the input of every model class
    that neither declares one (``model.build(...)``) nor is used inside another class."""
    module = parse_module(source)
    imports = build_import_table(module, _ROOTS | {"migrator"})
    imports = ImportTable(MappingProxyType({k: v for k, v in imports.bindings.items() if keras_side(v)}))
    if not imports.bindings:
        record = MigrationRecord(Direction.TF2TORCH, source_name, (), ())
        return MigrationResult(source, (), record, changed=False)
    code_only = _STRINGS_AND_COMMENTS.sub(" ", source)
    taken = frozenset(n for n in ("nn", "F") if re.search(rf"(?<![\w.]){n}\b", code_only))
    emitter = TorchEmitter(taken)
    analysis = Analysis(module, rules, imports)
    declared = declared_shapes(module)
    if input_shape is not None:
        for name in top_level_classes(module, set(analysis.classes)):
            declared.setdefault(name, (None, *input_shape))
    annotations = analysis.run(declared)
    tracker = PositionTracker(index_module(source))
    plan = scan_training(module, rules, lambda node: canonical(imports.resolve(node)))
    plan.eco = scan_ecosystem(module, lambda node: canonical(imports.resolve(node)))
    transformer = KerasToTorch(rules, imports, emitter, analysis, tracker, plan)
    new = Walker(transformer, tracker.enter, tracker.exit, HOOK_TYPES).walk(module)
    new = _drop_inlined_helpers(new, module, transformer, tracker)
    text = module_code(new)
    support = {n for n in transformer.support if re.search(rf"\b{n}\(", text)}
    for name in support:
        for qualified in NEEDS[name]:
            emitter.name(qualified)  # the imports the snippet needs
    code_now = _STRINGS_AND_COMMENTS.sub(" ", text + "".join(SUPPORT[n] for n in sorted(support)))
    wanted = [line for line in emitter.import_lines() if _still_used(line, code_now)]
    new = _rewrite_imports(new, wanted)
    new = _add_support(new, support)
    classes = []
    for name in [*analysis.classes, *sorted(transformer.builders)]:
        ins = tuple(TensorLayout(p, t.cell.perm) for p, t in annotations.inputs.get(name, []))
        out = annotations.outputs.get(name)
        if isinstance(out, LayerVal):
            out = out.output
        elif isinstance(out, SeqBuilder):
            out = out.current
        outs: tuple[TensorLayout, ...] = (
            (TensorLayout("output", out.cell.perm),) if isinstance(out, TensorVal) else ()
        )
        base = "torch.nn.Module" if name in analysis.classes else "function"
        classes.append(ClassRecord(name, base, ins, outs))
    for cls, trace in transformer.functional_classes.items():
        ins = tuple(
            TensorLayout(next((n for _, n in trace.names.get(id(t), [])), "inputs"), t.cell.perm)
            for _, t in trace.inputs
        )
        outs = tuple(
            TensorLayout(f"output{i}" if i else "output", t.cell.perm) for i, t in enumerate(trace.outputs)
        )
        classes.append(ClassRecord(cls, "torch.nn.Module", ins, outs))
    training = transformer.trainer.record
    record = MigrationRecord(
        Direction.TF2TORCH, source_name, tuple(classes), tuple(transformer.records), training
    )
    code = module_code(new)
    return MigrationResult(code, tuple(sorted(transformer.findings)), record, changed=code != source)


def _drop_inlined_helpers(
    new: cst.Module, original: cst.Module, transformer: KerasToTorch, tracker: PositionTracker
) -> cst.Module:
    """Helpers inlined into generated model classes go, unless something else still calls them."""
    if not transformer.inlined:
        return new
    spans = {
        s.name.value: tracker.spans.get(id(s), (0, 0))
        for s in original.body
        if isinstance(s, cst.FunctionDef)
    }

    def is_helper(s: cst.CSTNode) -> bool:
        return isinstance(s, cst.FunctionDef) and s.name.value in transformer.inlined

    rest = _STRINGS_AND_COMMENTS.sub(" ", "\n".join(code_of(s) for s in new.body if not is_helper(s)))
    still_used = {n for n in transformer.inlined if re.search(rf"(?<![\w.]){re.escape(n)}\b", rest)}
    body = []
    for stmt in new.body:
        if isinstance(stmt, cst.FunctionDef) and is_helper(stmt) and stmt.name.value not in still_used:
            name = stmt.name.value
            start, end = spans.get(name, (0, 0))
            keep = transformer.generated_findings
            transformer.findings = [
                f for f in transformer.findings if id(f) in keep or not start <= f.line <= end
            ]
            transformer.findings.append(
                Finding(start, 1, Severity.MIGRATED, name, "helper inlined into the generated model class")
            )
            continue
        body.append(stmt)
    return new.with_changes(body=body)


def top_level_classes(module: cst.Module, classes: set[str]) -> list[str]:
    """Model classes no other class builds (the ones a model expression names)."""
    used: set[str] = set()

    class Calls(cst.CSTVisitor):
        def __init__(self, owner: str) -> None:
            super().__init__()
            self.owner = owner

        def visit_Call(self, node: cst.Call) -> None:
            name = node.func.value if isinstance(node.func, cst.Name) else None
            if name is not None and name in classes and name != self.owner:
                used.add(name)

    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef):
            stmt.visit(Calls(stmt.name.value))
    return [c for c in classes if c not in used]


def declared_shapes(module: cst.Module) -> dict[str, Shape]:
    """Input shapes declared by ``model = Cls(...); model.build((None, ...))`` anywhere in the file."""
    out: dict[str, Shape] = {}
    instances: dict[str, str] = {}

    class V(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if isinstance(node.value, cst.Call) and isinstance(node.value.func, cst.Name):
                for t in node.targets:
                    if isinstance(t.target, cst.Name):
                        instances[t.target.value] = node.value.func.value

        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value == "build"
                and isinstance(func.value, cst.Name)
                and func.value.value in instances
                and node.args
            ):
                v = literal(node.args[0].value)
                if isinstance(v, tuple | list) and all(d is None or isinstance(d, int) for d in v):
                    dims: tuple[Dim, ...] = tuple(v)
                    out[instances[func.value.value]] = dims

    module.visit(V())
    return out


def _still_used(line: str, code: str) -> bool:
    """``import torch`` while ``torch.`` is used; ``from m import A, B`` while A or B is."""
    if line.startswith("from ") and " import " in line and not line.endswith(("nn", "F")):
        names = [n.strip() for n in line.split(" import ", 1)[1].split(",")]
        return any(re.search(rf"(?<![\w.]){re.escape(n)}\b", code) for n in names)
    return re.search(rf"(?<![\w.]){re.escape(line.split()[-1])}\.", code) is not None


def _rewrite_imports(module: cst.Module, wanted: list[str]) -> cst.Module:
    """Drop Keras/TensorFlow imports the output no longer uses; add the torch imports it does."""
    body = list(module.body)
    rest_code = _STRINGS_AND_COMMENTS.sub(" ", "\n".join(code_of(s) for s in body if not _is_import_line(s)))
    insert_at: int | None = None
    new_body: list[cst.BaseStatement] = []
    for stmt in body:
        if _is_import_line(stmt):
            assert isinstance(stmt, cst.SimpleStatementLine)
            imp = stmt.body[0]
            assert isinstance(imp, cst.Import | cst.ImportFrom)
            bindings = import_bindings(imp)
            framework = bindings and all(keras_side(b.qualified) for b in bindings)
            used = any(re.search(rf"(?<![\w.]){re.escape(b.local)}\b", rest_code) for b in bindings)
            if framework and not used:
                if insert_at is None:
                    insert_at = len(new_body)
                    leading = list(stmt.leading_lines)
                continue
        new_body.append(stmt)
    if insert_at is None:
        insert_at = _after_docstring(new_body)
        leading = []
    existing = {code_of(s).strip() for s in new_body if _is_import_line(s)}
    lines = [w for w in wanted if w not in existing]
    stmts: list[cst.BaseStatement] = [cst.parse_statement(w + "\n") for w in lines]
    has_header = HEADER in module_code(module)
    if not has_header:
        # a file that torch2tf wrote says so in its header: that line is no longer true
        leading = [ln for ln in leading if ln.comment is None or ln.comment.value != TORCH2TF_HEADER]
        header = [*leading, cst.EmptyLine(comment=cst.Comment(HEADER))]
        if stmts:
            first = stmts[0]
            assert isinstance(first, cst.SimpleStatementLine)
            stmts[0] = first.with_changes(leading_lines=header)
    elif stmts and leading:
        first = stmts[0]
        assert isinstance(first, cst.SimpleStatementLine)
        stmts[0] = first.with_changes(leading_lines=leading)
    new_body[insert_at:insert_at] = stmts
    return module.with_changes(body=new_body)


def _add_support(module: cst.Module, names: set[str]) -> cst.Module:
    """Put the helper classes the output uses after the import block."""
    if not names:
        return module
    body = list(module.body)
    at = 0
    for i, stmt in enumerate(body):
        if _is_import_line(stmt):
            at = i + 1
    code = "".join(SUPPORT[n] for n in sorted(names))
    new = cst.parse_module(code).body
    first = new[0]
    if isinstance(first, cst.ClassDef):
        new = [first.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()]), *new[1:]]
    body[at:at] = new
    return module.with_changes(body=body)


def _is_import_line(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Import | cst.ImportFrom)
    )
