"""`fwmigrate check`: direction detection, the portability score, exit codes, every report format
(the SARIF one validated against the official 2.1.0 schema), bad input, and no framework import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from migrator.check import check_paths, construct_counts, portability_score
from migrator.check.detect import ROOTS, detect, parse
from migrator.types import Counts, Direction, Finding, Severity
from tests.conftest import FIXTURES, ROOT, assert_bad_input, cli_run, listing

KERAS_FIXTURES = ROOT / "fixtures" / "tf2torch"
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

CLEAN = "import torch.nn as nn\n\nfc = nn.Linear(4, 2)\nact = nn.ReLU()\n"
# one construct for review, one migrated: 100 × (1 + ½) / 2 = 75.0
REVIEW = "import torch.nn as nn\n\nemb = nn.Embedding(10, 4, padding_idx=0)\nfc = nn.Linear(4, 2)\n"
# one unsupported, one migrated: 50.0
PARTIAL = "import torch.nn as nn\n\nbil = nn.Bilinear(8, 8, 16)\nfc = nn.Linear(16, 2)\n"
KERAS = "import keras\nfrom keras import layers\n\nfc = layers.Dense(2)\n"
PLAIN = "import numpy as np\n\nx = np.zeros(3)\n"


def write(d: Path, name: str, text: str) -> Path:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


# ---- the score ----------------------------------------------------------------------------------


def test_score_definition() -> None:
    assert portability_score(Counts(0, 0, 0)) == 100.0, "nothing to check scores 100"
    assert portability_score(Counts(4, 0, 0)) == 100.0
    assert portability_score(Counts(1, 1, 0)) == 75.0, "review counts half"
    assert portability_score(Counts(1, 0, 1)) == 50.0
    assert portability_score(Counts(0, 0, 3)) == 0.0
    assert portability_score(Counts(2, 0, 1)) == 66.6, "rounded down: 66.67 shows as 66.6"
    assert portability_score(Counts(0, 1, 0)) == 50.0


def test_a_construct_counts_once_with_its_worst_outcome() -> None:
    migrated = Finding(3, 6, Severity.MIGRATED, "keras.layers.Dense", "becomes nn.Linear", "r")
    review = Finding(3, 6, Severity.REVIEW, "keras.layers.Dense", "input size not inferred", "r")
    other = Finding(4, 1, Severity.MIGRATED, "keras.layers.ReLU", "becomes nn.ReLU", "r")
    assert construct_counts([migrated, review, other]) == Counts(migrated=1, review=1, unsupported=0)


def test_findings_repeated_by_an_inlined_helper_are_listed_once() -> None:
    # depthwise_block is inlined at two calls: the engine reports its layers twice
    report = check_paths([KERAS_FIXTURES / "mobilenet_tfkeras" / "input.py"])
    findings = report.files[0].findings
    assert len(findings) == len(set(findings))
    assert [f.line for f in findings].count(11) == 1


# ---- direction ----------------------------------------------------------------------------------


def test_detection_uses_the_engines_import_roots() -> None:
    from migrator.engine.tf2torch.migrate import _ROOTS
    from migrator.engine.transformer import _TRACKED_ROOTS

    assert ROOTS == {Direction.TORCH2TF: _TRACKED_ROOTS, Direction.TF2TORCH: _ROOTS}


@pytest.mark.parametrize(
    ("source", "direction"),
    [
        (CLEAN, Direction.TORCH2TF),
        ("from torch import nn\n", Direction.TORCH2TF),
        (KERAS, Direction.TF2TORCH),
        ("import tensorflow as tf\n", Direction.TF2TORCH),
        ("from tensorflow.keras import layers\n", Direction.TF2TORCH),
        (PLAIN, None),
        ("def f():\n    import torch\n    return torch.zeros(1)\n", None),  # only top-level imports count
    ],
)
def test_direction_from_imports(source: str, direction: Direction | None) -> None:
    found = detect(parse(source, "m.py"))
    assert found.direction is direction and not found.ambiguous


def test_a_file_importing_both_is_checked_in_the_direction_it_uses_more() -> None:
    both = "import torch.nn as nn\nimport keras\n"
    found = detect(
        parse(both + "a = keras.layers.Dense(1)\nb = keras.layers.ReLU()\nc = nn.ReLU()\n", "m.py")
    )
    assert found.direction is Direction.TF2TORCH and found.ambiguous
    assert found.reason == (
        "imports both torch and keras/tensorflow: 1 use of torch vs 2 uses of keras/tensorflow"
    )
    tie = detect(parse(both + "a = keras.layers.Dense(1)\nc = nn.ReLU()\n", "m.py"))
    assert tie.direction is Direction.TORCH2TF
    assert tie.reason.endswith("1 use each, torch2tf on a tie")


def test_auto_direction_from_the_command_line(tmp_path: Path) -> None:
    torch_file = write(tmp_path, "t.py", CLEAN)
    keras_file = write(tmp_path, "k.py", KERAS)
    plain = write(tmp_path, "p.py", PLAIN)
    code, out, err = cli_run(["check", "--format", "json", str(torch_file), str(keras_file), str(plain)])
    assert code == 0, err
    files = json.loads(out)["files"]
    assert [f["direction"] for f in files] == ["torch2tf", "tf2torch", None]
    assert [f["reason"] for f in files] == [
        "torch imports",
        "keras/tensorflow imports",
        "no top-level torch, keras or tensorflow imports",
    ]
    assert files[1]["findings"][0]["api"] == "keras.layers.Dense"
    assert files[2]["score"] == 100.0 and files[2]["findings"] == [] and files[2]["passed"]
    assert err == ""


def test_a_file_with_nothing_to_check_passes_and_says_so(tmp_path: Path) -> None:
    code, out, _ = cli_run(["check", str(write(tmp_path, "p.py", PLAIN))])
    assert code == 0
    assert f"{tmp_path / 'p.py'}: nothing to check (no top-level torch, keras or tensorflow imports)" in out
    assert f"{tmp_path / 'p.py'}: 100.0 (nothing to check)" in out


def test_a_fixed_direction_overrides_the_imports(tmp_path: Path) -> None:
    src = write(tmp_path, "k.py", KERAS)
    code, out, _ = cli_run(["check", "--direction", "torch2tf", "--format", "json", str(src)])
    assert code == 0
    f = json.loads(out)["files"][0]
    assert f["direction"] == "torch2tf" and f["reason"] == "--direction torch2tf"
    assert f["findings"] == [], "the torch2tf engine finds no torch construct in a Keras file"


# ---- exit codes and --min-score -----------------------------------------------------------------


def test_exit_0_when_everything_migrates(tmp_path: Path) -> None:
    code, out, err = cli_run(["check", str(write(tmp_path, "m.py", CLEAN))])
    assert code == 0 and err == ""
    assert "100.0 (torch2tf; 2 constructs: 2 migrated, 0 review, 0 unsupported)" in out


def test_exit_1_for_unsupported_unless_allowed(tmp_path: Path) -> None:
    src = write(tmp_path, "m.py", PARTIAL)
    code, out, _ = cli_run(["check", str(src)])
    assert code == 1
    assert "FAILED: 1 unsupported" in out
    code, out, _ = cli_run(["check", "--allow-unsupported", str(src)])
    assert code == 0 and "FAILED" not in out


@pytest.mark.parametrize(("min_score", "code"), [("0", 0), ("75", 0), ("75.1", 1), ("100", 1)])
def test_min_score(tmp_path: Path, min_score: str, code: int) -> None:
    src = write(tmp_path, "m.py", REVIEW)  # scores 75.0
    got, out, _ = cli_run(["check", "--min-score", min_score, str(src)])
    assert got == code, out
    assert ("FAILED: score below" in out) == (code == 1)


def test_every_file_must_pass(tmp_path: Path) -> None:
    good, partial = write(tmp_path, "a.py", CLEAN), write(tmp_path, "b.py", PARTIAL)
    code, out, _ = cli_run(["check", "--format", "json", str(good), str(partial)])
    assert code == 1
    data = json.loads(out)
    assert [f["passed"] for f in data["files"]] == [True, False]
    assert data["passed"] is False
    assert data["score"] == 75.0, "pooled over all constructs: 3 migrated, 1 unsupported"


def test_a_syntax_error_in_one_of_several_files(tmp_path: Path) -> None:
    """The broken file is reported on stderr and in the report; the others are still checked; exit 2."""
    good = write(tmp_path, "a.py", CLEAN)
    bad = write(tmp_path, "b.py", "import torch\nx = (\n")
    code, out, err = cli_run(["check", str(good), str(bad)])
    assert code == 2
    assert err.strip() == f"fwmigrate: error: {bad}:2:5: syntax error: '(' was never closed"
    assert f"{good}: 100.0 (torch2tf" in out
    assert f"error: {bad}:2:5: syntax error" in out and f"  {bad}: error" in out
    assert out.strip().splitlines()[-1].endswith("1 passed, 0 failed, 1 not checked (error)")
    # with --output the report (of the others, naming the broken file) is still written
    report = tmp_path / "report.json"
    code, out, err = cli_run(["check", "--format", "json", "-o", str(report), str(good), str(bad)])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["passed"] is False
    assert data["files"][1]["error"] == f"{bad}:2:5: syntax error: '(' was never closed"
    assert data["files"][1]["score"] is None and data["files"][0]["score"] == 100.0


def test_an_error_beats_a_failure(tmp_path: Path) -> None:
    partial, bad = write(tmp_path, "a.py", PARTIAL), write(tmp_path, "b.py", "def (:\n")
    code, _, _ = cli_run(["check", str(partial), str(bad)])
    assert code == 2


def test_an_internal_error_names_the_file_and_the_others_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migrator import api

    real = api.migrate_source

    def broken(source: str, *args: object, **kwargs: object) -> object:
        if "Bilinear" in source:
            raise RuntimeError("boom")
        return real(source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "migrate_source", broken)
    good, partial = write(tmp_path, "a.py", CLEAN), write(tmp_path, "b.py", PARTIAL)
    code, out, err = cli_run(["check", str(good), str(partial)])
    assert code == 2
    assert err.strip() == (
        f"fwmigrate: error: {partial}: internal error (RuntimeError: boom); "
        "rerun with FWMIGRATE_DEBUG=1 and report it"
    )
    assert f"{good}: 100.0" in out


# ---- bad input: one line, exit 2, nothing written -----------------------------------------------


def test_a_single_file_with_a_syntax_error(tmp_path: Path) -> None:
    src = write(tmp_path, "m.py", "import torch\ndef (:\n")
    assert_bad_input(tmp_path, ["check", str(src)], f"{src}:2:5: syntax error")


def test_a_syntax_error_in_a_file_with_no_framework_import(tmp_path: Path) -> None:
    src = write(tmp_path, "m.py", "x = [\n")
    assert_bad_input(tmp_path, ["check", str(src)], f"{src}:1:5: syntax error")


def _bad_path(d: Path, kind: str) -> Path:
    if kind == "missing":
        return d / "missing.py"
    if kind == "empty directory":
        (d / "empty").mkdir()
        return d / "empty"
    data = b"\x7fELF\x00\x01" if kind == "binary" else b"import torch\nx = '\xe9'\n"
    (d / "bad.py").write_bytes(data)
    return d / "bad.py"


@pytest.mark.parametrize(
    ("kind", "expect"),
    [
        ("missing", "no such file or directory"),
        ("empty directory", "no *.py files"),
        ("binary", "binary"),
        ("latin-1", "not valid UTF-8"),
    ],
)
def test_bad_paths(tmp_path: Path, kind: str, expect: str) -> None:
    path = _bad_path(tmp_path, kind)
    assert_bad_input(tmp_path, ["check", str(path)], str(path), expect)


def test_bad_rule_directory(tmp_path: Path) -> None:
    src = write(tmp_path, "m.py", CLEAN)
    missing = tmp_path / "nope"
    assert_bad_input(tmp_path, ["check", "--rules", str(missing), str(src)], str(missing), "does not exist")
    broken = tmp_path / "broken"
    write(broken, "x.toml", '[[rule]]\nid = "torch2tf.x"\nkind = "nonsense"\n')
    assert_bad_input(tmp_path, ["check", "--rules", str(broken), str(src)], "x.toml", "torch2tf.x")


def test_bad_output_paths(tmp_path: Path) -> None:
    src = write(tmp_path, "m.py", CLEAN)
    assert_bad_input(tmp_path, ["check", "-o", str(tmp_path / "no" / "r.txt"), str(src)], "does not exist")
    assert_bad_input(tmp_path, ["check", "-o", str(tmp_path), str(src)], "is a directory")
    assert_bad_input(tmp_path, ["check", "-o", str(src), str(src)], "would overwrite a checked file")
    assert src.read_text(encoding="utf-8") == CLEAN


@pytest.mark.parametrize(
    "option",
    [
        ["--format", "xml"],
        ["--direction", "sideways"],
        ["--min-score", "101"],
        ["--min-score", "-1"],
        ["--min-score", "high"],
        ["--no-such-option"],
    ],
)
def test_bad_options(tmp_path: Path, option: list[str]) -> None:
    src = write(tmp_path, "m.py", CLEAN)
    before = listing(tmp_path)
    code, out, err = cli_run(["check", *option, str(src)])
    assert code == 2 and out == ""
    assert "Error:" in err
    assert listing(tmp_path) == before


def test_no_path_is_a_usage_error() -> None:
    code, out, err = cli_run(["check"])
    assert code == 2 and out == "" and "Missing argument 'PATHS...'" in err


# ---- paths and --output -------------------------------------------------------------------------


def test_a_directory_expands_to_its_python_files_recursively_sorted(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "b.py", CLEAN)
    write(src, "a.py", PLAIN)
    write(src, "pkg/c.py", PARTIAL)
    write(src, "notes.txt", "not python")
    write(src, "pkg/data.json", "{}")
    code, out, _ = cli_run(["check", "--format", "json", str(src), str(src / "b.py")])
    assert code == 1
    paths = [f["path"] for f in json.loads(out)["files"]]
    assert paths == [str(src / "a.py"), str(src / "b.py"), str(src / "pkg" / "c.py")], "each file once"


def test_output_writes_the_report_and_prints_nothing(tmp_path: Path) -> None:
    src = write(tmp_path, "m.py", REVIEW)
    _, expected, _ = cli_run(["check", "--format", "markdown", str(src)])
    report = tmp_path / "report.md"
    report.write_text("an old report\n", encoding="utf-8")
    code, out, err = cli_run(["check", "--format", "markdown", "--output", str(report), str(src)])
    assert code == 0 and out == "" and err == ""
    assert report.read_text(encoding="utf-8") == expected, "an existing report is replaced"
    assert listing(tmp_path) == ["m.py", "report.md"], "nothing else is written (no temporary files left)"


def test_check_writes_nothing_without_output(tmp_path: Path) -> None:
    write(tmp_path, "m.py", PARTIAL)
    for fmt in ("text", "json", "markdown", "sarif"):
        cli_run(["check", "--format", fmt, str(tmp_path)])
    assert listing(tmp_path) == ["m.py"]


# ---- formats ------------------------------------------------------------------------------------


def test_text_format(tmp_path: Path) -> None:
    review, partial = write(tmp_path, "r.py", REVIEW), write(tmp_path, "p.py", PARTIAL)
    code, out, _ = cli_run(["check", "--min-score", "60", str(review), str(partial)])
    assert code == 1
    assert out.splitlines() == [
        f"{review}: 1 migrated, 1 need review, 0 unsupported",
        f"  {review}:3:7: review: torch.nn.Embedding: padding_idx=0: the forward pass is identical, "
        "but torch never updates the padding row in training and Keras does",
        "      see `fwmigrate explain torch2tf.nn.Embedding`",
        f"{partial}: 1 migrated, 0 need review, 1 unsupported",
        f"  {partial}:3:7: unsupported: torch.nn.Bilinear: no rule maps this API",
        "      no rule covers this API; a rule file passed with --rules can add one",
        "",
        "portability scores (--min-score 60):",
        f"  {review}: 75.0 (torch2tf; 2 constructs: 1 migrated, 1 review, 0 unsupported)",
        f"  {partial}: 50.0 (torch2tf; 2 constructs: 1 migrated, 0 review, 1 unsupported) "
        "FAILED: score below 60, 1 unsupported",
        "total: 62.5 over 4 constructs in 2 files: 1 passed, 1 failed",
    ]


def test_text_verbose_lists_migrated_constructs_too(tmp_path: Path) -> None:
    src = write(tmp_path, "m.py", CLEAN)
    _, out, _ = cli_run(["check", "-v", str(src)])
    assert f"  {src}:3:6: migrated: torch.nn.Linear: -> keras.layers.Dense" in out
    assert "      see `fwmigrate explain torch2tf.nn.Linear`" in out


def test_json_format(tmp_path: Path) -> None:
    src = write(tmp_path, "m.py", REVIEW)
    code, out, _ = cli_run(["check", "--format", "json", "--min-score", "50", str(src)])
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["fwmigrate", "passed", "policy", "score", "constructs", "files", "rules"]
    assert data["policy"] == {"min_score": 50.0, "allow_unsupported": False}
    assert data["constructs"] == {"migrated": 1, "review": 1, "unsupported": 0, "total": 2}
    (f,) = data["files"]
    assert list(f) == [
        "path",
        "direction",
        "reason",
        "score",
        "passed",
        "problems",
        "constructs",
        "error",
        "findings",
    ]
    assert f["score"] == 75.0 and f["passed"] is True and f["problems"] == [] and f["error"] is None
    emb, fc = f["findings"]
    assert list(emb) == ["line", "col", "severity", "api", "rule", "message", "hint"]
    assert emb["severity"] == "review" and emb["rule"] == "torch2tf.nn.Embedding"
    assert emb["hint"] == "see `fwmigrate explain torch2tf.nn.Embedding`"
    assert fc["severity"] == "migrated" and (fc["line"], fc["col"]) == (4, 6)
    assert sorted(data["rules"]) == ["torch2tf.nn.Embedding", "torch2tf.nn.Linear"]
    assert data["rules"]["torch2tf.nn.Linear"].startswith("nn.Linear")


def test_markdown_format(tmp_path: Path) -> None:
    review, plain = write(tmp_path, "r.py", REVIEW), write(tmp_path, "p.py", PLAIN)
    bad = write(tmp_path, "b.py", "x = (\n")
    code, out, _ = cli_run(["check", "--format", "markdown", str(review), str(plain), str(bad)])
    assert code == 2
    lines = out.splitlines()
    assert lines[0] == "## fwmigrate check"
    assert lines[2] == "**Error**: portability score **75.0** over 2 constructs in 3 files (`--min-score 0`)."
    assert lines[4:9] == [
        "| file | direction | score | migrated | review | unsupported | result |",
        "|---|---|---:|---:|---:|---:|---|",
        f"| `{review}` | torch2tf | 75.0 | 1 | 1 | 0 | passed |",
        f"| `{plain}` | – | 100.0 | 0 | 0 | 0 | nothing to check (no top-level torch, keras or "
        "tensorflow imports) |",
        f"| `{bad}` | – | – | – | – | – | error: {bad}:1:5: syntax error: '(' was never closed |",
    ]
    assert lines[9:] == [
        "",
        f"### `{review}`",
        "",
        "| line:col | severity | API | message | hint |",
        "|---|---|---|---|---|",
        "| 3:7 | review | `torch.nn.Embedding` | padding_idx=0: the forward pass is identical, but torch "
        "never updates the padding row in training and Keras does | see `fwmigrate explain "
        "torch2tf.nn.Embedding` |",
    ]


def test_markdown_escapes_pipes(tmp_path: Path) -> None:
    from migrator.report.check_markdown import _cell, _code

    assert _cell("a | b\nc") == "a \\| b<br>c"
    assert _code("x|y") == "`x\\|y`" and _code("a`b") == "`` a`b ``"


def _sarif(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "fwmigrate.sarif"
    code, stdout, _ = cli_run(["check", "--format", "sarif", "--output", str(out), *names])
    assert stdout == ""
    data = json.loads(out.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    return code, data


def test_the_vendored_schema_is_the_official_one() -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    assert (
        SCHEMA["id"]
        == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    )
    assert SCHEMA["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    # the schema rejects what it should: the check below would catch a broken report
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}
    assert not jsonschema.Draft4Validator(SCHEMA).is_valid(bad), "a driver needs a name"


def test_sarif_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "src/r.py", REVIEW)
    write(tmp_path, "src/pkg/p.py", PARTIAL)
    write(tmp_path, "src/clean.py", CLEAN)
    code, data = _sarif(tmp_path, monkeypatch, "src")
    assert code == 1
    assert data["version"] == "2.1.0"
    (run,) = data["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "fwmigrate" and driver["version"]
    rules = {r["id"]: r for r in driver["rules"]}
    assert list(rules) == ["fwmigrate/no-rule", "torch2tf.nn.Embedding"], "the rules the results use"
    emb = rules["torch2tf.nn.Embedding"]
    assert emb["fullDescription"]["text"].startswith("nn.Embedding(n, d) becomes layers.Embedding")
    assert emb["shortDescription"]["text"] and "helpUri" not in emb
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]
    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("fwmigrate/no-rule", "error"),  # src/pkg/p.py sorts before src/r.py
        ("torch2tf.nn.Embedding", "warning"),
    ]
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
    loc = [r["locations"][0]["physicalLocation"] for r in results]
    assert [x["artifactLocation"]["uri"] for x in loc] == ["src/pkg/p.py", "src/r.py"]
    assert [(x["region"]["startLine"], x["region"]["startColumn"]) for x in loc] == [(3, 7), (3, 7)]
    assert results[0]["message"]["text"].startswith("torch.nn.Bilinear: no rule maps this API")


def test_sarif_names_files_that_could_not_be_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "a b.py", REVIEW)
    write(tmp_path, "bad.py", "x = (\n")
    code, data = _sarif(tmp_path, monkeypatch, "a b.py", "bad.py")
    assert code == 2
    (run,) = data["runs"]
    (inv,) = run["invocations"]
    assert inv["executionSuccessful"] is False
    (note,) = inv["toolExecutionNotifications"]
    assert note["level"] == "error" and note["message"]["text"].startswith("bad.py:1:5: syntax error")
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.py"
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "a%20b.py", "a URI reference: spaces are percent-encoded"


def test_sarif_columns_count_utf16_code_units(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 17 characters before the call: "é" is two UTF-8 bytes but one UTF-16 unit, U+1D535 (outside
    # the BMP) four bytes and two units; so column 22 in bytes (as ast counts) is 19 in UTF-16 units
    write(tmp_path, "u.py", "import torch.nn as nn\n\nnom = ('é', '\U0001d535', nn.Bilinear(2, 2, 2))\n")
    _, data = _sarif(tmp_path, monkeypatch, "u.py")
    (result,) = data["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startColumn"] == 19
    _, out, _ = cli_run(["check", "--format", "json", "u.py"])
    assert json.loads(out)["files"][0]["findings"][0]["col"] == 22, "other formats keep the engine's column"


def test_sarif_with_no_findings_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "m.py", CLEAN)
    code, data = _sarif(tmp_path, monkeypatch, "m.py")
    assert code == 0
    assert data["runs"][0]["results"] == [] and data["runs"][0]["tool"]["driver"]["rules"] == []


# ---- rules --------------------------------------------------------------------------------------


def test_an_extra_rule_directory(tmp_path: Path) -> None:
    rules = tmp_path / "mine"
    write(
        rules,
        "x.toml",
        '[[rule]]\nid = "torch2tf.my.Bilinear"\nkind = "layer"\nmatch = "torch.nn.Bilinear"\n'
        'unsupported = "bilinear forms have no Keras layer"\nsummary = "nn.Bilinear is not migrated."\n'
        '[[rule.examples]]\nbefore = "b = nn.Bilinear(2, 2, 2)"\nafter = "b = nn.Bilinear(2, 2, 2)"\n',
    )
    src = write(tmp_path, "m.py", PARTIAL)
    keras = write(tmp_path, "k.py", KERAS)
    code, out, _ = cli_run(["check", "--format", "json", "--rules", str(rules), str(src), str(keras)])
    assert code == 1
    data = json.loads(out)
    bil = data["files"][0]["findings"][0]
    assert bil["rule"] == "torch2tf.my.Bilinear" and bil["message"] == "bilinear forms have no Keras layer"
    assert bil["hint"] == f"see `fwmigrate explain torch2tf.my.Bilinear --rules {rules}`"
    assert data["rules"]["torch2tf.my.Bilinear"] == "nn.Bilinear is not migrated."
    assert data["files"][1]["direction"] == "tf2torch", "a torch2tf rule directory is not loaded for tf2torch"


# ---- static -------------------------------------------------------------------------------------


def test_check_imports_no_framework(tmp_path: Path) -> None:
    """Run the command with torch/tensorflow/keras imports made to fail: checking must not need them."""
    torch_file = tmp_path / "t.py"
    torch_file.write_text((FIXTURES / "resnet_block" / "input.py").read_text(encoding="utf-8"))
    keras_file = tmp_path / "k.py"
    keras_file.write_text((KERAS_FIXTURES / "mobilenet_tfkeras" / "input.py").read_text(encoding="utf-8"))
    report = tmp_path / "r.sarif"
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "tensorflow", "keras"):
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
from migrator.cli import main
try:
    main(["check", "--format", "sarif", "-o", {str(report)!r}, {str(tmp_path)!r}])
except SystemExit as e:
    assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras")]
    raise
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(report.read_text(encoding="utf-8"))["runs"][0]["results"] == []
