"""Rich progress bars for long work (conversion, training, evaluation).

Library functions accept `progress: bool`; bars go to stderr so JSON printed on stdout stays
clean, and they are disabled automatically when stderr is not a terminal and `force` is False.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

stderr_console = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A `rich.progress.Progress` with count, rate-free ETA and a free-text field `info`."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=stderr_console,
        disable=not enabled or not (sys.stderr.isatty() or stderr_console.is_terminal),
        transient=False,
    )
    with progress:
        yield progress
