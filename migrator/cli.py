"""The command line: parse, call the API, render, set the exit code. No migration logic here."""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

import click

from migrator import __version__, api
from migrator.report.summary import render_summary
from migrator.rules.loader import RuleError
from migrator.types import Direction

EXIT_OK, EXIT_UNSUPPORTED, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> None:
    click.echo(f"fwmigrate: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fwmigrate")
def main() -> None:
    """Migrate model code between PyTorch and Keras 3 / TensorFlow, and prove it computes the same."""


@main.command("torch2tf")
@click.argument("src", type=str)
@click.option(
    "-o",
    "--output",
    "out",
    type=str,
    default=None,
    help="Output file (default: <stem>_tf.py beside SRC; '-' for stdout).",
)
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra rule directory (repeatable); its rules override the shipped ones.",
)
@click.option("--diff", is_flag=True, help="Print a unified diff instead of writing files.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option("--quiet", "-q", is_flag=True, help="Print no summary.")
def torch2tf(
    src: str, out: str | None, rule_dirs: tuple[Path, ...], diff: bool, force: bool, quiet: bool
) -> None:
    """Migrate a PyTorch model file SRC ('-' for stdin) to Keras 3.

    Exit 0 when everything migrated, 1 when unsupported constructs remain (the output is still
    written, with marker comments), 2 for usage or input errors (nothing is written).
    """
    _migrate(Direction.TORCH2TF, src, out, rule_dirs, diff, force, quiet)


def _migrate(
    direction: Direction,
    src: str,
    out: str | None,
    rule_dirs: tuple[Path, ...],
    diff: bool,
    force: bool,
    quiet: bool,
) -> None:
    try:
        rules = api.load_rules(direction, rule_dirs)
    except RuleError as exc:
        _fail(str(exc))
    try:
        if src == "-":
            source, name = sys.stdin.read(), "<stdin>"
        else:
            source, name = api.read_source(Path(src)), src
        result = api.migrate_source(source, direction, rules, source_name=name)
        if diff:
            to_name = out or (
                str(api.default_output_path(Path(src), direction)) if src != "-" else "<stdout>"
            )
            click.echo(
                "".join(
                    difflib.unified_diff(
                        source.splitlines(keepends=True),
                        result.code.splitlines(keepends=True),
                        fromfile=src,
                        tofile=to_name,
                    )
                ),
                nl=False,
            )
        elif out == "-" or (out is None and src == "-"):
            click.echo(result.code, nl=False)
        else:
            target = Path(out) if out is not None else api.default_output_path(Path(src), direction)
            if src != "-" and target.resolve() == Path(src).resolve():
                _fail(f"{target}: output would overwrite the source file")
            record = api.write_outputs(result, target, force)
            if not quiet:
                click.echo(f"wrote {target} and {record}", err=True)
    except api.InputError as exc:
        _fail(str(exc))
    except Exception as exc:  # a bug in fwmigrate, not in the input: say so in one line
        if os.environ.get("FWMIGRATE_DEBUG") == "1":
            raise
        _fail(
            f"{src}: internal error ({type(exc).__name__}: {exc}); rerun with FWMIGRATE_DEBUG=1 and report it"
        )
    if not quiet:
        click.echo(render_summary(result, src), err=True, nl=False)
    sys.exit(EXIT_OK if result.complete else EXIT_UNSUPPORTED)


if __name__ == "__main__":  # pragma: no cover
    main()
