"""The paper's protocol: f-mAP / v-mAP as a localization accuracy (SPEC 5.1).

Kumar & Rawat (CVPR 2022) report the VideoCapsuleNet protocol under the names "f-mAP" and
"v-mAP". It is not an average precision: there is no score ranking, predictions on frames
without ground truth cost nothing, and the class need not be right. It measures how often the
predicted mask overlaps the ground truth well enough:

- every frame with non-empty ground truth counts once; frame IoU = |P & G| / |P | G| with
  P = (probability >= mask_threshold);
- f-AP(c, t) = share of class c's ground-truth frames whose IoU >= t;
- video IoU = sum of intersections / sum of unions over the video's ground-truth frames;
  v-AP(c, t) = share of class c's videos whose video IoU >= t;
- f-mAP(t), v-mAP(t) = means over the classes present; accuracy = share of videos whose argmax
  class score equals the label.

We label these "f-mAP/v-mAP (paper protocol, localization accuracy)" everywhere, to keep them
apart from the standard frame-AP/video-AP of `act.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PAPER_PROTOCOL_NAME = "f-mAP/v-mAP (paper protocol, localization accuracy)"


def default_thresholds() -> np.ndarray:
    """0.00, 0.05, ..., 0.95 (the paper's curves; it reports 0.2 and 0.5)."""
    return np.arange(20) / 20


def frame_overlaps(pred: np.ndarray, gt: np.ndarray, mask_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame intersection and union pixel counts over the frames with ground truth.

    Args:
        pred: (T, H, W) predicted probabilities in [0, 1].
        gt: (T, H, W) ground-truth masks (bool or 0/1); all-False frames have no ground truth.
        mask_threshold: a pixel is predicted foreground when its probability >= this.

    Returns:
        `(intersections, unions)`, int64 arrays with one entry per frame whose ground truth is
        non-empty, in frame order.

    Example:

    >>> pred = np.array([[[0.9, 0.2]], [[0.7, 0.7]]])        # 2 frames of 1 x 2 pixels
    >>> gt = np.array([[[True, True]], [[False, False]]])    # frame 2 has no ground truth
    >>> frame_overlaps(pred, gt)
    (array([1]), array([2]))
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt).astype(bool, copy=False)
    if pred.shape != gt.shape or pred.ndim != 3:
        raise ValueError(f"pred and gt must both be (T, H, W); got {pred.shape} and {gt.shape}")
    has_gt = gt.any(axis=(1, 2))
    mask = pred[has_gt] >= mask_threshold
    gt = gt[has_gt]
    intersections = np.logical_and(mask, gt).sum(axis=(1, 2), dtype=np.int64)
    unions = np.logical_or(mask, gt).sum(axis=(1, 2), dtype=np.int64)
    return intersections, unions


@dataclass(frozen=True)
class PaperMetrics:
    """Result of the paper's protocol (a localization accuracy, not an AP).

    Attributes:
        thresholds: (K,) IoU thresholds.
        fmap: (K,) f-mAP per threshold, mean over classes with ground-truth frames (0..1).
        vmap: (K,) v-mAP per threshold, mean over classes with ground-truth videos (0..1).
        per_class_fap: (C, K) f-AP, NaN for classes without ground truth.
        per_class_vap: (C, K) v-AP, NaN for classes without ground truth.
        accuracy: classification accuracy over the videos given with class scores, or None.
        num_videos: videos added.
        num_frames: ground-truth frames counted.
    """

    thresholds: np.ndarray
    fmap: np.ndarray
    vmap: np.ndarray
    per_class_fap: np.ndarray
    per_class_vap: np.ndarray
    accuracy: float | None
    num_videos: int = 0
    num_frames: int = 0

    def threshold_index(self, threshold: float) -> int:
        """Position of `threshold` among the evaluated thresholds (KeyError if absent)."""
        matches = np.flatnonzero(np.isclose(self.thresholds, threshold))
        if not len(matches):
            raise KeyError(f"threshold {threshold} was not evaluated; thresholds are {self.thresholds.tolist()}")
        return int(matches[0])

    def fmap_at(self, threshold: float) -> float:
        """f-mAP at one of the evaluated thresholds."""
        return float(self.fmap[self.threshold_index(threshold)])

    def vmap_at(self, threshold: float) -> float:
        """v-mAP at one of the evaluated thresholds."""
        return float(self.vmap[self.threshold_index(threshold)])

    @property
    def f_at_02(self) -> float:
        """f-mAP@0.2 (a column of the paper's tables)."""
        return self.fmap_at(0.2)

    @property
    def f_at_05(self) -> float:
        """f-mAP@0.5."""
        return self.fmap_at(0.5)

    @property
    def v_at_02(self) -> float:
        """v-mAP@0.2."""
        return self.vmap_at(0.2)

    @property
    def v_at_05(self) -> float:
        """v-mAP@0.5."""
        return self.vmap_at(0.5)

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN becomes None); headline values under `f@0.2` ... `v@0.5`."""

        def clean(values: np.ndarray) -> list:
            return [None if np.isnan(v) else float(v) for v in np.asarray(values, dtype=np.float64).ravel()]

        out: dict = {"protocol": PAPER_PROTOCOL_NAME}
        for name, values in (("f", self.fmap), ("v", self.vmap)):
            for t in (0.2, 0.5):
                if np.isclose(self.thresholds, t).any():
                    out[f"{name}@{t:g}"] = clean([values[self.threshold_index(t)]])[0]
        out.update({
            "thresholds": [float(t) for t in self.thresholds],
            "fmap": clean(self.fmap),
            "vmap": clean(self.vmap),
            "per_class_fap": [clean(row) for row in self.per_class_fap],
            "per_class_vap": [clean(row) for row in self.per_class_vap],
            "accuracy": self.accuracy,
            "num_videos": self.num_videos,
            "num_frames": self.num_frames,
        })
        return out


class PaperMetricAccumulator:
    """Streaming form of `paper_metrics`: add one video at a time, in constant memory.

    Each video is reduced at once to its per-frame intersection and union counts, and those to
    threshold hit counts per class, so memory does not grow with the dataset. `add_counts`
    takes the counts directly, for callers that compute them clip by clip (for example on the
    accelerator).

    Args:
        num_classes: number of classes C.
        thresholds: IoU thresholds; default 0.00, 0.05, ..., 0.95.
        mask_threshold: probability at or above which a pixel is foreground.

    Example:

    >>> acc = PaperMetricAccumulator(num_classes=2, thresholds=[0.5])
    >>> acc.add_video(np.ones((1, 2, 2)), np.ones((1, 2, 2), bool), label=0, scores=[0.8, 0.2])
    >>> m = acc.result()
    >>> m.fmap.tolist(), m.accuracy
    ([1.0], 1.0)
    """

    def __init__(self, num_classes: int, thresholds: Sequence[float] | None = None, mask_threshold: float = 0.5):
        thresholds = default_thresholds() if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
        if len(thresholds) == 0 or np.any((thresholds < 0) | (thresholds > 1)):
            raise ValueError("thresholds must be a non-empty list of values in [0, 1]")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.thresholds = thresholds
        self.mask_threshold = float(mask_threshold)
        k = len(thresholds)
        self._frame_hits = np.zeros((num_classes, k), np.int64)
        self._frame_total = np.zeros(num_classes, np.int64)
        self._video_hits = np.zeros((num_classes, k), np.int64)
        self._video_total = np.zeros(num_classes, np.int64)
        self._correct = 0
        self._scored = 0
        self._videos = 0

    def add_video(self, pred: np.ndarray, gt: np.ndarray, label: int, scores: Sequence[float] | None = None) -> None:
        """Add one video.

        Args:
            pred: (T, H, W) predicted probabilities.
            gt: (T, H, W) ground-truth masks; all-False frames have no ground truth.
            label: the video's class index.
            scores: optional (C,) class scores (mean over the video's clips) for accuracy.
        """
        intersections, unions = frame_overlaps(pred, gt, self.mask_threshold)
        self.add_counts(intersections, unions, label, scores)

    def add_counts(self, intersections: np.ndarray, unions: np.ndarray, label: int,
                   scores: Sequence[float] | None = None) -> None:
        """Add one video from its per-frame counts over its ground-truth frames only.

        Args:
            intersections: pixel intersections, one per frame with non-empty ground truth.
            unions: pixel unions of the same frames (each > 0, as ground truth is non-empty).
            label: the video's class index.
            scores: optional (C,) class scores for accuracy.
        """
        label = int(label)
        if not 0 <= label < self.num_classes:
            raise ValueError(f"label {label} outside 0..{self.num_classes - 1}")
        intersections = np.asarray(intersections, dtype=np.float64).ravel()
        unions = np.asarray(unions, dtype=np.float64).ravel()
        if intersections.shape != unions.shape or np.any(unions <= 0):
            raise ValueError("intersections and unions must match in length, with every union > 0")
        self._videos += 1
        if len(unions):
            frame_iou = intersections / unions
            self._frame_hits[label] += (frame_iou[:, None] >= self.thresholds[None, :]).sum(axis=0)
            self._frame_total[label] += len(unions)
            video_iou = intersections.sum() / unions.sum()
            self._video_hits[label] += video_iou >= self.thresholds
            self._video_total[label] += 1
        if scores is not None:
            scores = np.asarray(scores, dtype=np.float64).ravel()
            if len(scores) != self.num_classes:
                raise ValueError(f"scores must have {self.num_classes} entries, got {len(scores)}")
            self._correct += int(np.argmax(scores) == label)
            self._scored += 1

    def result(self) -> PaperMetrics:
        """The metrics over every video added so far."""
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class_fap = self._frame_hits / self._frame_total[:, None]
            per_class_vap = self._video_hits / self._video_total[:, None]
        per_class_fap[self._frame_total == 0] = np.nan
        per_class_vap[self._video_total == 0] = np.nan
        return PaperMetrics(
            thresholds=self.thresholds.copy(),
            fmap=_mean_over_present(per_class_fap),
            vmap=_mean_over_present(per_class_vap),
            per_class_fap=per_class_fap,
            per_class_vap=per_class_vap,
            accuracy=self._correct / self._scored if self._scored else None,
            num_videos=self._videos,
            num_frames=int(self._frame_total.sum()),
        )


def _mean_over_present(per_class: np.ndarray) -> np.ndarray:
    """Mean over classes that have ground truth (rows without NaN); NaN when none has."""
    present = ~np.isnan(per_class[:, 0])
    if not present.any():
        return np.full(per_class.shape[1], np.nan)
    return per_class[present].mean(axis=0)


def paper_metrics(pred_masks: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray], labels: Sequence[int],
                  num_classes: int, class_scores: Sequence[np.ndarray] | None = None,
                  thresholds: Sequence[float] | None = None, mask_threshold: float = 0.5) -> PaperMetrics:
    """f-mAP and v-mAP of the paper's protocol (localization accuracy, SPEC 5.1).

    Every frame with non-empty ground truth counts once. f-AP(c, t) is the share of class c's
    ground-truth frames whose mask IoU >= t; v-AP(c, t) the share of its videos whose video IoU
    (summed intersections / summed unions over the ground-truth frames) >= t; f-mAP and v-mAP
    average over the classes present. Predictions on frames without ground truth are ignored.

    Args:
        pred_masks: per-video float arrays (T, H, W) of probabilities in [0, 1].
        gt_masks: per-video bool arrays (T, H, W); frames without ground truth are all False.
        labels: class index of each video.
        num_classes: number of classes C.
        class_scores: optional per-video (C,) scores (mean of clip scores) -> `accuracy`.
        thresholds: IoU thresholds; default `numpy.arange(20) / 20`.
        mask_threshold: probability at or above which a pixel is foreground.

    Returns:
        `PaperMetrics` with `.thresholds`, `.fmap`, `.vmap`, `.per_class_fap`,
        `.per_class_vap` (C x K, NaN for absent classes) and `.accuracy` (None without scores).

    Example:

    >>> gt = np.zeros((2, 4, 4), bool); gt[:, :2, :2] = True          # 4 pixels per frame
    >>> pred = np.zeros((2, 4, 4)); pred[0, :2, :2] = 1; pred[1, :1, :2] = 1
    >>> m = paper_metrics([pred], [gt], [0], num_classes=1)           # frame IoUs 1 and 0.5
    >>> m.f_at_05, m.fmap_at(0.55), m.v_at_05                         # video IoU 6/8
    (1.0, 0.5, 1.0)
    """
    if not len(pred_masks) == len(gt_masks) == len(labels):
        raise ValueError("pred_masks, gt_masks and labels must have one entry per video")
    if class_scores is not None and len(class_scores) != len(labels):
        raise ValueError("class_scores must have one entry per video")
    accumulator = PaperMetricAccumulator(num_classes, thresholds, mask_threshold)
    for i, (pred, gt, label) in enumerate(zip(pred_masks, gt_masks, labels, strict=True)):
        accumulator.add_video(pred, gt, label, None if class_scores is None else class_scores[i])
    return accumulator.result()
