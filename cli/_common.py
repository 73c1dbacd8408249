"""Shared pieces of the CLI: consoles and the one-line error handler."""

from __future__ import annotations

import enum
import sys

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


class Weights(enum.StrEnum):
    """`--weights`: which network of a mean-teacher run (`RunDir.resolve_model`)."""

    teacher = "teacher"
    student = "student"


WEIGHTS_HELP = ("Mean-teacher run directory: evaluate the EMA teacher or the student (default: the run's "
                "eval.weights, saved as best.keras).")


def fail(message: str, exit_code: int = 2) -> None:
    """Print one line to stderr and exit non-zero (no traceback)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(exit_code)
