"""`ssvad`: prepare datasets, train, evaluate, detect, export and convert weights.

Each command is a thin wrapper over a library function; user mistakes (`SsvadError`) print one
line and exit non-zero, without a traceback.
"""

from __future__ import annotations

import typer

from ssvad_cli import (
    commands_data,
    commands_detect,
    commands_eval,
    commands_model,
    commands_pretrain,
    commands_train,
    commands_vos,
)
from ssvad_cli._common import console, err_console, fail
from ssvad_keras import __version__
from ssvad_keras.errors import SsvadError

app = typer.Typer(
    name="ssvad",
    help="Semi-supervised video action detection (Kumar & Rawat, CVPR 2022) in Keras 3.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"ssvad-keras {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Semi-supervised video action detection in Keras 3."""
    from ssvad_keras.io import tensorflow_io_problem

    if problem := tensorflow_io_problem():
        err_console.print(f"[yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)


commands_data.register(app)
commands_model.register(app)
commands_train.register(app)
commands_pretrain.register(app)
commands_eval.register(app)
commands_detect.register(app)
commands_vos.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SsvadError as err:
        fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)


if __name__ == "__main__":
    main()
