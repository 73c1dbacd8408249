"""`ssvad vos train|predict`: video object segmentation transfer (paper Sec. 6.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ssvad_cli._common import console

vos_app = typer.Typer(
    help="Semi-supervised video object segmentation (YouTube-VOS layout) with the action model's parts.",
    no_args_is_help=True,
)


@vos_app.command("train")
def train(
    data: Annotated[Path | None, typer.Option(help="Dataset root in the YouTube-VOS layout (train/ is used).")] = None,
    labeled: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Labeled fraction of the training videos (data.labeled_fraction).")
    ] = None,
    config: Annotated[
        list[Path] | None,
        typer.Option(help="VOS TOML file(s), merged in order (e.g. configs/vos/semi_supervised_10.toml)."),
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Model preset: tiny, small or paper.")] = None,
    init: Annotated[
        Path | None,
        typer.Option(help="Initialise from an `ssvad train` run folder or .keras detector (encoder + "
                          "decoder), or from converted I3D weights (encoder)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override train.epochs.")] = None,
    steps_per_epoch: Annotated[int | None, typer.Option(min=1, help="Override train.steps_per_epoch.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override train.seed (also picks the split).")] = None,
    supervised_only: Annotated[
        bool, typer.Option("--supervised-only", help="Labeled clips only (train.semi_supervised = false).")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="New run directory.")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the run in this directory.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Train the mask-propagation model: BCE + Dice on labeled videos, flip consistency with
    temporal coherence on every clip (semi-supervised by default)."""
    from ssvad_keras.errors import ConfigError
    from ssvad_keras.vos.config import load_vos_config
    from ssvad_keras.vos.train import train_vos

    training = {
        "train.epochs": epochs,
        "train.steps_per_epoch": steps_per_epoch,
        "train.seed": seed,
        "train.semi_supervised": False if supervised_only else None,
    }
    if resume is not None:
        given = [name for name, value in (
            ("--data", data), ("--labeled", labeled), ("--config", config), ("--preset", preset),
            ("--init", init), ("--out", out), ("--seed", seed), ("--supervised-only", supervised_only or None),
        ) if value is not None]
        if given:
            raise ConfigError(f"{given[0]} is fixed by the run being resumed; with --resume only "
                              "--epochs and --steps-per-epoch apply")
        result = train_vos(None, resume=resume, overrides=training, progress=not quiet)
    else:
        overrides = {**training, "data.labeled_fraction": labeled,
                     "vos.init": None if init is None else str(init)}
        cfg = load_vos_config(config, preset=preset, overrides=overrides)
        result = train_vos(cfg, data_dir=data, out=out, progress=not quiet)
    best = "n/a" if result.best_metric is None else f"{result.best_metric:.4f}"
    console.print(
        f"[bold]trained[/] {result.epochs_done} epochs in {result.seconds:.0f}s -> {result.run_dir} "
        f"(best val J&F {best} at epoch {result.best_epoch})"
    )


@vos_app.command("predict")
def predict(
    checkpoint: Annotated[Path, typer.Option(help="`ssvad vos train` run folder or a .keras VOS model.")],
    data: Annotated[Path, typer.Option(help="Dataset root in the YouTube-VOS layout.")],
    out: Annotated[Path, typer.Option(help="Prediction folder: OUT/Annotations/<video>/<frame>.png and OUT.zip.")],
    split: Annotated[str, typer.Option(help="Split folder under --data to segment.")] = "valid",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Segment every object of a split from its first-appearance mask; write palette PNGs
    (DAVIS palette, original resolution) and the zip the YouTube-VOS server takes."""
    from ssvad_keras.vos.predict import predict_split

    folder, archive = predict_split(checkpoint, data, split, out, progress=not quiet)
    console.print(f"wrote {folder}/Annotations and {archive}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add `ssvad vos` to `app`."""
    app.add_typer(vos_app, name="vos", help="Video object segmentation transfer: train and predict.")
