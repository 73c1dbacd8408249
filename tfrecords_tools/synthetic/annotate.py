"""Ground truth from rendered silhouettes: per-actor boxes (tubes) and object-id masks."""

from __future__ import annotations

import numpy as np

from tfrecords_tools.record_encoder import VideoRecord
from tfrecords_tools.synthetic.render import RenderedVideo

ANNOTATIONS = ("masks", "boxes")
SOURCE = "synthetic"


def annotate(rendered: RenderedVideo, class_index: int, video_id: str, annotation: str = "masks") -> VideoRecord:
    """A `VideoRecord` of `rendered`: on every acting frame, each visible actor's bounding box (tube
    id = actor index) and, for "masks", the object-id mask (actor i -> id i + 1); nothing on the
    other frames. Boxes are the exact boxes of the visible silhouettes, so boxes and masks agree.
    """
    if annotation not in ANNOTATIONS:
        raise ValueError(f"annotation must be one of {ANNOTATIONS}, got {annotation!r}")
    masks, boxes, tube_ids = [], [], []
    for acting, silhouettes in zip(rendered.acting, rendered.silhouettes, strict=True):
        if not acting:
            masks.append(None)
            boxes.append(np.zeros((0, 4), np.float32))
            tube_ids.append(np.zeros(0, np.int64))
            continue
        ids = np.zeros(rendered.frames[0].shape[:2], np.uint8)
        frame_boxes, frame_tubes = [], []
        for actor, silhouette in enumerate(silhouettes):
            ys, xs = np.nonzero(silhouette)
            if not len(xs):
                continue
            ids[silhouette] = actor + 1
            frame_boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
            frame_tubes.append(actor)
        masks.append(ids)
        boxes.append(np.array(frame_boxes, np.float32).reshape(-1, 4))
        tube_ids.append(np.array(frame_tubes, np.int64))
    return VideoRecord(
        video_id, class_index, rendered.frames, list(rendered.acting), boxes, tube_ids,
        masks if annotation == "masks" else None, source=SOURCE,
    )
