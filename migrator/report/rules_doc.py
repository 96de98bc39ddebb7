"""The rule reference pages ``docs/rules/torch2tf.md`` and ``docs/rules/tf2torch.md``, generated
from the shipped rule files, so the documentation says what the rules do and cannot drift from
them (``tests/test_rules_doc.py`` fails when a page is not current).

    python -m migrator.report.rules_doc [DOCS_DIR]    # rewrites DOCS_DIR/rules/*.md (default docs)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from itertools import groupby
from pathlib import Path

from migrator.rules.loader import load_rules
from migrator.rules.schema import ArgSpec, Rule
from migrator.types import Direction

TITLES = {
    Direction.TORCH2TF: "PyTorch to Keras 3 (`fwmigrate torch2tf`)",
    Direction.TF2TORCH: "Keras 3 / tf.keras to PyTorch (`fwmigrate tf2torch`)",
}


def page_path(docs: Path, direction: Direction) -> Path:
    return docs / "rules" / f"{direction.value}.md"


def render_page(direction: Direction) -> str:
    """The reference page of one direction: every shipped rule, grouped by rule file."""
    rules = [r for r in load_rules(direction, cache_dir=None).rules if r.id.startswith(direction.value + ".")]
    files = [(name, list(group)) for name, group in groupby(rules, key=lambda r: r.source.name)]
    out = [
        f"# Rule reference: {TITLES[direction]}",
        "",
        f"<!-- Generated from rules/{direction.value}/*.toml by `python -m migrator.report.rules_doc`;"
        " do not edit by hand. -->",
        "",
        f"{len(rules)} rules in {len(files)} files. Each entry says what the rule matches, what it emits,"
        " how each argument with special handling is mapped, the differences between the frameworks"
        " it takes care of, what it refuses (marked `unsupported` in the output, with the reason),"
        " and examples that the test suite runs. `fwmigrate explain RULE_ID` prints the same for one"
        " rule; [writing-rules.md](../writing-rules.md) explains the fields.",
        "",
        "## Files",
        "",
        *(f"- [{name}](#{_anchor(name)}): {_count(len(group))}" for name, group in files),
    ]
    for name, group in files:
        out += ["", f"## {name}", ""]
        for rule in group:
            out += [*_rule(rule), ""]
    return "\n".join(out).rstrip() + "\n"


def _count(n: int) -> str:
    return f"{n} rule" if n == 1 else f"{n} rules"


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9 _-]", "", text.lower()).replace(" ", "-")


def _code(text: str) -> str:
    return f"`{text}`"


def _rule(rule: Rule) -> Iterator[str]:
    yield f"### {rule.id}"
    yield ""
    facts = [f"**Matches** {', '.join(_code(m) for m in rule.match)}", f"**Kind** {rule.kind.value}"]
    if rule.unsupported is not None:
        facts.append("**Not migrated**")
    elif rule.emit:
        facts.append(f"**Emits** {_code(rule.emit)}")
    if rule.hook:
        facts.append(f"**Hook** {_code(rule.hook)}")
    if rule.weights:
        facts.append(f"**Weights** {_code(rule.weights)}")
    if rule.training is not None and rule.training.stock:
        facts.append(f"**Stock target** {_code(rule.training.stock)}")
    yield " · ".join(facts)
    if rule.unsupported is not None:
        yield ""
        yield f"Not migrated: {rule.unsupported}"
    if rule.summary:
        yield ""
        yield rule.summary
    differences = [*rule.notes, *_set_notes(rule)]
    if differences:
        yield ""
        yield from (f"- {d}" for d in differences)
    rows = list(_arg_rows(rule.args))
    if rows:
        yield ""
        yield "| argument | handling |"
        yield "|---|---|"
        yield from (f"| {_code(name)} | {text} |" for name, text in rows)
    for i, ex in enumerate(rule.examples, 1):
        yield ""
        yield f"Example {i}:" if len(rule.examples) > 1 else "Example:"
        yield ""
        yield "```python"
        yield from _example(ex.before.strip(), ex.after.strip())
        yield "```"
    if rule.unchanged:
        yield ""
        yield "Left unchanged: " + "; ".join(_code(u.strip().replace("\n", " ")) for u in rule.unchanged)


def _set_notes(rule: Rule) -> Iterator[str]:
    if rule.set:
        made = ", ".join(_code(f"{k}={v}") for k, v in rule.set.items())
        yield f"Target keywords made explicit when the source does not set them: {made}."


def _arg_rows(args: Mapping[str, ArgSpec]) -> Iterator[tuple[str, str]]:
    for name, spec in args.items():
        text = _arg_text(name, spec)
        if text:
            yield name, text.replace("|", "\\|")


def _arg_text(name: str, spec: ArgSpec) -> str:
    parts: list[str] = []
    if spec.drop and not spec.only and not spec.review:
        return "dropped (no effect on the computation)"
    if spec.to and spec.to != name:
        parts.append(f"→ {_code(spec.to)}")
    if spec.axis:
        parts.append("a source dim, remapped through the tensor's layout")
    if spec.value is not None:
        parts.append(f"value transform {_code(spec.value.value)}")
    if spec.values:
        parts.append("values " + ", ".join(f"{_code(k)} → {_code(v)}" for k, v in spec.values.items()))
    if spec.skip_if is not None:
        parts.append(f"omitted when {_code(spec.skip_if)}")
    if spec.default is not None:
        parts.append(f"source default {_code(spec.default)} made explicit")
    if spec.only:
        why = f" ({spec.reason})" if spec.reason else ""
        parts.append(f"only {', '.join(_code(v) for v in spec.only)}; other values unsupported{why}")
    if spec.review:
        parts.append(f"review: {spec.review}")
    if spec.activation:
        parts.append("applied as an activation after the layer")
    return "; ".join(parts)


def _example(before: str, after: str) -> Iterator[str]:
    yield "# before"
    yield from before.splitlines()
    yield "# after"
    yield from after.splitlines()


def write_pages(docs: Path) -> list[Path]:
    """Rewrite both pages under ``docs``; the paths written."""
    written = []
    for direction in Direction:
        path = page_path(docs, direction)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_page(direction), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str]) -> None:
    docs = Path(argv[0]) if argv else Path("docs")
    write_pages(docs)


if __name__ == "__main__":  # pragma: no cover
    import sys

    main(sys.argv[1:])
