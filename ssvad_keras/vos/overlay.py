"""An overlay video of a VOS prediction: each frame with its predicted objects in DAVIS colours."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ssvad_keras.errors import DataError
from ssvad_keras.evaluation.vos import davis_palette, read_palette_png
from ssvad_keras.io import atomic_path


def write_overlay_video(
    frames_dir: str | os.PathLike,
    predictions_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    ground_truth_dir: str | os.PathLike | None = None,
    fps: float = 6.0,
    scale: int = 3,
    alpha: float = 0.55,
) -> Path:
    """Write an mp4 (OpenCV, mp4v) of one video with its predicted masks blended in.

    Args:
        frames_dir: `JPEGImages/<video>/`.
        predictions_dir: `Annotations/<video>/` of a prediction (palette PNGs).
        out: the .mp4 file (written atomically).
        ground_truth_dir: optional `Annotations/<video>/` shown beside the prediction.
        fps: frames per second.
        scale: nearest-neighbour magnification (small synthetic frames).
        alpha: opacity of the mask colours.

    Returns:
        `out`.

    Raises:
        DataError: no predicted frame has its image.
    """
    frames_dir, predictions_dir = Path(frames_dir), Path(predictions_dir)
    palette = davis_palette()[:, ::-1].astype(np.float32)  # BGR
    stems = [p.stem for p in sorted(predictions_dir.glob("*.png")) if (frames_dir / f"{p.stem}.jpg").is_file()]
    if not stems:
        raise DataError(f"no predicted frame of {predictions_dir} has an image in {frames_dir}", predictions_dir)

    def blend(frame, ids):
        colour = palette[ids]
        weight = (ids > 0)[..., None] * alpha
        return (frame * (1 - weight) + colour * weight).astype(np.uint8)

    tiles = []
    for stem in stems:
        frame = cv2.imread(str(frames_dir / f"{stem}.jpg")).astype(np.float32)
        row = [blend(frame, read_palette_png(predictions_dir / f"{stem}.png"))]
        if ground_truth_dir is not None and (Path(ground_truth_dir) / f"{stem}.png").is_file():
            row.append(blend(frame, read_palette_png(Path(ground_truth_dir) / f"{stem}.png")))
        tile = np.concatenate(row, axis=1)
        tiles.append(cv2.resize(tile, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST))
    out = Path(out)
    with atomic_path(out) as tmp:
        staged = tmp.with_suffix(".mp4")
        height, width = tiles[0].shape[:2]
        writer = cv2.VideoWriter(str(staged), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        for tile in tiles:
            writer.write(tile)
        writer.release()
        staged.replace(tmp)
    return out
