"""The standard action-detection protocol: ACT frame-AP and video-AP (SPEC 5.2).

Kalogeiton et al. 2017 ("Action Tubelet Detector") defined how UCF101-24 and JHMDB-21
detections are scored; MOC, YOWO and TubeR report the same numbers. Unlike the paper's
localization accuracy (`paper.py`), this is a ranked average precision: detections carry a score
and a class, duplicates and detections on frames without ground truth are false positives.

- Boxes are pixel-inclusive: area = (x2 - x1 + 1)(y2 - y1 + 1).
- AP = trapezoidal area over every raw precision-recall point, starting from (recall 0,
  precision 1); no precision envelope, no 11-point sampling (ACT's `pr_to_ap`).
- mAP = mean over all classes of the label list; a class without ground truth in the split has
  AP 0 (no recall is possible), as in ACT, whose mean also runs over every label.
- Ties in score keep input order (stable sort).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ssvad_keras.errors import DataError
from ssvad_keras.evaluation.act_io import (
    ActGroundTruth,
    FrameDetections,
    Tube,
    annotation_video_ids,
    ground_truth_from_annotation,
    read_frame_detections_csv,
    read_tubes_json,
)
from ssvad_keras.io import load_pickle_restricted

# Reported video-AP thresholds: 0.2, 0.5, 0.75 and the mean over 0.5:0.05:0.95 (SPEC 5.2).
VIDEO_AP_THRESHOLDS = (0.2, 0.5, 0.75)
VIDEO_AP_RANGE = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
FRAME_AP_THRESHOLDS = (0.5,)
TUBE_NMS_THRESHOLD = 0.3


def _elementwise_box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of `a[i]` with `b[i]` for (N, 4) arrays, pixel-inclusive."""
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / (area_a + area_b - inter)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of pixel-inclusive boxes.

    A box `x1 y1 x2 y2` covers the pixels `x1..x2` and `y1..y2` inclusive, so its area is
    `(x2 - x1 + 1)(y2 - y1 + 1)` and two boxes touching at one column overlap by that column
    (the ACT convention).

    Args:
        boxes_a: (N, 4) or (4,) boxes.
        boxes_b: (M, 4) or (4,) boxes.

    Returns:
        (N, M) float64 IoUs (a single box counts as N = 1 or M = 1).

    Example:

    >>> float(box_iou([0, 0, 9, 9], [5, 0, 14, 9])[0, 0])  # 50 / 150
    0.3333333333333333
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    n, m = len(a), len(b)
    return _elementwise_box_iou(np.repeat(a, m, axis=0), np.tile(b, (n, 1))).reshape(n, m)


def tube_iou(tube_a: np.ndarray, tube_b: np.ndarray) -> float:
    """Spatio-temporal IoU of two tubes: temporal IoU x mean per-frame box IoU.

    Temporal IoU uses the inclusive frame spans `[first, last]` of each tube. The spatial term
    averages the box IoU over every frame of the overlapping span; a frame of that span where
    either tube has no box (a tube with gaps) counts as IoU 0. For tubes without gaps this is
    exactly ACT's `iou3dt`.

    Args:
        tube_a: (n, 5) rows `frame x1 y1 x2 y2`, sorted by frame, each frame once.
        tube_b: (m, 5) rows, same layout.

    Returns:
        The IoU in [0, 1].

    Example:

    >>> gt = np.array([[f, 0, 0, 9, 9] for f in range(1, 11)])      # frames 1..10
    >>> det = np.array([[f, 0, 0, 9, 9] for f in range(6, 16)])     # frames 6..15
    >>> tube_iou(gt, det)  # 5 shared frames of 15, perfect boxes
    0.3333333333333333
    """
    a = np.asarray(tube_a, dtype=np.float64)
    b = np.asarray(tube_b, dtype=np.float64)
    t_min = max(a[0, 0], b[0, 0])
    t_max = min(a[-1, 0], b[-1, 0])
    if t_max < t_min:
        return 0.0
    span = t_max - t_min + 1
    temporal = span / (max(a[-1, 0], b[-1, 0]) - min(a[0, 0], b[0, 0]) + 1)
    _, ia, ib = np.intersect1d(a[:, 0], b[:, 0], assume_unique=True, return_indices=True)
    spatial = float(_elementwise_box_iou(a[ia, 1:], b[ib, 1:]).sum()) / span
    return float(temporal * spatial)


def tube_nms(tubes: Iterable[Tube], iou_threshold: float = TUBE_NMS_THRESHOLD) -> list[Tube]:
    """Greedy tube non-maximum suppression within each (video, label).

    Tubes are visited by decreasing score; a tube is dropped when its `tube_iou` with a kept,
    higher-scored tube of the same video and class exceeds `iou_threshold` (ACT's `nms3dt`).

    Args:
        tubes: candidate tubes.
        iou_threshold: suppression threshold (0.3 in ACT).

    Returns:
        The kept tubes, by decreasing score within each group, groups in first-seen order.

    Example:

    >>> a = Tube("v", 0, 0.9, [[1, 0, 0, 9, 9]])
    >>> b = Tube("v", 0, 0.5, [[1, 1, 1, 9, 9]])
    >>> [t.score for t in tube_nms([a, b])]
    [0.9]
    """
    groups: dict[tuple[str, int], list[Tube]] = {}
    for tube in tubes:
        groups.setdefault((tube.video, tube.label), []).append(tube)
    kept_all: list[Tube] = []
    for group in groups.values():
        kept: list[Tube] = []
        for tube in sorted(group, key=lambda t: -t.score):
            if all(tube_iou(tube.boxes, k.boxes) <= iou_threshold for k in kept):
                kept.append(tube)
        kept_all.extend(kept)
    return kept_all


def average_precision(true_positive: np.ndarray, num_positives: int) -> float:
    """ACT's AP: trapezoidal area under the raw precision-recall points.

    Args:
        true_positive: bool per detection, in ranked order (best score first).
        num_positives: number of ground-truth instances; 0 gives AP 0.

    Returns:
        The area in [0, 1], starting the curve at (recall 0, precision 1), no envelope.

    Example:

    >>> # (recall, precision): (0, 1) (0.5, 1) (0.5, 0.5) (1, 2/3) -> 0.5 + 0 + 0.5 * 7/12
    >>> average_precision(np.array([True, False, True]), 2)
    0.7916666666666666
    """
    true_positive = np.asarray(true_positive, dtype=bool)
    if num_positives <= 0:
        return 0.0
    tp = np.cumsum(true_positive)
    fp = np.cumsum(~true_positive)
    precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1)])
    recall = np.concatenate([[0.0], tp / num_positives])
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) * 0.5))


@dataclass(frozen=True)
class ApResult:
    """Average precision at one IoU threshold.

    Attributes:
        iou_threshold: the threshold.
        per_class: (C,) AP of each class of the label list, in 0..1.
        mean: mAP, the mean of `per_class`.
    """

    iou_threshold: float
    per_class: np.ndarray

    @property
    def mean(self) -> float:
        """mAP over all classes of the label list."""
        return float(np.mean(self.per_class)) if len(self.per_class) else 0.0

    def to_dict(self) -> dict:
        """`{"map": float, "per_class": [float, ...]}`."""
        return {"map": self.mean, "per_class": [float(v) for v in self.per_class]}


def _split_positions(videos: np.ndarray, known: Sequence[str]) -> np.ndarray:
    """Index of each entry of `videos` in `known`, -1 where absent (vectorised over uniques)."""
    lookup = {video: i for i, video in enumerate(known)}
    uniques, inverse = np.unique(np.asarray(videos, dtype=str), return_inverse=True)
    return np.array([lookup.get(v, -1) for v in uniques], dtype=np.int64)[inverse.reshape(-1)]


def _ground_truth_boxes(gt: ActGroundTruth) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ground-truth box of the split as columns: video index, frame, label, box."""
    video_idx, frames, labels, boxes = [], [], [], []
    for v, video in enumerate(gt.videos):
        for label, tubes in gt.tubes.get(video, {}).items():
            for tube in tubes:
                video_idx.append(np.full(len(tube), v))
                frames.append(tube[:, 0].astype(np.int64))
                labels.append(np.full(len(tube), label))
                boxes.append(tube[:, 1:5])
    if not boxes:
        return (np.zeros(0, np.int64),) * 3 + (np.zeros((0, 4)),)
    return (np.concatenate(video_idx).astype(np.int64), np.concatenate(frames),
            np.concatenate(labels).astype(np.int64), np.concatenate(boxes))


def _match_frame_detections(det_keys: np.ndarray, det_scores: np.ndarray, det_boxes: np.ndarray,
                            gt_keys: np.ndarray, gt_boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """True-positive flags of one class's detections in ranked order (ACT greedy matching).

    A detection takes the best-overlapping still-unmatched ground-truth box of its frame when
    that IoU reaches the threshold. Only detections that share a frame compete, so detections
    alone in their frame are decided in one vectorised step and the ranked loop runs over the
    rest.
    """
    order = np.argsort(-det_scores, kind="stable")
    det_keys, det_boxes = det_keys[order], det_boxes[order]
    gt_order = np.argsort(gt_keys, kind="stable")
    gt_keys, gt_boxes = gt_keys[gt_order], gt_boxes[gt_order]
    lo = np.searchsorted(gt_keys, det_keys, side="left")
    count = np.searchsorted(gt_keys, det_keys, side="right") - lo
    # All (detection, ground-truth box of the same frame) pairs, grouped by detection.
    offsets = np.cumsum(count) - count
    pair_det = np.repeat(np.arange(len(det_keys)), count)
    pair_gt = np.arange(count.sum()) - np.repeat(offsets, count) + np.repeat(lo, count)
    pair_iou = _elementwise_box_iou(det_boxes[pair_det], gt_boxes[pair_gt])

    true_positive = np.zeros(len(det_keys), dtype=bool)
    has_gt = count > 0
    if not has_gt.any():
        return true_positive
    best = np.full(len(det_keys), -1.0)
    best[has_gt] = np.maximum.reduceat(pair_iou, offsets[has_gt])
    _, inverse, dets_per_frame = np.unique(det_keys, return_inverse=True, return_counts=True)
    alone = dets_per_frame[inverse.reshape(-1)] == 1
    true_positive[alone] = best[alone] >= iou_threshold
    used = np.zeros(len(gt_keys), dtype=bool)
    for i in np.flatnonzero(~alone & has_gt):
        start, stop = offsets[i], offsets[i] + count[i]
        ious = np.where(used[pair_gt[start:stop]], -1.0, pair_iou[start:stop])
        j = int(np.argmax(ious))
        if ious[j] >= iou_threshold:
            true_positive[i] = True
            used[pair_gt[start + j]] = True
    return true_positive


def frame_ap(gt: ActGroundTruth, detections: FrameDetections, iou_threshold: float = 0.5) -> ApResult:
    """ACT frame-AP of every class at one IoU threshold.

    For each class, that class's detections on the split's videos are ranked by score over all
    frames; a detection is a true positive when its IoU with the best-overlapping still-unmatched
    ground-truth box of that class in the same frame reaches `iou_threshold` (it then uses that
    box up); otherwise it is a false positive, including duplicates and detections on frames
    without ground truth of that class. Recall counts every ground-truth box of the class.
    Detections of videos outside `gt.videos` are ignored.

    Args:
        gt: ground truth of the counted videos.
        detections: frame detections (labels are class indices of `gt.labels`).
        iou_threshold: box IoU needed for a match.

    Returns:
        `ApResult` with per-class AP and mAP over all classes.

    Example:

    >>> gt = ActGroundTruth(("a",), ("v",), {"v": {0: [[[1, 0, 0, 9, 9]]]}})
    >>> dets = FrameDetections(["v", "v"], [1, 1], [0, 0], [0.9, 0.8], [[0, 0, 9, 9]] * 2)
    >>> frame_ap(gt, dets).mean  # the duplicate is a false positive after full recall
    1.0
    """
    gt_video, gt_frame, gt_label, gt_boxes = _ground_truth_boxes(gt)
    det_video = _split_positions(detections.videos, gt.videos) if len(detections) else np.zeros(0, np.int64)
    inside = det_video >= 0
    # One integer key per (video, frame) so matching is a sorted search.
    stride = int(max(gt_frame.max(initial=0), detections.frames.max(initial=0))) + 1
    gt_keys = gt_video * stride + gt_frame
    det_keys = det_video * stride + detections.frames
    per_class = np.zeros(gt.num_classes)
    for c in range(gt.num_classes):
        det_mask = inside & (detections.labels == c)
        gt_mask = gt_label == c
        true_positive = _match_frame_detections(
            det_keys[det_mask], detections.scores[det_mask], detections.boxes[det_mask],
            gt_keys[gt_mask], gt_boxes[gt_mask], iou_threshold,
        )
        per_class[c] = average_precision(true_positive, int(gt_mask.sum()))
    return ApResult(float(iou_threshold), per_class)


def video_ap_curve(gt: ActGroundTruth, tubes: Iterable[Tube], thresholds: Sequence[float],
                   nms_threshold: float = TUBE_NMS_THRESHOLD) -> list[ApResult]:
    """ACT video-AP at several IoU thresholds (tube IoUs computed once).

    Tubes of videos outside `gt.videos` are dropped, then `tube_nms` runs per video and class.
    Per class, tubes are ranked by score; a tube is a true positive when its `tube_iou` with the
    best-overlapping still-unmatched ground-truth tube of that class in the same video reaches
    the threshold.

    Args:
        gt: ground truth of the counted videos.
        tubes: detected tubes.
        thresholds: tube IoU thresholds.
        nms_threshold: tube NMS threshold (0.3 in ACT).

    Returns:
        One `ApResult` per threshold, in order.

    Example:

    >>> gt = ActGroundTruth(("a",), ("v",), {"v": {0: [[[f, 0, 0, 9, 9] for f in (1, 2)]]}})
    >>> det = Tube("v", 0, 0.9, [[2, 0, 0, 9, 9]])  # half the frames, temporal IoU 0.5
    >>> [r.mean for r in video_ap_curve(gt, [det], [0.5, 0.75])]
    [1.0, 0.0]
    """
    counted = set(gt.videos)
    kept = tube_nms((t for t in tubes if t.video in counted), nms_threshold)
    results = [np.zeros(gt.num_classes) for _ in thresholds]
    for c in range(gt.num_classes):
        gt_tubes = {video: by_label[c] for video, by_label in gt.tubes.items() if c in by_label}
        num_positives = sum(len(v) for v in gt_tubes.values())
        ranked = sorted((t for t in kept if t.label == c), key=lambda t: -t.score)
        ious = [np.array([tube_iou(g, t.boxes) for g in gt_tubes.get(t.video, [])]) for t in ranked]
        for k, threshold in enumerate(thresholds):
            used: dict[str, np.ndarray] = {v: np.zeros(len(g), bool) for v, g in gt_tubes.items()}
            true_positive = np.zeros(len(ranked), dtype=bool)
            for i, tube in enumerate(ranked):
                if not len(ious[i]):
                    continue
                candidates = np.where(used[tube.video], -1.0, ious[i])
                j = int(np.argmax(candidates))
                if candidates[j] >= threshold:
                    true_positive[i] = True
                    used[tube.video][j] = True
            results[k][c] = average_precision(true_positive, num_positives)
    return [ApResult(float(t), r) for t, r in zip(thresholds, results, strict=True)]


def video_ap(gt: ActGroundTruth, tubes: Iterable[Tube], iou_threshold: float = 0.5,
             nms_threshold: float = TUBE_NMS_THRESHOLD) -> ApResult:
    """ACT video-AP of every class at one tube IoU threshold; see `video_ap_curve`.

    Example:

    >>> gt = ActGroundTruth(("a",), ("v",), {"v": {0: [[[1, 0, 0, 9, 9]]]}})
    >>> video_ap(gt, [Tube("v", 0, 0.9, [[1, 0, 0, 9, 9]])], 0.5).mean
    1.0
    """
    return video_ap_curve(gt, tubes, [iou_threshold], nms_threshold)[0]


@dataclass(frozen=True)
class ActReport:
    """Frame-AP and video-AP of one evaluation (standard ACT protocol).

    Attributes:
        labels: class names.
        frame: `{threshold: ApResult}` for frame-AP, or None when no frame detections were given.
        video: `{threshold: ApResult}` for video-AP at 0.2, 0.5, 0.75 and every threshold of
            0.5:0.05:0.95, or None when no tubes were given.
    """

    labels: tuple[str, ...]
    frame: dict[float, ApResult] | None
    video: dict[float, ApResult] | None

    @property
    def video_map_50_95(self) -> float | None:
        """Mean video-mAP over the thresholds 0.5, 0.55, ..., 0.95."""
        if self.video is None:
            return None
        return float(np.mean([self.video[t].mean for t in VIDEO_AP_RANGE]))

    def video_per_class_50_95(self) -> np.ndarray | None:
        """Per-class video-AP averaged over 0.5:0.05:0.95."""
        if self.video is None:
            return None
        return np.mean([self.video[t].per_class for t in VIDEO_AP_RANGE], axis=0)

    def to_dict(self) -> dict:
        """The JSON report: `{"frame_ap": {"0.5": {"map", "per_class"}}, "video_ap": {"0.2": ..,
        "0.5": .., "0.75": .., "0.5:0.95": float}}`; a section is absent when its input was."""
        out: dict = {}
        if self.frame is not None:
            out["frame_ap"] = {f"{t:g}": r.to_dict() for t, r in self.frame.items()}
        if self.video is not None:
            out["video_ap"] = {f"{t:g}": self.video[t].to_dict() for t in VIDEO_AP_THRESHOLDS}
            out["video_ap"]["0.5:0.95"] = self.video_map_50_95
        return out


def act_report(gt: ActGroundTruth, frame_detections: FrameDetections | None = None,
               tubes: Sequence[Tube] | None = None) -> ActReport:
    """Score detections with the ACT protocol at the reported thresholds.

    Frame-AP at 0.5; video-AP at 0.2, 0.5, 0.75 and 0.5:0.05:0.95. Either input may be None,
    and its section of the report is then None.

    Example:

    >>> report = act_report(gt, frame_detections=dets, tubes=tubes)  # doctest: +SKIP
    >>> report.to_dict()["video_ap"]["0.5"]["map"]  # doctest: +SKIP
    """
    frame = None
    if frame_detections is not None:
        frame = {t: frame_ap(gt, frame_detections, t) for t in FRAME_AP_THRESHOLDS}
    video = None
    if tubes is not None:
        thresholds = sorted(set(VIDEO_AP_THRESHOLDS) | set(VIDEO_AP_RANGE))
        video = {r.iou_threshold: r for r in video_ap_curve(gt, tubes, thresholds)}
    return ActReport(gt.labels, frame, video)


def _check_known_videos(videos: Iterable[str], known: set[str],
                        path: str | os.PathLike, annotations: str | os.PathLike) -> None:
    """A video id the annotation file does not know is a naming mistake, not another split."""
    unknown = sorted(set(videos) - known)
    if unknown:
        raise DataError(
            f"{len(unknown)} video id(s) are not in {os.fspath(annotations)}, e.g. '{unknown[0]}'",
            path,
        )


def evaluate_detection_files(annotations: str | os.PathLike, split: int = 1,
                             frame_detections: str | os.PathLike | None = None,
                             tube_detections: str | os.PathLike | None = None) -> ActReport:
    """Score `dets.csv` and/or `tubes.json` against an ACT annotation file (`ssvad evaluate`).

    Args:
        annotations: `UCF101v2-GT.pkl`, `JHMDB-GT.pkl` or a file with the same structure.
        split: 1-based split; only its test videos count.
        frame_detections: `dets.csv` path, or None to skip frame-AP.
        tube_detections: `tubes.json` path, or None to skip video-AP.

    Returns:
        The `ActReport`; `report.to_dict()` is the JSON that `ssvad evaluate --json` prints.

    Raises:
        DataError: a file is missing or malformed, a label is outside the label list, or a video
            id is unknown to the annotation file (detections of known videos outside the split
            are ignored).

    Example:

    >>> report = evaluate_detection_files("UCF101v2-GT.pkl", 1, "dets.csv", "tubes.json")  # doctest: +SKIP
    """
    if frame_detections is None and tube_detections is None:
        raise DataError("give frame detections (dets.csv), tube detections (tubes.json) or both", annotations)
    data = load_pickle_restricted(annotations)
    gt = ground_truth_from_annotation(data, split, annotations)
    raw = annotation_video_ids(data)
    dets = tubes = None
    if frame_detections is not None:
        dets = read_frame_detections_csv(frame_detections, gt.num_classes)
        _check_known_videos(np.unique(dets.videos.astype(str)), raw, frame_detections, annotations)
    if tube_detections is not None:
        tubes = read_tubes_json(tube_detections, gt.num_classes)
        _check_known_videos((t.video for t in tubes), raw, tube_detections, annotations)
    return act_report(gt, dets, tubes)

