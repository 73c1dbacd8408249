"""Generated videos and a tiny saved detector for the `detect` tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ssvad_keras.config import load_config
from ssvad_keras.models import build_detector

NUM_CLASSES = 3
VIDEO_FRAMES = 50  # not a multiple of T * s = 16
VIDEO_SIZE = (72, 96)  # (height, width), unlike the model's 32x32
VIDEO_FPS = 10.0

# A 1/8-width detector at 8x32x32: a forward pass takes milliseconds on a CPU.
TINY_DETECTOR = {
    "data.input_size": [32, 32],
    "model.encoder_width": 0.125,
    "model.primary_kernel": 3,
    "model.primary_types": 4,
    "model.decoder_channels": 8,
    "model.decoder_final_channels": 8,
}


def write_mp4(path: Path, frames: np.ndarray, fps: float = VIDEO_FPS) -> Path:
    """Write RGB uint8 frames (N, H, W, 3) as an mp4v `.mp4` with OpenCV."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def read_video(path: Path) -> tuple[int, tuple[int, int], float]:
    """(frames decoded, (height, width), fps) of a video, read back with OpenCV."""
    capture = cv2.VideoCapture(str(path))
    count, size = 0, None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count, size = count + 1, frame.shape[:2]
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return count, size, fps


@pytest.fixture(scope="session")
def moving_square_video(tmp_path_factory) -> Path:
    """50 frames at 96x72 of a grey square drifting over a textured background."""
    rng = np.random.default_rng(0)
    height, width = VIDEO_SIZE
    background = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
    frames = np.repeat(background[None], VIDEO_FRAMES, axis=0)
    for t in range(VIDEO_FRAMES):
        x = 10 + t
        frames[t, 20:50, x : x + 30] = 200
    return write_mp4(tmp_path_factory.mktemp("video") / "walk.mp4", frames)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """An untrained 3-class detector at 8x32x32, saved as `.keras`."""
    detector = build_detector(config=load_config(overrides=TINY_DETECTOR), num_classes=NUM_CLASSES, seed=0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    detector.save(path)
    return path
