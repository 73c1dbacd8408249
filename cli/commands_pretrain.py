"""`ssvad pretrain`: pretrain a preset's encoder and decoder on generated clips."""

from __future__ import annotations

import enum
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from ssvad_cli._common import console

# The objectives of `ssvad_keras.pretrain.OBJECTIVES` (not imported: `ssvad --help` stays light).
Objective = enum.StrEnum("Objective", {name: name for name in ("both", "segment", "classify")})


def pretrain(
    out: Annotated[Path, typer.Option(help="Output stem: writes OUT.weights.h5 and OUT.json.")],
    preset: Annotated[str, typer.Option(help="Model preset whose width is pretrained.")] = "tiny",
    config: Annotated[list[Path] | None, typer.Option(help="Experiment TOML file(s) over the preset.")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Optimisation steps (every clip is new).")] = 3000,
    objective: Annotated[
        Objective, typer.Option(help="both (boxes + classes), segment (boxes only) or classify (classes only).")
    ] = Objective.both,
    batch_size: Annotated[int, typer.Option(min=1, help="Clips per step.")] = 8,
    learning_rate: Annotated[
        float | None, typer.Option(help="Peak learning rate (cosine decay) [default: 3e-3, PRETRAIN_RECIPE].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the clip stream (disjoint from benchmark seeds).")] = 1000,
    heldout_clips: Annotated[int, typer.Option(min=1, help="Held-out clips scored at the end.")] = 64,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Pretrain the encoder (and decoder) on the `pretrain` vocabulary's clips, rendered on the fly."""
    from ssvad_keras.config import load_config
    from ssvad_keras.data.geometry import resolve_resize
    from ssvad_keras.pretrain import PRETRAIN_RECIPE, card_summary
    from ssvad_keras.pretrain import pretrain as run_pretraining
    from tfrecords_tools.synthetic import DEFAULT_FRAME_SIZES, vocabulary
    from tfrecords_tools.synthetic.clips import ClipSpec, clip_stream

    overrides = dict(PRETRAIN_RECIPE)
    if learning_rate is not None:
        overrides["train.learning_rate"] = learning_rate
    cfg = load_config(config, preset=preset, overrides=overrides)
    vocab = vocabulary("pretrain")
    # Clips are rendered at the size the model's geometry resizes the benchmark's stored frames to.
    frame_size = resolve_resize(DEFAULT_FRAME_SIZES[vocab.name], cfg.data.input_size, cfg.data.resize_to)
    spec = ClipSpec(cfg.data.clip_length, cfg.data.frame_skip, tuple(frame_size), tuple(cfg.data.input_size))
    result = run_pretraining(
        cfg,
        lambda s, start: clip_stream(vocab.name, spec, s, start),
        list(vocab.class_names),
        out,
        steps=steps,
        objective=objective.value,
        batch_size=batch_size,
        seed=seed,
        heldout_seed=seed + 1,
        heldout_clips=heldout_clips,
        corpus={"generator": "tfrecords_tools.synthetic.clips", "vocabulary": vocab.name,
                "frame_size": list(frame_size), "preset": preset},
        command=shlex.join(["ssvad", *sys.argv[1:]]),
        progress=not quiet,
    )
    console.print(f"[bold]pretrained[/] {result.weights_path}: {card_summary(result.card)}")


def register(app: typer.Typer) -> None:
    """Add `pretrain` to `app`."""
    app.command()(pretrain)
