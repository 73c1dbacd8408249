"""`ssvad model summary`, `ssvad export` and `ssvad convert-weights i3d`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ssvad_cli._common import WEIGHTS_HELP, Weights, console


def model_summary(
    preset: Annotated[str, typer.Option(help="Model preset (configs/presets).")] = "paper",
    num_classes: Annotated[int, typer.Option(help="Action classes.")] = 24,
) -> None:
    """Print parameters per block and forward GFLOPs per clip."""
    from ssvad_keras.models import build_detector
    from ssvad_keras.models.summary import summarize_detector

    detector = build_detector(preset=preset, num_classes=num_classes)
    rows = summarize_detector(detector)
    table = Table(title=f"{preset}: clip {detector.clip_shape}, {num_classes} classes")
    table.add_column("block")
    table.add_column("parameters", justify="right")
    table.add_column("GFLOPs / clip", justify="right")
    for row in rows:
        table.add_row(row.name, f"{row.parameters:,}", f"{row.flops / 1e9:.3f}")
    table.add_row(
        "total",
        f"{sum(r.parameters for r in rows):,}",
        f"{sum(r.flops for r in rows) / 1e9:.3f}",
        style="bold",
    )
    console.print(table)


def export(
    checkpoint: Annotated[Path, typer.Option(help="Trained detector (.keras) or a run directory (its best.keras).")],
    out: Annotated[Path, typer.Option(help="SavedModel folder to write.")],
    weights: Annotated[Weights | None, typer.Option(help=WEIGHTS_HELP.replace("evaluate", "export"))] = None,
) -> None:
    """Export a detector as a SavedModel: clip -> {class_scores, loc_probs}."""
    from ssvad_keras.models.export import export_detector
    from ssvad_keras.run_dir import checkpoint_model_path

    path, _ = checkpoint_model_path(checkpoint, None if weights is None else weights.value)
    export_detector(path, out)
    console.print(f"wrote SavedModel {out} (signature 'serve': clip -> class_scores, loc_probs)")


def convert_i3d(
    source: Annotated[Path, typer.Argument(help="PyTorch .pt state dict or TF checkpoint.")],
    out: Annotated[Path, typer.Option(help="Output .weights.h5.")],
    variant: Annotated[str, typer.Option(help="Encoder variant: ssl or original.")] = "ssl",
) -> None:
    """Convert pretrained I3D weights to a Keras .weights.h5 for the encoder."""
    from ssvad_keras.models import convert_i3d_weights

    report = convert_i3d_weights(source, out, variant=variant)
    console.print(f"converted {report.units} I3D units from {source} -> {out}")
    if report.unused_keys:
        console.print(f"unused source keys ({len(report.unused_keys)}): {', '.join(report.unused_keys)}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    model_app = typer.Typer(help="Inspect detector models.", no_args_is_help=True)
    model_app.command("summary")(model_summary)
    app.add_typer(model_app, name="model")
    app.command("export")(export)
    convert_app = typer.Typer(help="Convert pretrained weights.", no_args_is_help=True)
    convert_app.command("i3d")(convert_i3d)
    app.add_typer(convert_app, name="convert-weights")
