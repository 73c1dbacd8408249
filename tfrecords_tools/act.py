"""The ACT ground-truth pickles (`UCF101v2-GT.pkl`, `JHMDB-GT.pkl`), read and checked.

Both are Python-2 pickles of a dict with `labels` (class names), `gttubes` {video: {label:
[array (n, 5) rows `frame x1 y1 x2 y2`, 1-based frames]}}, `nframes` {video: int},
`train_videos` / `test_videos` (one list of video ids per split) and `resolution` {video: (h, w)}.
They are loaded with the restricted unpickler: anything but containers, strings, numbers and
NumPy arrays is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssvad_keras.errors import DataError
from ssvad_keras.io import load_pickle_restricted
from tfrecords_tools.common import Tube

REQUIRED_KEYS = ("labels", "gttubes", "nframes", "train_videos", "test_videos")


@dataclass(frozen=True)
class ActVideo:
    """One video's annotation: class, frame count, resolution (h, w) or None, tubes."""

    video_id: str
    class_index: int
    num_frames: int
    resolution: tuple[int, int] | None
    tubes: tuple[Tube, ...]


@dataclass(frozen=True)
class ActAnnotation:
    """A parsed ACT pickle restricted to one split: classes and the train/test videos."""

    path: Path
    classes: list[str]
    train: list[ActVideo]
    test: list[ActVideo]


def _video_list(value, key: str, split_index: int, path: Path) -> list[str]:
    if not isinstance(value, (list, tuple)) or not value:
        raise DataError(f"'{key}' must be a non-empty list of per-split video lists", path)
    if split_index >= len(value):
        raise DataError(
            f"'{key}' has {len(value)} split(s); split {split_index + 1} does not exist", path
        )
    videos = value[split_index]
    if not isinstance(videos, (list, tuple)) or not all(isinstance(v, str) for v in videos):
        raise DataError(f"'{key}'[{split_index}] must be a list of video ids", path)
    return list(videos)


def _tubes(video_id: str, entry, num_classes: int, path: Path) -> tuple[Tube, ...]:
    if not isinstance(entry, dict) or not entry:
        raise DataError(f"gttubes[{video_id!r}] must be a non-empty dict label -> tubes", path)
    tubes = []
    for label in sorted(entry):
        if not isinstance(label, (int, np.integer)) or not 0 <= label < num_classes:
            raise DataError(f"gttubes[{video_id!r}]: label {label!r} is not a class index", path)
        for tube in entry[label]:
            rows = np.asarray(tube, np.float64)
            if rows.ndim != 2 or rows.shape[1] != 5:
                raise DataError(
                    f"gttubes[{video_id!r}][{label}]: tube must be an (n, 5) array of "
                    f"frame x1 y1 x2 y2 rows, got shape {rows.shape}",
                    path,
                )
            tubes.append(Tube(int(label), rows[:, 0].astype(np.int64), rows[:, 1:5]))
    return tuple(tubes)


def load_act_annotation(path: Path, split: int = 1) -> ActAnnotation:
    """Read an ACT ground-truth pickle and return split `split`'s (1-based) train/test videos.

    Raises:
        DataError: the file is missing, unsafe, or not in the ACT structure (one line naming it).
    """
    data = load_pickle_restricted(path)
    if not isinstance(data, dict):
        raise DataError(f"expected a dict, found {type(data).__name__}", path)
    for key in REQUIRED_KEYS:
        if key not in data:
            raise DataError(f"missing key '{key}'", path)
    classes = [str(c) for c in data["labels"]]
    resolution = data.get("resolution") or {}
    parsed = {}
    for split_key in ("train_videos", "test_videos"):
        videos = []
        for video_id in _video_list(data[split_key], split_key, split - 1, path):
            if video_id not in data["gttubes"]:
                raise DataError(f"video {video_id!r} has no entry in 'gttubes'", path)
            if video_id not in data["nframes"]:
                raise DataError(f"video {video_id!r} has no entry in 'nframes'", path)
            num_frames = int(data["nframes"][video_id])
            if num_frames < 1:
                raise DataError(f"video {video_id!r}: nframes is {num_frames}", path)
            tubes = _tubes(video_id, data["gttubes"][video_id], len(classes), path)
            res = resolution.get(video_id)
            res = (int(res[0]), int(res[1])) if res is not None else None
            # A video's class is its tubes' label (ACT videos hold one action class).
            label = min(t.label for t in tubes)
            videos.append(ActVideo(video_id, label, num_frames, res, tubes))
        parsed[split_key] = videos
    return ActAnnotation(Path(path), classes, parsed["train_videos"], parsed["test_videos"])
