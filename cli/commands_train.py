"""`ssvad train` and `ssvad demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ssvad_cli._common import console


def train(
    data: Annotated[Path | None, typer.Option(help="Folder written by `ssvad prepare`.")] = None,
    labeled: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Labeled fraction: picks (or writes) that split file.")
    ] = None,
    config: Annotated[
        list[Path] | None,
        typer.Option(help="Experiment TOML file(s), merged in order (e.g. a dataset file, then a table row)."),
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Model preset: tiny, small or paper.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override train.epochs.")] = None,
    steps_per_epoch: Annotated[int | None, typer.Option(min=1, help="Override train.steps_per_epoch.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override train.seed (also picks the split).")] = None,
    supervised_only: Annotated[
        bool, typer.Option("--supervised-only", help="Train on labeled clips only (the baseline).")
    ] = False,
    strategy: Annotated[
        str | None, typer.Option(help="tf.distribute strategy: none, mirrored or multiworker.")
    ] = None,
    mixed_precision: Annotated[
        bool, typer.Option("--mixed-precision", help="mixed_float16 with loss scaling.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="New run directory.")] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this directory from its own config; --epochs, --steps-per-epoch, "
            "--strategy and --mixed-precision may change (recorded in the run)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Train a detector with supervised and consistency losses (semi-supervised by default)."""
    from ssvad_keras.config import load_config
    from ssvad_keras.training import train as run_training

    overrides = {
        "train.epochs": epochs,
        "train.steps_per_epoch": steps_per_epoch,
        "train.seed": seed,
        "train.strategy": strategy,
        "train.mixed_precision": True if mixed_precision else None,
        "train.semi_supervised": False if supervised_only else None,
    }
    if resume is not None:
        # The run's own config, with the options given; --config/--preset name a full config that
        # must then match the run's.
        cfg = load_config(config, preset=preset) if config or preset else None
        result = run_training(
            cfg, data_dir=data, labeled_fraction=labeled, out=out, resume=resume, progress=not quiet, overrides=overrides
        )
        if result.epochs_trained == 0:
            console.print(f"nothing to train: {result.run_dir} has {result.epochs_done} of {result.epochs_done} epochs")
            return
    else:
        cfg = load_config(config, preset=preset, overrides=overrides)
        result = run_training(cfg, data_dir=data, labeled_fraction=labeled, out=out, progress=not quiet)
    best = "n/a" if result.best_metric is None else f"{result.best_metric:.4f}"
    console.print(
        f"[bold]trained[/] {result.epochs_trained} epochs ({result.epochs_done} in all) in {result.seconds:.0f}s "
        f"-> {result.run_dir} (best {best} at epoch {result.best_epoch})"
    )


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the benchmark data and the runs.")] = Path("runs/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the benchmark and the runs.")] = 0,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override the demo's epochs.")] = None,
    jobs: Annotated[
        int, typer.Option(min=1, help="Runs trained at once, each in its own process (1: one after the other).")
    ] = 2,
) -> None:
    """Prepare the synthetic benchmark, train supervised vs semi-supervised on 20% labels, compare."""
    from ssvad_keras.demo import render_demo_table, run_demo

    result = run_demo(out, seed=seed, epochs=epochs, jobs=jobs)
    console.print(render_demo_table(result))


def register(app: typer.Typer) -> None:
    """Add `train` and `demo` to `app`."""
    app.command()(train)
    app.command()(demo)
