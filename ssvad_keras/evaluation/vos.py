"""Video object segmentation: region similarity J and boundary F-measure (SPEC 5.3).

The DAVIS / YouTube-VOS measures, compared object id for object id:

- J = IoU of an object's predicted and ground-truth masks; 1 when both are empty;
- F = F-measure of the mask boundaries: a boundary pixel differs from its right, lower or
  lower-right neighbour (the image border creates none); each boundary's pixels count as matched
  when they lie within a disk of radius ceil(0.008 x image diagonal) of the other boundary;
  F = 2PR / (P + R), 1 when both boundaries are empty and 0 when exactly one is;
- per object, means over frames; then means over objects; J&F = (J + F) / 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


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
