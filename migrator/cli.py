"""The command line: parse, call the API, render, set the exit code. No migration logic here."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from migrator import __version__, api
from migrator.config import Config, ConfigError, load_config, load_config_file
from migrator.report.check_formats import FORMATS
from migrator.report.summary import render_summary
from migrator.rules.loader import RuleError
from migrator.types import Direction

if TYPE_CHECKING:  # verification is imported when a command verifies
    from migrator.batch import FileOutcome, MigrateTask, Outcome
    from migrator.verify.spec import VerifyOptions

EXIT_OK, EXIT_UNSUPPORTED, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> NoReturn:
    click.echo(f"fwmigrate: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


# (option, parameter, format for api.render_report, name in help)
_REPORTS = (
    ("--json", "json_path", "json", "JSON"),
    ("--markdown", "md_path", "markdown", "Markdown"),
    ("--html", "html_path", "html", "HTML"),
)


def _verify_options(f: Callable[..., None]) -> Callable[..., None]:
    """Options shared by `verify`, `torch2tf --verify` and `tf2torch --verify`."""
    opts = [
        click.option(
            "--model",
            "model",
            type=str,
            default=None,
            help="Class/function name or call building the model in both files, e.g. 'LeNet(num_classes=3)'.",
        ),
        click.option(
            "--input",
            "input_specs",
            multiple=True,
            type=str,
            help="SHAPE[:DTYPE[:LOW:HIGH]] in the original's layout, e.g. 2,1,28,28 or "
            "4,12:int64:0:100 (repeatable).",
        ),
        click.option(
            "--samples",
            type=click.IntRange(1, 100),
            default=3,
            show_default=True,
            help="Seeded batches to compare.",
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--atol", type=click.FloatRange(0), default=1e-6, show_default=True),
        click.option("--rtol", type=click.FloatRange(0), default=1e-5, show_default=True),
        click.option(
            "--timeout",
            type=click.FloatRange(1),
            default=300.0,
            show_default=True,
            help="Seconds for the whole check.",
        ),
        click.option(
            "--train-steps",
            "train_steps",
            type=click.IntRange(0, 10_000),
            default=0,
            show_default=True,
            help="Also train both models this many steps with the optimizer, loss and schedule the "
            "migration recorded, and compare the loss at every step (0: off).",
        ),
        click.option(
            "--steps-per-epoch",
            "steps_per_epoch",
            type=click.IntRange(1, 10_000),
            default=2,
            show_default=True,
            help="Optimizer steps per epoch, for LR schedules stepped per epoch (with --train-steps).",
        ),
        click.option(
            "--definitions-only",
            is_flag=True,
            help="Load only imports, definitions and constants from the files "
            "(for files that run a script at import).",
        ),
        *(
            click.option(
                flag, key, type=click.Path(path_type=Path), default=None, help=f"Write the {name} report."
            )
            for flag, key, _, name in _REPORTS
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _verify_opts(v: dict[str, object]) -> VerifyOptions:
    from migrator.verify.result import Tolerance
    from migrator.verify.spec import InputSpec, LoadMode, SpecError, VerifyOptions

    if not v.get("model"):
        _fail("--model is required (the class or call that builds the model, e.g. 'Net()')")
    specs = v.get("input_specs")
    if not isinstance(specs, tuple) or not specs:
        _fail("at least one --input SHAPE[:DTYPE[:LOW:HIGH]] is required")
    try:
        inputs = tuple(InputSpec.parse(str(s)) for s in specs)
    except SpecError as exc:
        _fail(str(exc))
    atol, rtol = float(v["atol"]), float(v["rtol"])  # type: ignore[arg-type]
    return VerifyOptions(
        model=str(v["model"]),
        inputs=inputs,
        samples=int(v["samples"]),  # type: ignore[call-overload]
        seed=int(v["seed"]),  # type: ignore[call-overload]
        tolerance=Tolerance(atol=atol, rtol=rtol, fail_rtol=max(1e-4, 10 * rtol)),
        timeout=float(v["timeout"]),  # type: ignore[arg-type]
        load_mode=LoadMode.DEFINITIONS if v.get("definitions_only") else LoadMode.GUARDED,
        train_steps=int(v.get("train_steps") or 0),  # type: ignore[call-overload]
        steps_per_epoch=int(v.get("steps_per_epoch") or 2),  # type: ignore[call-overload]
    )


def _run_verify(
    original: Path,
    migrated: Path,
    record: Path | None,
    options: VerifyOptions,
    v: dict[str, object],
    via: Path | None = None,
) -> NoReturn:
    from migrator.report.verify_text import render_verify_text
    from migrator.verify.result import Verdict

    try:
        result = api.verify(original, migrated, options, record, via=via)
        for _, key, render, _ in _REPORTS:
            path = v.get(key)
            if isinstance(path, Path):
                api.write_atomic(path, api.render_report(result, render))
    except api.InputError as exc:
        _fail(str(exc))
    click.echo(render_verify_text(result), nl=False)
    if result.verdict is Verdict.ERROR:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_OK if result.equivalent else EXIT_UNSUPPORTED)


def _project_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Options of the commands that take directories; each ``[tool.fwmigrate]`` key has its flag."""
    for option in reversed(
        [
            click.option(
                "--exclude",
                "exclude",
                multiple=True,
                metavar="PATTERN",
                help="Skip matching paths in directories (repeatable; replaces the configured list): "
                "'tests/**', '*_tf.py', 'build/'.",
            ),
            click.option(
                "--jobs",
                "-j",
                "jobs",
                type=click.IntRange(1),
                default=None,
                help="Worker processes for directories (default: all cores).",
            ),
            click.option(
                "--allow-unsupported/--no-allow-unsupported",
                "allow_unsupported",
                default=None,
                help="Exit 0 even when unsupported constructs remain (they are still marked and listed).",
            ),
            click.option(
                "--config",
                "config_file",
                type=click.Path(path_type=Path),
                default=None,
                help="Read [tool.fwmigrate] from this file instead of the nearest pyproject.toml.",
            ),
            click.option(
                "--no-config", is_flag=True, help="Ignore [tool.fwmigrate] in pyproject.toml files."
            ),
            click.option(
                "--progress/--no-progress",
                "show_progress",
                default=None,
                help="Progress bar for directories (default: when stderr is a terminal).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _settings(paths: Sequence[str], p: dict[str, object], **flags: object) -> Config:
    """The configuration in effect: the nearest ``[tool.fwmigrate]`` above the paths (or
    ``--config FILE``, or none with ``--no-config``), with the command line's flags on top."""
    config_file = p.get("config_file")
    try:
        if p.get("no_config"):
            base = Config()
        elif isinstance(config_file, Path):
            base = load_config_file(config_file)
        else:
            base = load_config(_search_start(paths))
        return base.merged(
            exclude=p.get("exclude") or None,  # type: ignore[arg-type]
            jobs=p.get("jobs"),  # type: ignore[arg-type]
            allow_unsupported=p.get("allow_unsupported"),  # type: ignore[arg-type]
            **flags,  # type: ignore[arg-type]
        )
    except ConfigError as exc:
        _fail(str(exc))


def _search_start(paths: Sequence[str]) -> Path:
    """Where the search for a pyproject.toml starts: the deepest directory holding every path."""
    real = [os.path.abspath(p) for p in paths if p != "-"]
    if not real:
        return Path.cwd()
    common = Path(os.path.commonpath(real))
    return common if common.is_dir() else common.parent


def _migrate_options(suffix: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """SRC and the options both migration commands take."""

    def apply(fn: Callable[..., None]) -> Callable[..., None]:
        options: list[Callable[[Callable[..., None]], Callable[..., None]]] = [
            click.argument("src", type=str),
            click.option(
                "-o",
                "--output",
                "out",
                type=str,
                default=None,
                help=f"Output file (default: <stem>{suffix}.py beside SRC; '-' for stdout). For a "
                "directory SRC: an output directory that mirrors it (default: beside each file).",
            ),
            click.option(
                "--rules",
                "rule_dirs",
                multiple=True,
                type=click.Path(path_type=Path),
                help="Extra rule directory (repeatable); its rules override the shipped ones.",
            ),
            click.option("--diff", is_flag=True, help="Print a unified diff instead of writing files."),
            click.option("--force", is_flag=True, help="Overwrite existing output files."),
            click.option("--quiet", "-q", is_flag=True, help="Print no summary."),
            _project_options,
        ]
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


_PROJECT_KEYS = ("exclude", "jobs", "allow_unsupported", "config_file", "no_config", "show_progress")


def _split(options: dict[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    """(project options, verify options) from a command's keyword arguments."""
    project = {k: options.pop(k) for k in _PROJECT_KEYS}
    return project, options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fwmigrate")
def main() -> None:
    """Migrate model code between PyTorch and Keras 3 / TensorFlow, and prove it computes the same."""
    # The modules imported so far (libcst, click, fwmigrate) live as long as the process: moving
    # their objects out of the garbage collector's generations spares later collections from
    # walking them again, and a larger first generation collects less often while libcst builds
    # trees (which hold no reference cycles). Together ~6 ms of a one-file `check` (gc.callbacks).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@main.command("torch2tf")
@_migrate_options("_tf")
@click.option(
    "--verify", "do_verify", is_flag=True, help="Verify the result right away (needs --model, --input)."
)
@_verify_options
def torch2tf(
    src: str,
    out: str | None,
    rule_dirs: tuple[Path, ...],
    diff: bool,
    force: bool,
    quiet: bool,
    do_verify: bool,
    **options: object,
) -> None:
    """Migrate a PyTorch model file SRC ('-' for stdin), or every *.py file below a directory
    SRC, to Keras 3.

    Exit 0 when everything migrated, 1 when unsupported constructs remain (the output is still
    written, with marker comments), 2 for usage or input errors (nothing is written for that
    file; in a directory the other files are still migrated). With --verify the exit code is
    the verification's: 0 equivalent, 1 not equivalent, 2 error.
    """
    project, vopts = _split(options)
    run = _Migration(Direction.TORCH2TF, src, out, rule_dirs, diff, force, quiet, project)
    run.start(do_verify, vopts)


@main.command("tf2torch")
@_migrate_options("_torch")
@click.option(
    "--input-shape",
    "input_shape",
    type=str,
    default=None,
    help="Input shape of model classes that declare none (Keras layout, no batch), e.g. 32,32,3.",
)
@click.option(
    "--verify", "do_verify", is_flag=True, help="Verify the result right away (needs --model, --input)."
)
@_verify_options
def tf2torch(
    src: str,
    out: str | None,
    rule_dirs: tuple[Path, ...],
    diff: bool,
    force: bool,
    quiet: bool,
    input_shape: str | None,
    do_verify: bool,
    **options: object,
) -> None:
    """Migrate a Keras 3 / tf.keras model file SRC ('-' for stdin), or every *.py file below a
    directory SRC, to PyTorch.

    Exit 0 when everything migrated, 1 when unsupported constructs remain (the output is still
    written, with marker comments), 2 for usage or input errors (nothing is written for that
    file; in a directory the other files are still migrated). With --verify the exit code is
    the verification's: 0 equivalent, 1 not equivalent, 2 error.
    """
    shape = _parse_shape(input_shape) if input_shape is not None else None
    project, vopts = _split(options)
    run = _Migration(Direction.TF2TORCH, src, out, rule_dirs, diff, force, quiet, project, shape)
    run.start(do_verify, vopts)


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        _fail(f"--input-shape {text!r}: expected positive integers separated by commas, e.g. 32,32,3")
    return dims


class _Migration:
    """One migration command's run: a file, stdin, or a directory."""

    def __init__(
        self,
        direction: Direction,
        src: str,
        out: str | None,
        rule_dirs: tuple[Path, ...],
        diff: bool,
        force: bool,
        quiet: bool,
        project: dict[str, object],
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.direction, self.src, self.out, self.diff = direction, src, out, diff
        self.force, self.quiet, self.project, self.input_shape = force, quiet, project, input_shape
        self.settings = _settings([src], project, rules=rule_dirs or None)

    def start(self, do_verify: bool, vopts: dict[str, object]) -> NoReturn:
        if self.src != "-" and Path(self.src).is_dir():
            if do_verify:
                _fail(f"{self.src}: --verify takes a model file, not a directory")
            self.tree()
        if not do_verify:
            self.file()  # exits with the migration's code
        if self.src == "-" or self.out == "-" or self.diff:
            _fail("--verify needs files: a SRC path and a written output (not '-' or --diff)")
        options = _verify_opts(vopts)
        target = self.file(exit_now=False)
        assert target is not None
        _run_verify(Path(self.src), target, None, options, vopts)

    def _exit(self, complete: bool) -> NoReturn:
        sys.exit(EXIT_OK if complete or self.settings.allow_unsupported else EXIT_UNSUPPORTED)

    def file(self, exit_now: bool = True) -> Path | None:
        """Migrate one file and exit with the migration's code, or return the output path."""
        src, out, direction = self.src, self.out, self.direction
        try:
            rules = api.load_rules(direction, self.settings.rules)
        except RuleError as exc:
            _fail(str(exc))
        target: Path | None = None
        try:
            if src == "-":
                source, name = sys.stdin.read(), "<stdin>"
            else:
                source, name = api.read_source(Path(src)), src
            result = api.migrate_source(
                source, direction, rules, source_name=name, input_shape=self.input_shape
            )
            if self.diff:
                from migrator.batch import unified_diff

                to_name = out or (
                    str(api.default_output_path(Path(src), direction)) if src != "-" else "<stdout>"
                )
                click.echo(unified_diff(source, result.code, src, to_name), nl=False)
            elif out == "-" or (out is None and src == "-"):
                click.echo(result.code, nl=False)
            else:
                target = Path(out) if out is not None else api.default_output_path(Path(src), direction)
                if src != "-" and target.resolve() == Path(src).resolve():
                    _fail(f"{target}: output would overwrite the source file")
                record = api.write_outputs(result, target, self.force)
                if not self.quiet:
                    click.echo(f"wrote {target} and {record}", err=True)
        except api.InputError as exc:
            _fail(str(exc))
        except Exception as exc:  # a bug in fwmigrate, not in the input: say so in one line
            if os.environ.get("FWMIGRATE_DEBUG") == "1":
                raise
            _fail(
                f"{src}: internal error ({type(exc).__name__}: {exc}); "
                "rerun with FWMIGRATE_DEBUG=1 and report it"
            )
        if not self.quiet:
            click.echo(render_summary(result, src), err=True, nl=False)
        if exit_now:
            self._exit(result.complete)
        return target

    def tree(self) -> NoReturn:
        """Migrate every file below a directory, in parallel; failures are reported at the end."""
        from migrator import batch
        from migrator.console import progress_bar, wants_progress
        from migrator.report.batch_text import render_batch_summary

        tasks = self._tasks()
        try:
            batch.rules_for(self.direction, self.settings.rules)  # a bad rule file: one error, now
        except RuleError as exc:
            _fail(str(exc))
        jobs = batch.pool_size(self.settings.worker_count, len(tasks))
        show = wants_progress(_opt_bool(self.project.get("show_progress")), self.quiet)
        with progress_bar(len(tasks), self.direction.value, show) as progress:
            outcomes = batch.run(tasks, batch.migrate_file, jobs, progress)
        self._report(tasks, outcomes, render_batch_summary)
        sys.exit(int(batch.exit_code(outcomes, self.settings.allow_unsupported)))

    def _tasks(self) -> list[MigrateTask]:
        from migrator.batch import BatchError, MigrateTask, expand

        root = Path(self.src)
        if self.out == "-":
            _fail(f"{root}: -o - takes a file SRC; for a directory give -o DIR or --diff")
        out_dir = Path(self.out) if self.out is not None else None
        if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
            _fail(f"{out_dir}: not a directory (a directory SRC is mirrored into an output directory)")
        try:
            files = expand([root], self.settings.root or Path.cwd(), self.settings.exclude)
        except BatchError as exc:
            _fail(str(exc))
        if out_dir is not None:  # an output directory inside SRC is not an input
            files = [f for f in files if not Path(os.path.abspath(f)).is_relative_to(out_dir.absolute())]
        if not files:
            _fail(f"{root}: no *.py files to migrate")
        return [
            MigrateTask(
                f,
                self.direction,
                self.settings.rules,
                out_dir,
                root if out_dir is not None else None,
                self.force,
                self.input_shape,
                self.diff,
            )
            for f in files
        ]

    def _report(
        self,
        tasks: Sequence[MigrateTask],
        outcomes: Sequence[Outcome[FileOutcome]],
        render: Callable[..., str],
    ) -> None:
        for o in outcomes:
            if o.result is not None and o.result.diff:
                click.echo(o.result.diff, nl=False)
        text = render([t.src for t in tasks], outcomes)
        if self.quiet:  # failures are still shown
            text = "".join(line for line in text.splitlines(keepends=True) if line.startswith("fwmigrate:"))
        click.echo(text, err=True, nl=False)


def _pool_size(jobs: int, files: int) -> int:
    """Workers for ``files`` files (:func:`migrator.batch.pool_size`); a few files never import
    the process pool."""
    if files < 2:
        return 1
    from migrator.batch import pool_size

    return pool_size(jobs, files)


def _opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


@main.command("rules")
@click.option(
    "--direction", type=click.Choice([d.value for d in Direction]), default=None, help="Only this direction."
)
@click.option(
    "--rules", "rule_dirs", multiple=True, type=click.Path(path_type=Path), help="Extra rule directory."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def rules_cmd(direction: str | None, rule_dirs: tuple[Path, ...], as_json: bool) -> None:
    """List the loaded rules: id, direction, what each matches and what it emits."""
    from migrator.report.rules_text import rules_json, rules_table
    from migrator.rules.catalog import catalog

    try:
        entries = catalog(Direction(direction) if direction else None, rule_dirs)
    except RuleError as exc:
        _fail(str(exc))
    click.echo(rules_json(entries) if as_json else rules_table(entries), nl=False)


@main.command("explain")
@click.argument("rule_id")
@click.option(
    "--rules", "rule_dirs", multiple=True, type=click.Path(path_type=Path), help="Extra rule directory."
)
def explain_cmd(rule_id: str, rule_dirs: tuple[Path, ...]) -> None:
    """Print a rule's documentation and examples (ids as `fwmigrate rules` lists them)."""
    from migrator.report.rules_text import explain
    from migrator.rules.catalog import find

    try:
        found = find(rule_id, rule_dirs)
    except RuleError as exc:
        _fail(str(exc))
    if isinstance(found, list):
        hint = f"; did you mean {', '.join(found)}?" if found else "; see `fwmigrate rules`"
        _fail(f"no rule with id {rule_id!r}{hint}")
    click.echo(explain(found), nl=False)


@main.command("weights")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option(
    "--from",
    "original",
    required=True,
    type=click.Path(path_type=Path),
    help="The original model file the checkpoint belongs to.",
)
@click.option(
    "--to",
    "migrated",
    required=True,
    type=click.Path(path_type=Path),
    help="Its migration (fwmigrate output).",
)
@click.option("--model", required=True, help="Class/function name or call building the model in both files.")
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), help="The converted checkpoint."
)
@click.option(
    "--input",
    "input_specs",
    multiple=True,
    help="SHAPE[:DTYPE[:LOW:HIGH]] in the original's layout, as for verify: both models run once on it "
    "(needed to build a subclassed Keras model or to see a flatten's map).",
)
@click.option("--record", type=click.Path(path_type=Path), default=None, help="The migration record.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT.")
@click.option("--timeout", type=click.FloatRange(1), default=300.0, show_default=True, help="Seconds.")
@click.option("--definitions-only", is_flag=True, help="Load only imports, definitions and constants.")
def weights_cmd(
    checkpoint: Path,
    original: Path,
    migrated: Path,
    model: str,
    output: Path,
    input_specs: tuple[str, ...],
    record: Path | None,
    force: bool,
    timeout: float,
    definitions_only: bool,
) -> None:
    """Convert CHECKPOINT of the ORIGINAL model into one for MIGRATED, through the migration record
    and the weight transforms `verify` uses: a torch state_dict into Keras .weights.h5 (torch2tf),
    or Keras .weights.h5/.keras into a torch state_dict (tf2torch). Exit 0 converted, 2 on any error
    (nothing is written)."""
    from migrator.verify.spec import LoadMode
    from migrator.weights.convert import ConvertOptions, convert_checkpoint

    options = ConvertOptions(
        checkpoint,
        original,
        migrated,
        output,
        model,
        input_specs,
        record,
        force,
        timeout,
        LoadMode.DEFINITIONS if definitions_only else LoadMode.GUARDED,
    )
    try:
        done = convert_checkpoint(options)
    except api.InputError as exc:
        _fail(str(exc))
    for warning in done.warnings:
        click.echo(f"fwmigrate: warning: {warning}", err=True)
    click.echo(done.summary())


@main.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--direction",
    type=click.Choice(["auto", *(d.value for d in Direction)]),
    default=None,
    help="auto (default): per file from its imports (torch: torch2tf; keras/tensorflow: tf2torch).",
)
@click.option(
    "--min-score",
    "min_score",
    type=click.FloatRange(0, 100),
    default=None,
    help="Fail (exit 1) when a file's portability score is below this (default 0).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the report here, not to stdout.",
)
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra rule directory (repeatable; replaces the configured list).",
)
@click.option("--verbose", "-v", is_flag=True, help="List migrated constructs too (text and Markdown).")
@_project_options
def check_cmd(
    paths: tuple[Path, ...],
    direction: str | None,
    min_score: float | None,
    fmt: str,
    output: Path | None,
    rule_dirs: tuple[Path, ...],
    verbose: bool,
    **project: object,
) -> None:
    """Report how portable PATHs are: each framework construct, whether a rule migrates it, and a
    portability score per file. Static: nothing is imported or run, nothing written but --output.

    A directory PATH stands for its *.py files. Exit 0 when every file passes (score at least
    --min-score and, unless --allow-unsupported, no unsupported construct), 1 when one does not,
    2 for usage or input errors (a file that cannot be read or parsed is reported, the others are
    still checked).
    """
    from migrator.check import Policy, check_output, check_paths, expand_paths
    from migrator.console import progress_bar, wants_progress
    from migrator.report.check_formats import render_check

    settings = _settings(
        [str(p) for p in paths], project, direction=direction, min_score=min_score, rules=rule_dirs or None
    )
    try:
        files = expand_paths(paths, settings.root, settings.exclude)
        if output is not None:
            check_output(output, files)
        show = wants_progress(_opt_bool(project.get("show_progress")), quiet=False)
        with progress_bar(len(files), "check", show) as progress:
            report = check_paths(
                files,
                settings.direction.direction,
                settings.rules,
                Policy(settings.min_score, settings.allow_unsupported),
                debug=os.environ.get("FWMIGRATE_DEBUG") == "1",
                jobs=_pool_size(settings.worker_count, len(files)),
                progress=progress,
            )
        for failed in report.errors:
            click.echo(f"fwmigrate: error: {failed.error}", err=True)
        if report.checked:  # no report when no file could be checked at all
            text = render_check(report, fmt, verbose)
            if output is not None:
                api.write_atomic(output, text)
            else:
                click.echo(text, nl=False)
    except (api.InputError, RuleError) as exc:
        _fail(str(exc))
    sys.exit(EXIT_USAGE if report.errors else EXIT_OK if report.passed else EXIT_UNSUPPORTED)


@main.command("verify")
@click.argument("original", type=click.Path(path_type=Path))
@click.argument("migrated", type=click.Path(path_type=Path))
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    default=None,
    help="The migration record (default: <MIGRATED stem>.migration.json beside MIGRATED; "
    "with --via, the record of INTERMEDIATE, default beside it).",
)
@click.option(
    "--via",
    "via",
    type=click.Path(path_type=Path),
    default=None,
    metavar="INTERMEDIATE",
    help="Round trip: ORIGINAL is torch, INTERMEDIATE its torch2tf output, MIGRATED the tf2torch "
    "output of INTERMEDIATE; MIGRATED is checked against ORIGINAL.",
)
@_verify_options
def verify_cmd(
    original: Path, migrated: Path, record: Path | None, via: Path | None, **vopts: object
) -> None:
    """Check that MIGRATED computes the same function as ORIGINAL.

    Weights are moved from the original through the transforms the migration recorded; both
    models run on the same seeded inputs; outputs and every layer are compared. With --via, the
    weights go ORIGINAL -> INTERMEDIATE -> MIGRATED (a torch -> Keras -> torch round trip). Exit 0
    equivalent, 1 not equivalent, 2 usage or input error (including a model that cannot be built).
    """
    _run_verify(original, migrated, record, _verify_opts(vopts), vopts, via=via)


@main.command("export")
@click.argument("migrated", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["savedmodel", "tflite", "torchscript", "exported-program", "onnx"]),
    required=True,
    help="savedmodel/tflite for a Keras model; torchscript/exported-program/onnx for a torch model.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the artefact goes (default: <MIGRATED stem>_<format> beside MIGRATED).",
)
@click.option(
    "--verify-against",
    "original",
    type=click.Path(path_type=Path),
    default=None,
    metavar="ORIGINAL",
    help="The source file MIGRATED was migrated from: its model's weights are moved into the "
    "migrated model as verify moves them, and the artefact is compared with the original.",
)
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    default=None,
    help="The migration record (default: <MIGRATED stem>.migration.json beside MIGRATED).",
)
@click.option(
    "--weights",
    type=click.Path(path_type=Path),
    default=None,
    help="A checkpoint of the model the weights start from: the original's with --verify-against "
    "(torch state_dict or Keras .weights.h5), else the migrated model's.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
@_verify_options
def export_cmd(
    migrated: Path,
    fmt: str,
    output: Path | None,
    original: Path | None,
    record: Path | None,
    weights: Path | None,
    force: bool,
    **vopts: object,
) -> None:
    """Export MIGRATED's model (--model) to a deployment format and prove the artefact.

    The artefact is loaded back with its own runtime (a loaded SavedModel, the TFLite interpreter,
    torch.jit.load, torch.export.load, onnxruntime) and run on seeded inputs: against ORIGINAL
    with --verify-against (--input in ORIGINAL's layout), else against the in-memory model it was
    exported from (--input in MIGRATED's layout). Exit 0 equivalent, 1 not equivalent (the
    artefact is still written), 2 usage or input error (nothing written).
    """
    from migrator.export.formats import ExportFormat
    from migrator.export.run import ExportRequest, ExportUsageError, default_output, export
    from migrator.report.verify_text import render_verify_text
    from migrator.verify.result import Verdict

    if vopts.get("train_steps"):
        _fail("--train-steps does not apply to export (an exported artefact is inference only)")
    options = _verify_opts(vopts)
    for path in (migrated, original):
        if path is not None and not path.is_file():
            _fail(f"{path}: no such file")
    export_format = ExportFormat(fmt)
    if original is not None and record is None:
        record = api.record_path_for(migrated)
        if not record.is_file():
            _fail(f"{record}: no migration record beside {migrated.name} (pass --record)")
    request = ExportRequest(
        migrated,
        export_format,
        output or default_output(migrated, export_format),
        options,
        original,
        record,
        weights,
        force,
    )
    try:
        outcome = export(request)
        for _, key, render, _ in _REPORTS:
            report = vopts.get(key)
            if isinstance(report, Path):
                api.write_atomic(report, api.render_report(outcome.result, render))
    except (ExportUsageError, api.InputError) as exc:
        _fail(str(exc))
    click.echo(render_verify_text(outcome.result), nl=False)
    if outcome.result.verdict is Verdict.ERROR:
        sys.exit(EXIT_USAGE)
    click.echo(f"wrote {outcome.artefact}")
    sys.exit(EXIT_OK if outcome.result.equivalent else EXIT_UNSUPPORTED)


if __name__ == "__main__":  # pragma: no cover
    main()
