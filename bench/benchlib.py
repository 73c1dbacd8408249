"""Command-line helpers the bench scripts share."""

from __future__ import annotations

import argparse
import ast


def config_override(text: str) -> tuple[str, object]:
    """A `--set KEY=VALUE` argument -> (dotted key, value): the value read as a Python literal
    when it is one (`3e-3`, `true` is not one but `True` is, `[69, 91]`, `'"none"'`), else kept as
    the string (`stored`)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value
