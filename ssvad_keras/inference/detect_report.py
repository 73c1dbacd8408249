"""The table `ssvad detect` prints for a `DetectionResult`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ssvad_keras.inference.detect import DetectionResult


def render_detection_summary(result: DetectionResult):
    """A rich table summarising a `DetectionResult` for the CLI.

    Shows frames, frame rate processed, predicted class with probability, the top 3 classes,
    frames with a detection, the per-window class timeline and the output paths.
    """
    from rich.table import Table

    table = Table(title=f"ssvad detect: {result.video_path.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")  # paths wrap rather than lose their end
    height, width = result.frame_size
    table.add_row("frames", f"{result.num_frames} at {width}x{height}, {result.fps:.2f} fps")
    table.add_row("processed", f"{result.processing_fps:.1f} frames/s ({result.seconds:.1f} s)")
    best = result.predicted_class
    table.add_row("predicted class", f"{result.class_names[best]} ({result.class_probs[best]:.3f})")
    table.add_row("top 3", ", ".join(f"{name} {p:.3f}" for name, p in result.top_classes(3)))
    share = result.frames_with_detection / max(result.num_frames, 1)
    table.add_row("frames with a detection", f"{result.frames_with_detection} / {result.num_frames} ({share:.0%})")
    table.add_row("per window", _window_timeline(result))
    if result.class_names_source == "generic":
        table.add_row("class names", "none known: class_<i> (give --classes a,b,c)")
    table.add_row("tubes", f"{result.tubes_path} ({len(result.tubes)} tubes)")
    if result.overlay_path is not None:
        table.add_row("overlay", str(result.overlay_path))
    return table


def _window_timeline(result: DetectionResult) -> str:
    """Runs of consecutive windows with the same top class: `frames 1-32: a 0.61; 33-50: b 0.40`."""
    if not len(result.window_probs):
        return "-"
    top = np.argmax(result.window_probs, axis=1)
    parts, start = [], 0
    for i in range(1, len(top) + 1):
        if i == len(top) or top[i] != top[start]:
            first = start * result.window_frames + 1
            last = min(i * result.window_frames, result.num_frames)
            mean = float(result.window_probs[start:i, top[start]].mean())
            parts.append(f"{first}-{last}: {result.class_names[top[start]]} {mean:.2f}")
            start = i
    shown = parts if len(parts) <= 8 else [*parts[:4], f"... ({len(parts) - 8} more) ...", *parts[-4:]]
    return "frames " + "; ".join(shown)
