"""ACT ground truth and detection files: the in-memory types, their readers and writers.

The standard protocol (SPEC 5.2) scores detections against the annotation pickles of the ACT
layout (`UCF101v2-GT.pkl`, `JHMDB-GT.pkl`). Any model's outputs can be re-scored through two
plain files:

- `dets.csv`, one frame detection per row, header `video,frame,label,score,x1,y1,x2,y2`
  (video id as in the annotation file, frame 1-based, label = class index, pixel coordinates at
  the original resolution, boxes inclusive);
- `tubes.json`, `{video_id: [{"label": int, "score": float, "boxes": [[frame, x1, y1, x2, y2],
  ...]}]}`.

Readers raise `DataError` with one line naming the file, the line (CSV) or the place in the
document (JSON), and the problem. Writers are atomic.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssvad_keras.errors import DataError
from ssvad_keras.io import atomic_path, load_pickle_restricted, read_json

FRAME_DETECTION_COLUMNS = ("video", "frame", "label", "score", "x1", "y1", "x2", "y2")


def _tube_array(rows: Any, check_boxes: bool = True) -> np.ndarray:
    """Rows `frame x1 y1 x2 y2` as a float64 (n, 5) array sorted by frame; ValueError if bad.

    `check_boxes=False` leaves box geometry (x2 >= x1, y2 >= y1) to the caller: the converters
    check each box against its image and name the frame (`tfrecords_tools.common.check_box`)."""
    array = np.asarray(rows, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 5 or array.shape[0] == 0:
        raise ValueError(f"expected a non-empty (n, 5) array of [frame, x1, y1, x2, y2], got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("values must be finite")
    frames = array[:, 0]
    if np.any(frames != np.round(frames)) or np.any(frames < 1):
        raise ValueError("frame numbers must be integers >= 1")
    array = array[np.argsort(frames, kind="stable")]
    if np.any(np.diff(array[:, 0]) == 0):
        raise ValueError("a frame appears twice")
    if check_boxes and (np.any(array[:, 3] < array[:, 1]) or np.any(array[:, 4] < array[:, 2])):
        raise ValueError("boxes need x2 >= x1 and y2 >= y1")
    return array


@dataclass(frozen=True)
class ActGroundTruth:
    """Ground-truth tubes of the videos one evaluation counts (ACT protocol, SPEC 5.2).

    Build it from an annotation pickle with `load_act_ground_truth`, or in memory (for example
    from prepared TFRecords) by passing the fields directly.

    Attributes:
        labels: class names; the position of a name is its class index. mAP averages over all
            of them, including classes without any ground truth in `videos`.
        videos: ids of the videos that count (the test videos of one split). Ground truth and
            detections of every other video are ignored.
        tubes: `{video: {label: [array (n, 5)]}}`, rows `frame x1 y1 x2 y2` (frames 1-based,
            pixel-inclusive boxes at the original resolution). Entries of videos outside
            `videos` are dropped. A video of `videos` without an entry has no ground truth, so
            every detection on it is a false positive.
        nframes: optional `{video: number of frames}`.

    Example:

    >>> gt = ActGroundTruth(labels=("run", "jump"), videos=("v1",),
    ...                     tubes={"v1": {0: [[[1, 0, 0, 9, 9], [2, 0, 0, 9, 9]]]}})
    >>> gt.num_classes, len(gt.tubes["v1"][0][0])
    (2, 2)
    """

    labels: tuple[str, ...]
    videos: tuple[str, ...]
    tubes: Mapping[str, Mapping[int, Sequence[np.ndarray]]]
    nframes: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        labels = tuple(str(label) for label in self.labels)
        videos = tuple(str(video) for video in self.videos)
        keep = set(videos)
        tubes: dict[str, dict[int, list[np.ndarray]]] = {}
        for video, by_label in self.tubes.items():
            if str(video) not in keep:
                continue
            converted: dict[int, list[np.ndarray]] = {}
            for label, label_tubes in by_label.items():
                label = int(label)
                if not 0 <= label < len(labels):
                    raise ValueError(f"video {video!r}: label {label} outside 0..{len(labels) - 1}")
                arrays = [_tube_array(tube) for tube in label_tubes]
                if arrays:
                    converted[label] = arrays
            tubes[str(video)] = converted
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "videos", videos)
        object.__setattr__(self, "tubes", tubes)
        object.__setattr__(self, "nframes", {str(k): int(v) for k, v in self.nframes.items()})

    @property
    def num_classes(self) -> int:
        """Number of classes in the label list."""
        return len(self.labels)


def load_act_ground_truth(path: str | os.PathLike, split: int = 1) -> ActGroundTruth:
    """Read an ACT annotation pickle and keep the test videos of one split.

    The pickle (Python 2 or 3, read with the restricted unpickler) is a dict with `labels`,
    `gttubes` `{video: {label: [array (n, 5)]}}`, `nframes`, `train_videos` and `test_videos`
    (lists of per-split video lists) and `resolution`; see SPEC 1.1.

    Args:
        path: `UCF101v2-GT.pkl`, `JHMDB-GT.pkl` or a file with the same structure.
        split: 1-based split number (UCF101-24 has 1, JHMDB-21 has 3).

    Returns:
        The `ActGroundTruth` of that split's test videos.

    Raises:
        DataError: the file is missing, unsafe, or lacks the expected structure.

    Example:

    >>> gt = load_act_ground_truth("UCF101v2-GT.pkl", split=1)  # doctest: +SKIP
    """
    return ground_truth_from_annotation(load_pickle_restricted(path), split, path)


@dataclass(frozen=True)
class ActVideo:
    """One video of an ACT annotation file, as `parse_act_annotation` reads it.

    Attributes:
        video_id: the id the annotation file uses (`Class/video`).
        tubes: `{label: (array (n, 5), ...)}`, labels ascending, rows `frame x1 y1 x2 y2`
            sorted by frame; empty when the file has no tubes for the video.
        num_frames: the file's `nframes` entry, or None when it has none.
        resolution: the file's `resolution` entry (height, width), or None.
    """

    video_id: str
    tubes: Mapping[int, tuple[np.ndarray, ...]]
    num_frames: int | None
    resolution: tuple[int, int] | None

    @property
    def class_index(self) -> int:
        """The video's class: its tubes' label (ACT videos hold one action class)."""
        return min(self.tubes)

    def tube_list(self) -> list[np.ndarray]:
        """Every tube's rows, labels ascending and in file order within a label (tube i is the
        i-th of this list)."""
        return [rows for label in self.tubes for rows in self.tubes[label]]


@dataclass(frozen=True)
class ActAnnotation:
    """An ACT annotation file restricted to one split: class names, train and test videos."""

    path: Path
    classes: tuple[str, ...]
    train: tuple[ActVideo, ...]
    test: tuple[ActVideo, ...]


def _split_videos(data: Mapping[str, Any], key: str, split: int, path: str | os.PathLike) -> list[str]:
    """The video ids of `data[key]` (a list of per-split lists) for 1-based `split`."""
    splits = data[key]
    if not isinstance(splits, (list, tuple)) or not splits:
        raise DataError(f"'{key}' must be a non-empty list of per-split video lists", path)
    if not 1 <= int(split) <= len(splits):
        raise DataError(f"split {split} does not exist; the file has splits 1..{len(splits)}", path)
    videos = splits[int(split) - 1]
    if not isinstance(videos, (list, tuple)):
        raise DataError(f"'{key}'[{int(split) - 1}] must be a list of video ids", path)
    return [str(video) for video in videos]


def _video_tubes(
    video: str, by_label: Any, num_classes: int, check_boxes: bool, path: str | os.PathLike
) -> dict[int, tuple[np.ndarray, ...]]:
    """One `gttubes` entry checked and converted: `{label: (rows, ...)}`, labels ascending."""
    if not isinstance(by_label, dict):
        raise DataError(f"gttubes['{video}'] must be a dict {{label: [tubes]}}", path)
    tubes = {}
    for label, label_tubes in by_label.items():
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise DataError(f"gttubes['{video}'] has label {label!r}, not a class index", path)
        if not 0 <= int(label) < num_classes:
            raise DataError(f"gttubes['{video}'] has label {label} outside 0..{num_classes - 1}", path)
        rows = []
        for i, tube in enumerate(label_tubes):
            try:
                rows.append(_tube_array(tube, check_boxes))
            except ValueError as err:
                raise DataError(f"gttubes['{video}'][{label}][{i}]: {err}", path) from None
        if rows:
            tubes[int(label)] = tuple(rows)
    return dict(sorted(tubes.items()))


def parse_act_annotation(
    data: Any, path: str | os.PathLike, split: int = 1, *, check_boxes: bool = True
) -> ActAnnotation:
    """Check an already-loaded ACT annotation dict and read one split's train and test videos.

    The one reader of the ACT layout: evaluation (`ground_truth_from_annotation`) and the
    converters (`tfrecords_tools.act.load_act_annotation`) both call it. Only the videos of the
    split are read; `train_videos`, `nframes` and `resolution` may be absent (the converters
    require the first two themselves).

    Args:
        data: the unpickled annotation (see `load_act_ground_truth`).
        path: names the file in errors.
        split: 1-based split number.
        check_boxes: refuse boxes with x2 < x1 or y2 < y1 (False: the caller checks them).

    Returns:
        An `ActAnnotation`.

    Raises:
        DataError: the structure is not the ACT layout (one line naming the file and the place).
    """
    if not isinstance(data, dict):
        raise DataError(f"expected a dict with keys labels, gttubes, test_videos; got {type(data).__name__}", path)
    for key in ("labels", "gttubes", "test_videos"):
        if key not in data:
            raise DataError(f"missing key '{key}' (not an ACT annotation file?)", path)
    test_ids = _split_videos(data, "test_videos", split, path)
    train_ids = _split_videos(data, "train_videos", split, path) if "train_videos" in data else []
    if not isinstance(data["gttubes"], dict):
        raise DataError("'gttubes' must be a dict {video: {label: [tubes]}}", path)
    classes = tuple(label.decode("latin1") if isinstance(label, bytes) else str(label) for label in data["labels"])
    gttubes = {str(video): entry for video, entry in data["gttubes"].items()}
    nframes = {str(video): n for video, n in (data.get("nframes") or {}).items()}
    resolution = {str(video): r for video, r in (data.get("resolution") or {}).items()}

    def video(video_id: str) -> ActVideo:
        entry = gttubes.get(video_id)
        tubes = {} if entry is None else _video_tubes(video_id, entry, len(classes), check_boxes, path)
        res = resolution.get(video_id)
        return ActVideo(
            video_id,
            tubes,
            int(nframes[video_id]) if video_id in nframes else None,
            (int(res[0]), int(res[1])) if res is not None else None,
        )

    return ActAnnotation(
        Path(path), classes, tuple(video(v) for v in train_ids), tuple(video(v) for v in test_ids)
    )


def annotation_video_ids(data: Mapping[str, Any]) -> set[str]:
    """Every video id an annotation dict names (any split, with or without tubes)."""
    ids = {str(v) for v in data.get("gttubes", {})} | {str(v) for v in data.get("nframes", {})}
    for key in ("train_videos", "test_videos"):
        for split_videos in data.get(key, []):
            ids.update(str(v) for v in split_videos)
    return ids


def ground_truth_from_annotation(data: Any, split: int, path: str | os.PathLike) -> ActGroundTruth:
    """`ActGroundTruth` of one split from an already-loaded annotation dict (see
    `load_act_ground_truth`); `path` only names the source in errors."""
    annotation = parse_act_annotation(data, path, split)
    return ActGroundTruth(
        labels=annotation.classes,
        videos=tuple(video.video_id for video in annotation.test),
        tubes={video.video_id: video.tubes for video in annotation.test if video.tubes},
        nframes={video.video_id: video.num_frames for video in annotation.test if video.num_frames is not None},
    )


@dataclass(frozen=True)
class FrameDetections:
    """Frame-level detections: one scored, labelled box per row (column arrays of equal length).

    Attributes:
        videos: (N,) video ids.
        frames: (N,) 1-based frame numbers.
        labels: (N,) class indices.
        scores: (N,) confidence scores (higher ranks first).
        boxes: (N, 4) pixel-inclusive boxes `x1 y1 x2 y2` at the original resolution.

    Example:

    >>> dets = FrameDetections(["v1"], [1], [0], [0.9], [[0, 0, 9, 9]])
    >>> len(dets)
    1
    """

    videos: np.ndarray
    frames: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray

    def __post_init__(self) -> None:
        videos = np.asarray(self.videos, dtype=object).reshape(-1)
        frames = np.asarray(self.frames, dtype=np.int64).reshape(-1)
        labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        n = len(videos)
        if not all(len(column) == n for column in (frames, labels, scores, boxes)):
            raise ValueError("videos, frames, labels, scores and boxes must have the same length")
        for name, value in (("videos", videos), ("frames", frames), ("labels", labels), ("scores", scores), ("boxes", boxes)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.videos)

    @classmethod
    def empty(cls) -> FrameDetections:
        """No detections."""
        return cls([], [], [], [], np.zeros((0, 4)))

    @classmethod
    def concatenate(cls, parts: Iterable[FrameDetections]) -> FrameDetections:
        """All rows of `parts`, in order."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.videos for p in parts]),
            np.concatenate([p.frames for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.boxes for p in parts]),
        )


@dataclass(frozen=True)
class Tube:
    """One detected (or ground-truth) action tube.

    Attributes:
        video: video id.
        label: class index.
        score: confidence score of the whole tube.
        boxes: (n, 5) float rows `frame x1 y1 x2 y2`, sorted by frame, each frame once. Frames
            may skip (a tube over the frames whose predicted mask is non-empty).

    Example:

    >>> tube = Tube("v1", 0, 0.8, [[2, 0, 0, 9, 9], [1, 0, 0, 9, 9]])
    >>> tube.boxes[:, 0].tolist()
    [1.0, 2.0]
    """

    video: str
    label: int
    score: float
    boxes: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "video", str(self.video))
        object.__setattr__(self, "label", int(self.label))
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "boxes", _tube_array(self.boxes))


def _parse_int(text: str, name: str, minimum: int) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"{name} must be an integer, got {text!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {text!r}")
    return int(value)


def _parse_float(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {text!r}")
    return value


def read_frame_detections_csv(path: str | os.PathLike, num_classes: int | None = None) -> FrameDetections:
    """Read `dets.csv` (header `video,frame,label,score,x1,y1,x2,y2`).

    Args:
        path: the CSV file.
        num_classes: when given, labels must lie in `0..num_classes - 1`.

    Returns:
        The rows as `FrameDetections`.

    Raises:
        DataError: missing file, wrong header, or a malformed row; the message names the file
            and the line, e.g. `dets.csv: line 7: frame must be >= 1, got '0'`.

    Example:

    >>> dets = read_frame_detections_csv("dets.csv", num_classes=24)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    rows, lines = [], []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != FRAME_DETECTION_COLUMNS:
                got = "empty file" if header is None else ",".join(header)
                raise DataError(f"line 1: header must be '{','.join(FRAME_DETECTION_COLUMNS)}', got '{got}'", path)
            for row in reader:
                # Blank lines (no cells, or one empty cell) are skipped.
                if len(row) > 1 or (row and row[0].strip()):
                    rows.append(row)
                    lines.append(reader.line_num)
        except csv.Error as err:
            raise DataError(f"line {reader.line_num}: malformed CSV ({err})", path) from None
        except UnicodeDecodeError:
            raise DataError("not a UTF-8 text file", path) from None
    if not rows:
        return FrameDetections.empty()
    detections = _frame_detections_from_rows(rows, num_classes)
    if detections is None:
        # Some row is malformed: parse row by row to name the first bad line and its problem.
        for line, row in zip(lines, rows, strict=True):
            try:
                _parse_detection_row(row, num_classes)
            except ValueError as err:
                raise DataError(f"line {line}: {err}", path) from None
    return detections


def _parse_detection_row(row: list[str], num_classes: int | None) -> None:
    """Check one `dets.csv` row; ValueError with the problem when malformed."""
    if len(row) != len(FRAME_DETECTION_COLUMNS):
        raise ValueError(f"expected {len(FRAME_DETECTION_COLUMNS)} fields, got {len(row)}")
    if not row[0].strip():
        raise ValueError("video id is empty")
    _parse_int(row[1], "frame", 1)
    label = _parse_int(row[2], "label", 0)
    if num_classes is not None and label >= num_classes:
        raise ValueError(f"label must be < {num_classes} (number of classes), got {row[2]!r}")
    _parse_float(row[3], "score")
    box = [_parse_float(row[4 + i], FRAME_DETECTION_COLUMNS[4 + i]) for i in range(4)]
    if box[2] < box[0] or box[3] < box[1]:
        raise ValueError(f"box needs x2 >= x1 and y2 >= y1, got {box}")


def _frame_detections_from_rows(rows: list[list[str]], num_classes: int | None) -> FrameDetections | None:
    """Columns of well-formed rows, converted and checked in bulk; None when any row is bad."""
    width = len(FRAME_DETECTION_COLUMNS)
    if any(len(row) != width for row in rows):
        return None
    try:
        numbers = np.array([row[1:] for row in rows], dtype=np.float64)
    except ValueError:
        return None
    videos = np.array([row[0].strip() for row in rows], dtype=object)
    frames, labels, scores, boxes = numbers[:, 0], numbers[:, 1], numbers[:, 2], numbers[:, 3:]
    ok = (
        np.all(videos != "")
        and np.all(np.isfinite(numbers))
        and np.all(frames == np.round(frames)) and np.all(frames >= 1)
        and np.all(labels == np.round(labels)) and np.all(labels >= 0)
        and (num_classes is None or np.all(labels < num_classes))
        and np.all(boxes[:, 2] >= boxes[:, 0]) and np.all(boxes[:, 3] >= boxes[:, 1])
    )
    if not ok:
        return None
    return FrameDetections(videos, frames.astype(np.int64), labels.astype(np.int64), scores, boxes)


def write_frame_detections_csv(path: str | os.PathLike, detections: FrameDetections) -> None:
    """Write `detections` as `dets.csv`, atomically (floats written with full precision).

    Example:

    >>> write_frame_detections_csv("dets.csv", dets)  # doctest: +SKIP
    """
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(FRAME_DETECTION_COLUMNS)
            for i in range(len(detections)):
                x1, y1, x2, y2 = (repr(float(v)) for v in detections.boxes[i])
                writer.writerow(
                    [detections.videos[i], int(detections.frames[i]), int(detections.labels[i]),
                     repr(float(detections.scores[i])), x1, y1, x2, y2]
                )


def read_tubes_json(path: str | os.PathLike, num_classes: int | None = None) -> list[Tube]:
    """Read `tubes.json`: `{video_id: [{"label", "score", "boxes": [[frame, x1, y1, x2, y2]]}]}`.

    Args:
        path: the JSON file.
        num_classes: when given, labels must lie in `0..num_classes - 1`.

    Returns:
        The tubes, in file order.

    Raises:
        DataError: missing file, invalid JSON, or a malformed tube; the message names the file
            and the place, e.g. `tubes.json: video 'v1', tube 0, boxes[3]: ...`.

    Example:

    >>> tubes = read_tubes_json("tubes.json", num_classes=24)  # doctest: +SKIP
    """
    document = read_json(path)
    if not isinstance(document, dict):
        raise DataError("top level must be an object {video_id: [tubes]}", path)
    tubes = []
    for video, entries in document.items():
        if not isinstance(entries, list):
            raise DataError(f"video '{video}': expected a list of tubes, got {type(entries).__name__}", path)
        for i, entry in enumerate(entries):
            where = f"video '{video}', tube {i}"
            if not isinstance(entry, dict) or not {"label", "score", "boxes"} <= entry.keys():
                raise DataError(f"{where}: expected an object with keys label, score, boxes", path)
            label, score, rows = entry["label"], entry["score"], entry["boxes"]
            if isinstance(label, bool) or not isinstance(label, int) or label < 0:
                raise DataError(f"{where}: label must be an integer >= 0, got {label!r}", path)
            if num_classes is not None and label >= num_classes:
                raise DataError(f"{where}: label must be < {num_classes} (number of classes), got {label}", path)
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                raise DataError(f"{where}: score must be a finite number, got {score!r}", path)
            if not isinstance(rows, list) or not rows:
                raise DataError(f"{where}: boxes must be a non-empty list of [frame, x1, y1, x2, y2]", path)
            if not _is_box_table(rows):
                for j, row in enumerate(rows):
                    ok = isinstance(row, list) and len(row) == 5 and all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) for v in row
                    )
                    if not ok:
                        raise DataError(f"{where}, boxes[{j}]: expected [frame, x1, y1, x2, y2], got {row!r}", path)
            try:
                tubes.append(Tube(video, label, score, rows))
            except ValueError as err:
                raise DataError(f"{where}: {err}", path) from None
    return tubes


def _is_box_table(rows: list) -> bool:
    """Whether `rows` converts in bulk to a numeric (n, 5) table (the common, valid case)."""
    try:
        table = np.array(rows)
    except ValueError:
        return False
    return table.ndim == 2 and table.shape[1] == 5 and table.dtype.kind in "iuf"


def write_tubes_json(
    path: str | os.PathLike,
    tubes: Iterable[Tube],
    class_names: Sequence[str] | None = None,
    videos: Iterable[str] = (),
) -> None:
    """Write `tubes` as `tubes.json`, atomically: the one writer of the format.

    Args:
        path: the file to write.
        tubes: the tubes, grouped by video in the file.
        class_names: when given, each tube also gets its `class_name` (readers ignore extra
            keys; `ssvad detect` writes them).
        videos: ids written even without tubes (as `{video: []}`), so the file still names
            them; first in the file, in this order.

    Example:

    >>> write_tubes_json("tubes.json", [Tube("v1", 0, 0.9, [[1, 0, 0, 9, 9]])])  # doctest: +SKIP
    """
    document: dict[str, list[dict[str, Any]]] = {str(video): [] for video in videos}
    for tube in tubes:
        rows = [[int(row[0]), *(float(v) for v in row[1:])] for row in tube.boxes]
        entry: dict[str, Any] = {"label": tube.label}
        if class_names is not None:
            entry["class_name"] = class_names[tube.label]
        entry.update(score=tube.score, boxes=rows)
        document.setdefault(tube.video, []).append(entry)
    # Compact separators: a dataset's tubes hold hundreds of thousands of boxes.
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
