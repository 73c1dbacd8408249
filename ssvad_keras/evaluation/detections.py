"""Turn our detector's masks and class probabilities into ACT detections (SPEC 5.2).

The model predicts one foreground mask per frame and one class distribution per video; the
standard protocol wants scored, labelled boxes and tubes. Per frame, the box is the bounding box
of the mask's largest connected component (none when the mask is empty); it is scored once per
class by the video's class probability. Per video, each class whose probability reaches the
score floor gets one tube over the frames whose mask is non-empty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from ssvad_keras.data.geometry import EvalGeometry
from ssvad_keras.evaluation.act_io import FrameDetections, Tube

BoxMapping = Callable[[np.ndarray], np.ndarray]


def mask_to_box(mask: np.ndarray) -> np.ndarray | None:
    """Bounding box of the largest 8-connected component of a binary mask.

    Args:
        mask: (H, W) bool or 0/1 array.

    Returns:
        float64 `[x1, y1, x2, y2]`, pixel-inclusive, or None when the mask is empty. When two
        components have the same area, the first in row-major scan order wins.

    Example:

    >>> m = np.zeros((6, 8), bool); m[1:3, 1:3] = True; m[2:5, 4:8] = True
    >>> mask_to_box(m).tolist()
    [4.0, 2.0, 7.0, 4.0]
    """
    mask = np.ascontiguousarray(np.asarray(mask).astype(np.uint8, copy=False))
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    if not mask.any():
        return None
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    # Row 0 is the background; argmax keeps the lowest label among equal areas.
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(stats[best, k]) for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    return np.array([x, y, x + w - 1, y + h - 1], dtype=np.float64)


def box_scaler(scale_x: float, scale_y: float, offset_x: float = 0.0, offset_y: float = 0.0) -> BoxMapping:
    """Map pixel-inclusive boxes from mask pixels to original-video pixels.

    Mask pixel `i` covers original pixels `[i * scale + offset, (i + 1) * scale + offset)`, so an
    inclusive box `x1..x2` becomes `x1 * sx + ox .. (x2 + 1) * sx + ox - 1`. The mapping is
    `EvalGeometry.to_original_inclusive` (the one that evaluation and detection use), with the
    offsets given in original pixels.

    Args:
        scale_x: original pixels per mask pixel, horizontally (e.g. 320 / 224).
        scale_y: original pixels per mask pixel, vertically.
        offset_x: original x of the mask's left edge (a centre crop's offset).
        offset_y: original y of the mask's top edge.

    Returns:
        A function from (N, 4) mask-pixel boxes to (N, 4) original-pixel boxes.

    Example:

    >>> box_scaler(2.0, 2.0, 10, 0)(np.array([[0.0, 0.0, 1.0, 1.0]])).tolist()
    [[10.0, 0.0, 13.0, 3.0]]
    """
    geometry = EvalGeometry(
        scale=(float(scale_y), float(scale_x)),
        offset=(float(offset_y) / float(scale_y), float(offset_x) / float(scale_x)),
    )
    return geometry.to_original_inclusive


def detections_from_video(prob_masks: np.ndarray, class_probs: np.ndarray, video_id: str,
                          to_original: BoxMapping | Sequence[float] | None = None,
                          mask_threshold: float = 0.5, score_floor: float = 0.1,
                          frames: Sequence[int] | None = None) -> tuple[FrameDetections, list[Tube]]:
    """ACT frame detections and tubes of one video from predicted masks and class scores.

    Per frame, the predicted mask (probability >= `mask_threshold`) gives one box, the bounding
    box of its largest connected component (frames with an empty mask give none). That box
    becomes one detection per class whose video probability is at least `score_floor`, scored
    by that probability. Each such class also gets one tube, scored by its probability, over the
    frames with a box.

    Args:
        prob_masks: (T, H, W) foreground probabilities.
        class_probs: (C,) class probabilities of the video (mean over its clips).
        video_id: id written into every detection.
        to_original: maps (N, 4) mask-pixel boxes to original pixels; a callable, a tuple
            `(scale_x, scale_y[, offset_x, offset_y])` for `box_scaler`, or None (identity).
        mask_threshold: foreground probability threshold.
        score_floor: classes with a lower probability give no detections.
        frames: 1-based frame number of each mask; default 1..T.

    Returns:
        `(frame_detections, tubes)`.

    Example:

    >>> masks = np.zeros((3, 4, 4)); masks[0, 1:3, 1:3] = 0.9; masks[2, 0, 0] = 0.8
    >>> dets, tubes = detections_from_video(masks, np.array([0.7, 0.25, 0.05]), "v")
    >>> dets.frames.tolist(), dets.labels.tolist(), [t.boxes[:, 0].tolist() for t in tubes]
    ([1, 1, 3, 3], [0, 1, 0, 1], [[1.0, 3.0], [1.0, 3.0]])
    """
    prob_masks = np.asarray(prob_masks)
    class_probs = np.asarray(class_probs, dtype=np.float64).ravel()
    if prob_masks.ndim != 3:
        raise ValueError(f"prob_masks must be (T, H, W), got shape {prob_masks.shape}")
    frame_numbers = np.arange(1, len(prob_masks) + 1) if frames is None else np.asarray(frames, dtype=np.int64)
    if len(frame_numbers) != len(prob_masks):
        raise ValueError("frames must give one frame number per mask")
    if to_original is None:
        mapping: BoxMapping = lambda boxes: np.asarray(boxes, dtype=np.float64)  # noqa: E731
    elif callable(to_original):
        mapping = to_original
    else:
        mapping = box_scaler(*to_original)

    foreground = prob_masks >= mask_threshold
    kept_frames, boxes = [], []
    for t in np.flatnonzero(foreground.any(axis=(1, 2))):
        kept_frames.append(frame_numbers[t])
        boxes.append(mask_to_box(foreground[t]))
    classes = np.flatnonzero(class_probs >= score_floor)
    if not boxes or not len(classes):
        return FrameDetections.empty(), []
    boxes = mapping(np.stack(boxes)).reshape(-1, 4)
    kept_frames = np.asarray(kept_frames, dtype=np.int64)

    # Rows ordered frame-major, one per (frame, class).
    n, k = len(kept_frames), len(classes)
    detections = FrameDetections(
        videos=np.full(n * k, str(video_id), dtype=object),
        frames=np.repeat(kept_frames, k),
        labels=np.tile(classes, n),
        scores=np.tile(class_probs[classes], n),
        boxes=np.repeat(boxes, k, axis=0),
    )
    tube_rows = np.column_stack([kept_frames, boxes])
    tubes = [Tube(str(video_id), int(c), float(class_probs[c]), tube_rows) for c in classes]
    return detections, tubes
