"""Small ACT cases with hand-computed answers, shared by the library and CLI tests.

Classes: 0 "walk", 1 "jump", 2 "dive" (2 never appears in the test split). Test videos
`W/v1`, `J/v2` (split 1); `W/t1` is a training video whose ground truth and detections must be
ignored. Boxes are pixel-inclusive: [0, 0, 9, 9] is 10 x 10 = 100 pixels.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

LABELS = ["walk", "jump", "dive"]
FULL = [0, 0, 9, 9]
LEFT_HALF = [0, 0, 4, 9]  # inclusive IoU with FULL = 50 / 100 = 0.5 (exclusive areas would give 0.44)


def tube_rows(frames, box=FULL) -> np.ndarray:
    return np.array([[f, *box] for f in frames], dtype=np.float32)


def annotation_dict() -> dict:
    """The ACT annotation structure (as in UCF101v2-GT.pkl)."""
    return {
        "labels": LABELS,
        "gttubes": {
            "W/v1": {0: [tube_rows(range(1, 11))]},   # walk, frames 1..10
            "J/v2": {1: [tube_rows(range(1, 5))]},    # jump, frames 1..4
            "W/t1": {0: [tube_rows(range(1, 11))]},   # training video
        },
        "nframes": {"W/v1": 12, "J/v2": 6, "W/t1": 10},
        "train_videos": [["W/t1"]],
        "test_videos": [["W/v1", "J/v2"]],
        "resolution": {"W/v1": (240, 320), "J/v2": (240, 320), "W/t1": (240, 320)},
    }


def write_annotation(path: Path) -> Path:
    """Pickle the annotation with protocol 2, as the Python-2 era files are."""
    path.write_bytes(pickle.dumps(annotation_dict(), protocol=2))
    return path


# Frame detections: (video, frame, label, score, box) and the verdict at IoU 0.5.
FRAME_DETECTIONS = [
    ("W/t1", 1, 0, 0.95, FULL),       # training video: ignored (else an extra TP)
    ("W/v1", 1, 0, 0.90, FULL),       # walk TP
    ("W/v1", 1, 0, 0.80, FULL),       # duplicate: FP
    ("W/v1", 11, 0, 0.70, FULL),      # frame without ground truth: FP
    ("W/v1", 2, 0, 0.60, LEFT_HALF),  # IoU exactly 0.5 with inclusive areas: TP
    ("W/v1", 1, 1, 0.90, FULL),       # jump on a walk video: FP
    ("J/v2", 1, 1, 0.50, FULL),       # jump TP
]
# walk: 10 GT boxes; TP, FP, FP, TP -> (r, p) = (.1, 1) (.1, .5) (.1, 1/3) (.2, .5)
WALK_FRAME_AP = 0.1 * (1 + 1) / 2 + 0.1 * (1 / 3 + 0.5) / 2
# jump: 4 GT boxes; FP, TP -> (0, 0) (.25, .5): no envelope, so the first FP costs area
JUMP_FRAME_AP = 0.25 * (0 + 0.5) / 2
FRAME_MAP = (WALK_FRAME_AP + JUMP_FRAME_AP + 0.0) / 3  # dive has no GT: AP 0, still counted

# Tubes: (video, label, score, rows).
TUBES = [
    ("W/t1", 0, 0.99, tube_rows(range(1, 11))),            # training video: ignored
    ("W/v1", 0, 0.90, tube_rows(range(1, 11))),            # walk, IoU 1
    ("W/v1", 0, 0.80, tube_rows(range(1, 11), [0, 0, 9, 8])),  # IoU .9 with the above: NMS drops it
    ("W/v1", 0, 0.60, tube_rows(range(20, 25))),           # no temporal overlap: FP
    ("J/v2", 1, 0.70, tube_rows(range(3, 5))),             # jump, frames 3..4 of 1..4: IoU 0.5
]
# walk: TP, FP at every threshold -> AP 1 (recall 1 at precision 1 first)
# jump: TP at t <= 0.5, FP above -> AP 1 at 0.2 and 0.5, 0 above
VIDEO_MAP = {0.2: (1 + 1 + 0) / 3, 0.5: (1 + 1 + 0) / 3, 0.75: (1 + 0 + 0) / 3}
VIDEO_MAP_50_95 = (1 + (1 + 9 * 0) / 10 + 0) / 3
