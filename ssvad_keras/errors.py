"""User-facing errors.

Every mistake a user can make (a missing file, a malformed annotation, an invalid config value)
raises `SsvadError` with one line that names the file and what is wrong. The CLI prints that line
and exits non-zero without a traceback; programming errors keep their tracebacks.
"""

from __future__ import annotations

from os import PathLike


class SsvadError(Exception):
    """A user mistake, reported as one line: `path: what is wrong`."""

    def __init__(self, message: str, path: str | PathLike | None = None, exit_code: int = 2):
        self.path = None if path is None else str(path)
        self.exit_code = exit_code
        self.detail = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class DataError(SsvadError):
    """A dataset file is missing, unreadable or inconsistent with its annotation."""


class ConfigError(SsvadError):
    """A configuration file or value is invalid."""


class CheckpointError(SsvadError):
    """A checkpoint or weights file is missing, unsafe, or does not match the model."""
