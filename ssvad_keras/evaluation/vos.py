"""Video object segmentation: region similarity J and boundary F-measure (SPEC 5.3).

The DAVIS / YouTube-VOS measures, compared object id for object id:

- J = IoU of an object's predicted and ground-truth masks; 1 when both are empty;
- F = F-measure of the mask boundaries: a boundary pixel differs from its right, lower or
  lower-right neighbour (the image border creates none); each boundary's pixels count as matched
  when they lie within a disk of radius ceil(0.008 x image diagonal) of the other boundary;
  F = 2PR / (P + R), 1 when both boundaries are empty and 0 when exactly one is;
- per object, means over frames; then means over objects; J&F = (J + F) / 2.

The YouTube-VOS protocol on top (`evaluate_youtube_vos`): palette-PNG readers and writers with
the DAVIS palette, `meta.json` parsing, each object scored on the frames after its first
appearance (whose mask was the input), and means over seen and unseen categories (those of the
training split's meta, and the rest).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ssvad_keras.errors import DataError
from ssvad_keras.io import read_json


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    """Region similarity J: IoU of two binary masks, 1 when both are empty.

    Example:

    >>> jaccard(np.array([[1, 1, 0]]), np.array([[0, 1, 1]]))
    0.3333333333333333
    """
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels: those differing from their right, lower or lower-right neighbour.

    Example:

    >>> mask_boundary(np.array([[1, 1, 0, 0]] * 2)).astype(int).tolist()
    [[0, 1, 0, 0], [0, 1, 0, 0]]
    """
    mask = np.asarray(mask, dtype=bool)
    boundary = np.zeros_like(mask)
    boundary[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    boundary[:-1, :] |= mask[:-1, :] != mask[1:, :]
    boundary[:-1, :-1] |= mask[:-1, :-1] != mask[1:, 1:]
    return boundary


def boundary_tolerance(height: int, width: int) -> int:
    """Match radius in pixels: ceil(0.008 x image diagonal)."""
    return math.ceil(0.008 * math.hypot(height, width))


def _dilate(boundary: np.ndarray, radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = (x * x + y * y <= radius * radius).astype(np.uint8)
    return cv2.dilate(boundary.astype(np.uint8), disk).astype(bool)


def boundary_f(pred: np.ndarray, gt: np.ndarray) -> float:
    """Boundary F-measure of two binary masks (DAVIS F).

    Example:

    >>> gt = np.zeros((3, 8), bool); gt[:, :4] = True
    >>> pred = np.zeros((3, 8), bool); pred[:, :5] = True   # one column off, tolerance 1
    >>> boundary_f(pred, gt)
    1.0
    """
    pred_b = mask_boundary(pred)
    gt_b = mask_boundary(gt)
    n_pred, n_gt = int(pred_b.sum()), int(gt_b.sum())
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    radius = boundary_tolerance(*gt_b.shape)
    precision = np.logical_and(pred_b, _dilate(gt_b, radius)).sum() / n_pred
    recall = np.logical_and(gt_b, _dilate(pred_b, radius)).sum() / n_gt
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


@dataclass(frozen=True)
class VosMetrics:
    """J and F of one video.

    Attributes:
        object_ids: the object ids scored.
        j: (N,) per-object J, mean over frames.
        f: (N,) per-object F, mean over frames.
    """

    object_ids: tuple[int, ...]
    j: np.ndarray
    f: np.ndarray

    @property
    def j_mean(self) -> float:
        """J averaged over objects."""
        return float(np.mean(self.j)) if len(self.j) else float("nan")

    @property
    def f_mean(self) -> float:
        """F averaged over objects."""
        return float(np.mean(self.f)) if len(self.f) else float("nan")

    @property
    def jf(self) -> float:
        """J&F = (J + F) / 2."""
        return (self.j_mean + self.f_mean) / 2


def jf_metrics(pred_ids: np.ndarray, gt_ids: np.ndarray, object_ids: Sequence[int] | None = None) -> VosMetrics:
    """J and F per object of one video, from object-id maps.

    Args:
        pred_ids: (T, H, W) predicted object ids (0 background).
        gt_ids: (T, H, W) ground-truth object ids on the evaluated frames.
        object_ids: ids to score; default every non-zero id of `gt_ids`.

    Returns:
        `VosMetrics` with per-object means over the T frames.

    Example:

    >>> gt = np.zeros((1, 3, 8), int); gt[0, :, :4] = 1
    >>> pred = np.zeros((1, 3, 8), int); pred[0, :, :5] = 1
    >>> m = jf_metrics(pred, gt)
    >>> round(m.j_mean, 3), m.f_mean
    (0.8, 1.0)
    """
    pred_ids = np.asarray(pred_ids)
    gt_ids = np.asarray(gt_ids)
    if pred_ids.shape != gt_ids.shape or pred_ids.ndim != 3:
        raise ValueError(f"pred_ids and gt_ids must both be (T, H, W); got {pred_ids.shape} and {gt_ids.shape}")
    ids = tuple(int(i) for i in (np.unique(gt_ids[gt_ids != 0]) if object_ids is None else object_ids))
    j = np.array([np.mean([jaccard(p == k, g == k) for p, g in zip(pred_ids, gt_ids, strict=True)]) for k in ids])
    f = np.array([np.mean([boundary_f(p == k, g == k) for p, g in zip(pred_ids, gt_ids, strict=True)]) for k in ids])
    return VosMetrics(ids, j.reshape(-1), f.reshape(-1))


def youtube_vos_overall(j_seen: float, f_seen: float, j_unseen: float, f_unseen: float) -> float:
    """YouTube-VOS overall score: the mean of J and F over seen and unseen categories.

    Example:

    >>> round(youtube_vos_overall(0.6, 0.7, 0.4, 0.5), 4)
    0.55
    """
    return (j_seen + f_seen + j_unseen + f_unseen) / 4


# -- The YouTube-VOS protocol over folders of palette PNGs -------------------------------------


def davis_palette() -> np.ndarray:
    """The DAVIS / YouTube-VOS palette: (256, 3) uint8, PASCAL VOC's bit-interleaved colours.

    Index 0 is black (background), 1 (128, 0, 0), 2 (0, 128, 0), 3 (128, 128, 0), ...

    Example:

    >>> davis_palette()[:3].tolist()
    [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    """
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value, colour = index, [0, 0, 0]
        for shift in range(7, -1, -1):
            for channel in range(3):
                colour[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        palette[index] = colour
    return palette


def write_palette_png(path: str | os.PathLike, ids: np.ndarray) -> None:
    """Write an object-id map as an 8-bit palette PNG with the DAVIS palette.

    Args:
        path: the .png file to write (its folder must exist).
        ids: (H, W) integer object ids in 0..255 (0 background).
    """
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.min(initial=0) < 0 or ids.max(initial=0) > 255:
        raise ValueError(f"ids must be an (H, W) map of values 0..255, got shape {ids.shape}")
    image = Image.fromarray(ids.astype(np.uint8))  # mode "L"; the palette makes it "P"
    image.putpalette(davis_palette().reshape(-1).tolist())
    image.save(path, format="PNG")


def read_palette_png(path: str | os.PathLike) -> np.ndarray:
    """Read a palette PNG as its indices (object ids), not its colours.

    Raises:
        DataError: the file is missing, cannot be decoded, or is not an 8-bit palette image.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("annotation PNG not found", path)
    try:
        with Image.open(path) as image:
            if image.mode != "P":
                raise DataError(
                    f"not a palette PNG (mode {image.mode}); YouTube-VOS masks are 8-bit palette "
                    "images whose indices are object ids",
                    path,
                )
            return np.array(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"cannot decode annotation PNG ({err})", path) from None


@dataclass(frozen=True)
class VosObject:
    """One object of a `meta.json`: its category and, when listed, its frames (stems)."""

    category: str
    frames: tuple[str, ...] = ()


def read_vos_meta(path: str | os.PathLike) -> dict[str, dict[int, VosObject]]:
    """Read a YouTube-VOS `meta.json`: per video, object id -> `VosObject`.

    Raises:
        DataError: missing or cut-off file, or not `{"videos": {vid: {"objects": {"1":
            {"category": ...}}}}}` with integer object ids in 1..255.
    """
    path = Path(path)
    meta = read_json(path)
    videos = meta.get("videos") if isinstance(meta, dict) else None
    if not isinstance(videos, dict):
        raise DataError('expected {"videos": {video_id: {"objects": ...}}}', path)
    out: dict[str, dict[int, VosObject]] = {}
    for video_id, entry in sorted(videos.items()):
        objects = entry.get("objects") if isinstance(entry, dict) else None
        if not isinstance(objects, dict):
            raise DataError(f"video {video_id!r} has no 'objects' dict", path)
        out[video_id] = {}
        for key, value in objects.items():
            if not (str(key).isdigit() and 1 <= int(key) <= 255):
                raise DataError(f"video {video_id!r}: object id {key!r} is not an integer in 1..255", path)
            if not isinstance(value, dict) or not isinstance(value.get("category"), str):
                raise DataError(f"video {video_id!r}: object {key} needs a 'category' string", path)
            frames = value.get("frames", [])
            if not isinstance(frames, list):
                raise DataError(f"video {video_id!r}: object {key} 'frames' must be a list", path)
            out[video_id][int(key)] = VosObject(value["category"], tuple(str(f) for f in frames))
    return out


@dataclass(frozen=True)
class ObjectScore:
    """J and F of one object over its evaluated frames (after its first appearance)."""

    video_id: str
    object_id: int
    category: str
    seen: bool
    frames: int
    j: float
    f: float


def first_appearances(
    gt_frames: dict[str, np.ndarray], objects: dict[int, VosObject]
) -> dict[int, str]:
    """Each object's first-appearance frame: the first of its `frames` in the meta when listed,
    otherwise the first ground-truth frame (sorted by name) where its id occurs.

    Objects that never occur are left out.
    """
    out: dict[int, str] = {}
    stems = sorted(gt_frames)
    for object_id, entry in objects.items():
        if entry.frames:
            out[object_id] = min(entry.frames)
            continue
        found = next((s for s in stems if (gt_frames[s] == object_id).any()), None)
        if found is not None:
            out[object_id] = found
    return out


def score_video(
    video_id: str,
    pred_frames: dict[str, np.ndarray],
    gt_frames: dict[str, np.ndarray],
    objects: dict[int, VosObject],
    seen_categories: set[str] | None = None,
) -> list[ObjectScore]:
    """J and F of every object of one video, skipping each object's first-appearance frame.

    As the YouTube-VOS evaluation: an object is scored on the ground-truth frames after the
    one where it first appears (that mask was given as input); frames where it is absent from
    both maps count as J = F = 1.

    Args:
        video_id: for the scores.
        pred_frames: stem -> (H, W) predicted ids; must hold every scored stem.
        gt_frames: stem -> (H, W) ground-truth ids.
        objects: the video's objects from the meta.
        seen_categories: categories of the training set; None counts every object as seen.

    Returns:
        One `ObjectScore` per object with at least one evaluated frame.
    """
    scores = []
    for object_id, first in sorted(first_appearances(gt_frames, objects).items()):
        stems = [s for s in sorted(gt_frames) if s > first]
        if not stems:
            continue
        j = [jaccard(pred_frames[s] == object_id, gt_frames[s] == object_id) for s in stems]
        f = [boundary_f(pred_frames[s] == object_id, gt_frames[s] == object_id) for s in stems]
        category = objects[object_id].category
        seen = seen_categories is None or category in seen_categories
        scores.append(
            ObjectScore(video_id, object_id, category, seen, len(stems), float(np.mean(j)), float(np.mean(f)))
        )
    return scores


@dataclass(frozen=True)
class VosReport:
    """YouTube-VOS scores: J and F over seen and unseen categories, overall, per object."""

    objects: tuple[ObjectScore, ...]

    def _mean(self, attr: str, seen: bool) -> float | None:
        values = [getattr(o, attr) for o in self.objects if o.seen == seen]
        return float(np.mean(values)) if values else None

    @property
    def j_seen(self) -> float | None:
        return self._mean("j", True)

    @property
    def j_unseen(self) -> float | None:
        return self._mean("j", False)

    @property
    def f_seen(self) -> float | None:
        return self._mean("f", True)

    @property
    def f_unseen(self) -> float | None:
        return self._mean("f", False)

    @property
    def overall(self) -> float | None:
        """Mean of J_seen, J_unseen, F_seen and F_unseen; of those defined when a group is empty."""
        parts = [v for v in (self.j_seen, self.j_unseen, self.f_seen, self.f_unseen) if v is not None]
        if len(parts) == 4:
            return youtube_vos_overall(self.j_seen, self.f_seen, self.j_unseen, self.f_unseen)
        return float(np.mean(parts)) if parts else None

    def to_dict(self) -> dict:
        """`{"J": {"seen", "unseen"}, "F": {...}, "overall", "per_object": {"vid/id": {...}}}`."""
        return {
            "J": {"seen": self.j_seen, "unseen": self.j_unseen},
            "F": {"seen": self.f_seen, "unseen": self.f_unseen},
            "overall": self.overall,
            "objects": {"seen": sum(o.seen for o in self.objects),
                        "unseen": sum(not o.seen for o in self.objects)},
            "per_object": {
                f"{o.video_id}/{o.object_id}": {
                    "category": o.category, "seen": o.seen, "frames": o.frames, "J": o.j, "F": o.f,
                }
                for o in self.objects
            },
        }


def _read_frames(folder: Path, stems: list[str], allowed: set[int], video_id: str,
                 meta_path: Path, shape: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    frames = {}
    for stem in stems:
        path = folder / f"{stem}.png"
        if not path.is_file():
            raise DataError(f"missing prediction for frame {stem} of video {video_id}", path)
        ids = read_palette_png(path)
        if shape is not None and ids.shape != shape:
            raise DataError(
                f"mask is {ids.shape[0]}x{ids.shape[1]}, the ground truth {shape[0]}x{shape[1]}", path
            )
        unknown = sorted(set(np.unique(ids).tolist()) - allowed - {0})
        if unknown:
            raise DataError(
                f"object id {unknown[0]} is not in {meta_path} for video {video_id}", path
            )
        frames[stem] = ids
    return frames


def evaluate_youtube_vos(
    annotations: str | os.PathLike,
    predictions: str | os.PathLike,
    meta: str | os.PathLike,
    train_meta: str | os.PathLike | None = None,
    progress: bool = False,
) -> VosReport:
    """Score a YouTube-VOS prediction folder against ground-truth annotations.

    Every video of `meta` is scored. Its ground truth is `annotations/<video>/*.png` (the
    frames scored); the prediction `predictions/<video>/<frame>.png` must exist for every
    ground-truth frame after an object's first appearance, at the same size, with ids from the
    meta. Everything is read and checked before any score is returned, so bad input never gives
    a partial result.

    Args:
        annotations: ground-truth `Annotations/` folder.
        predictions: predicted `Annotations/` folder (the submission layout).
        meta: the evaluated split's `meta.json` (object ids and categories).
        train_meta: the training split's `meta.json`; its categories are "seen". None: all seen.
        progress: show a rich progress bar.

    Raises:
        DataError: one line naming the file: cut-off meta, non-palette PNG, missing video
            folder or frame, size mismatch, object id not in the meta.

    Example:

    >>> evaluate_youtube_vos("gt/Annotations", "pred/Annotations", "gt/meta.json",
    ...                      "train/meta.json").to_dict()["overall"]  # doctest: +SKIP
    """
    from ssvad_keras.progress import progress_bar

    annotations, predictions, meta = Path(annotations), Path(predictions), Path(meta)
    videos = read_vos_meta(meta)
    seen = None
    if train_meta is not None:
        seen = {o.category for objs in read_vos_meta(train_meta).values() for o in objs.values()}
    for folder, what in ((annotations, "ground-truth Annotations"), (predictions, "predictions")):
        if not folder.is_dir():
            raise DataError(f"{what} folder not found", folder)
    scores: list[ObjectScore] = []
    with progress_bar(progress) as bar:
        task = bar.add_task("scoring videos", total=len(videos), info="")
        for video_id, objects in videos.items():
            gt_dir, pred_dir = annotations / video_id, predictions / video_id
            if not gt_dir.is_dir():
                raise DataError(f"no ground truth for video {video_id} of {meta}", gt_dir)
            if not pred_dir.is_dir():
                raise DataError(f"prediction folder is missing video {video_id}", pred_dir)
            allowed = set(objects)
            stems = sorted(p.stem for p in gt_dir.glob("*.png"))
            gt = {}
            for stem in stems:
                ids = read_palette_png(gt_dir / f"{stem}.png")
                unknown = sorted(set(np.unique(ids).tolist()) - allowed - {0})
                if unknown:
                    raise DataError(
                        f"object id {unknown[0]} is not in {meta} for video {video_id}",
                        gt_dir / f"{stem}.png",
                    )
                gt[stem] = ids
            firsts = first_appearances(gt, objects)
            needed = sorted({s for s in stems for first in firsts.values() if s > first})
            shape = next(iter(gt.values())).shape if gt else None
            pred = _read_frames(pred_dir, needed, allowed, video_id, meta, shape)
            scores += score_video(video_id, pred, gt, objects, seen)
            bar.update(task, advance=1)
    return VosReport(tuple(scores))


def render_vos_table(report: VosReport):
    """A rich table of J, F and J&F over seen and unseen categories, and the overall score."""
    from rich.table import Table

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}"

    counts = report.to_dict()["objects"]
    table = Table(title="YouTube-VOS protocol (J region IoU, F boundary measure; x100)")
    for column in ("categories", "objects", "J", "F", "J&F"):
        table.add_column(column, justify="left" if column == "categories" else "right")
    for name, j, f, n in (
        ("seen", report.j_seen, report.f_seen, counts["seen"]),
        ("unseen", report.j_unseen, report.f_unseen, counts["unseen"]),
    ):
        jf = None if j is None else (j + f) / 2
        table.add_row(name, str(n), cell(j), cell(f), cell(jf))
    table.add_row("overall", str(len(report.objects)), "", "", cell(report.overall), style="bold")
    return table
