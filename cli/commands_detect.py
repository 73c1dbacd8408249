"""`ssvad detect`: a trained detector on any video file (tubes.json, overlay.mp4, summary)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ssvad_cli._common import console


def detect(
    video: Annotated[Path, typer.Argument(help="Any video file OpenCV reads (mp4, avi, mkv, ...).")],
    checkpoint: Annotated[
        Path, typer.Option(help="Training run directory (best.keras and its class names) or a model.keras file.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: <video stem>_detections/ next to the video).")
    ] = None,
    frame_skip: Annotated[
        int | None, typer.Option(min=1, help="Stride between a clip's frames (default: the config's data.frame_skip, 2).")
    ] = None,
    mask_threshold: Annotated[
        float | None, typer.Option(help="Foreground probability threshold (default: eval.mask_threshold, 0.5).")
    ] = None,
    score_floor: Annotated[
        float | None, typer.Option(help="Classes below this video probability get no tube (default: eval.tube_score_floor, 0.1).")
    ] = None,
    classes: Annotated[
        str | None, typer.Option(help="Comma-separated class names, for a .keras file without a dataset.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Clips per forward pass (default: eval.batch_size); memory grows with it.")
    ] = None,
    overlay: Annotated[
        bool, typer.Option("--overlay/--no-overlay", help="Write overlay.mp4 (mask tint, box, class and score).")
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Detect the action in VIDEO: class, per-frame boxes, tubes.json and an overlay video.

    Example: `ssvad detect walk.mp4 --checkpoint runs/ucf_full`.
    """
    from ssvad_keras.inference.detect import detect_video, render_detection_summary

    result = detect_video(
        video,
        checkpoint,
        out,
        frame_skip=frame_skip,
        mask_threshold=mask_threshold,
        score_floor=score_floor,
        overlay=overlay,
        class_names=None if classes is None else [name.strip() for name in classes.split(",")],
        batch_size=batch_size,
        progress=not quiet,
    )
    console.print(render_detection_summary(result))


def register(app: typer.Typer) -> None:
    """Add `detect` to `app`."""
    app.command("detect")(detect)
