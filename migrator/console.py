"""Terminal output for the command line: a progress bar (rich) for runs over many files.

Only the CLI uses this module; the library reports progress through callbacks and never prints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

Progress = Callable[[int, int], None]


def wants_progress(setting: bool | None, quiet: bool, stream: TextIO | None = None) -> bool:
    """Whether to show a bar: ``--progress``/``--no-progress`` when given, else when the stream
    (stderr) is a terminal and the run is not ``--quiet``."""
    if setting is not None:
        return setting
    out = stream if stream is not None else sys.stderr
    return not quiet and out.isatty()


@contextmanager
def progress_bar(total: int, label: str, enabled: bool) -> Iterator[Progress | None]:
    """A bar on stderr counting ``total`` files, as a ``progress(done, total)`` callback; None
    (no bar) when not ``enabled`` or for a single file. The bar is removed when the run ends, so
    the summary that follows is all that stays on the screen."""
    if not enabled or total < 2:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = Console(file=sys.stderr, force_terminal=True)
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Bar(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, _total: bar.update(task, completed=done)
