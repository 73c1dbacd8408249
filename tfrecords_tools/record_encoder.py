"""The canonical video record every converter produces, and its TFRecord encoding.

Converters build a `VideoRecord` per video (frames and ground truth at the original resolution)
and hand it to `ShardWriter`, which resizes, encodes and writes one `tf.train.SequenceExample`
per video (layout in `ssvad_keras.data.schema`; `ssvad_keras.data.record_decoder` reads it).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ssvad_keras.data import schema
from ssvad_keras.runtime import import_tensorflow


@dataclass
class VideoRecord:
    """One video and its ground truth, at the original resolution.

    Attributes:
        video_id: the source's id for the video.
        class_index: action class, -1 when the video has none.
        frames: RGB uint8 frames (H, W, 3), every frame of the video in order.
        boxes: per frame, a float array (k, 4) of pixel boxes [x1, y1, x2, y2] (0-based,
            inclusive, original resolution); (0, 4) when the frame has none.
        box_tube_ids: per frame, an int array (k,) naming the tube of each box.
        masks: per frame, a uint8 array (H, W) of object ids (0 background), or None when the
            frame has no mask ground truth. None for box-only datasets.
        annotated: per frame, whether ground truth exists for it.
        source: dataset name.
        orig_size: (height, width) of the source video when `frames` (and masks) were already
            resized on loading, which keeps memory at the stored size; boxes stay in original
            pixel coordinates. None when `frames` are at the original resolution.
    """

    video_id: str
    class_index: int
    frames: list[np.ndarray]
    annotated: list[bool]
    boxes: list[np.ndarray] | None = None
    box_tube_ids: list[np.ndarray] | None = None
    masks: list[np.ndarray | None] | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)
    orig_size: tuple[int, int] | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frames)


if TYPE_CHECKING:
    import tensorflow as tf

# TensorFlow is imported on first use, so `ssvad --help` (which lists the converters) starts
# without it.


def _bytes(values: list[bytes]) -> tf.train.Feature:
    tf = import_tensorflow()
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _ints(values) -> tf.train.Feature:
    tf = import_tensorflow()
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values) -> tf.train.Feature:
    tf = import_tensorflow()
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def encode_video_record(
    record: VideoRecord, frame_size: tuple[int, int] | None = None, jpeg_quality: int = 90
) -> bytes:
    """Serialise `record` as a SequenceExample, frames resized to `frame_size` (height, width).

    Boxes are stored normalised to [0, 1] of the original frame, so they stay valid at any stored
    size; masks are resized with nearest-neighbour so object ids survive.
    """
    tf = import_tensorflow()
    orig_h, orig_w = record.orig_size or record.frames[0].shape[:2]
    height, width = frame_size if frame_size is not None else record.frames[0].shape[:2]
    encode = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
    frames, masks, boxes, tube_ids = [], [], [], []
    scale = np.array([orig_w, orig_h, orig_w, orig_h], np.float32)
    for t, frame in enumerate(record.frames):
        if frame.shape[:2] != (height, width):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), encode)
        if not ok:
            raise ValueError(f"{record.video_id}: JPEG encoding failed on frame {t}")
        frames.append(_bytes([buf.tobytes()]))
        if record.boxes is not None:
            frame_boxes = np.asarray(record.boxes[t], np.float32).reshape(-1, 4)
            boxes.append(_floats((frame_boxes / scale).reshape(-1)))
            ids = record.box_tube_ids[t] if record.box_tube_ids is not None else np.zeros(len(frame_boxes))
            tube_ids.append(_ints(np.asarray(ids).reshape(-1)))
        if record.masks is not None:
            mask = record.masks[t]
            if mask is None:
                masks.append(_bytes([b""]))
            else:
                if mask.shape[:2] != (height, width):
                    mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
                ok, buf = cv2.imencode(".png", np.ascontiguousarray(mask, np.uint8))
                if not ok:
                    raise ValueError(f"{record.video_id}: PNG encoding failed on frame {t}")
                masks.append(_bytes([buf.tobytes()]))
    context = {
        schema.VIDEO_ID: _bytes([record.video_id.encode()]),
        schema.CLASS_INDEX: _ints([record.class_index]),
        schema.NUM_FRAMES: _ints([record.num_frames]),
        schema.HEIGHT: _ints([height]),
        schema.WIDTH: _ints([width]),
        schema.ORIG_HEIGHT: _ints([orig_h]),
        schema.ORIG_WIDTH: _ints([orig_w]),
        schema.HAS_BOXES: _ints([record.boxes is not None]),
        schema.HAS_MASKS: _ints([record.masks is not None]),
        schema.SOURCE: _bytes([record.source.encode()]),
    }
    lists = {
        schema.FRAMES: tf.train.FeatureList(feature=frames),
        schema.ANNOTATED: tf.train.FeatureList(feature=[_ints([a]) for a in record.annotated]),
    }
    if record.boxes is not None:
        lists[schema.BOXES] = tf.train.FeatureList(feature=boxes)
        lists[schema.BOX_TUBE_IDS] = tf.train.FeatureList(feature=tube_ids)
    if record.masks is not None:
        lists[schema.MASKS] = tf.train.FeatureList(feature=masks)
    example = tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list=lists),
    )
    # Deterministic: map fields in key order, so the same record gives the same bytes in any
    # process (checksums and worker-count independence rely on it).
    return example.SerializeToString(deterministic=True)


class ShardWriter:
    """Write serialised records round-robin into `num_shards` TFRecord files of one split.

    Files are named `<split>-00000-of-00004.tfrecord` inside `out_dir` (normally a temporary
    folder that the converter renames into place when everything succeeded).
    """

    def __init__(self, out_dir: str | os.PathLike, split: str, num_shards: int = 1):
        self.out_dir = Path(out_dir)
        self.split = split
        self.names = [f"{split}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
        tf = import_tensorflow()
        self._writers = [tf.io.TFRecordWriter(str(self.out_dir / n)) for n in self.names]
        self._next = 0
        self.num_videos = 0
        self.num_frames = 0
        self.video_ids: list[str] = []

    def write(self, serialized: bytes, video_id: str, num_frames: int) -> None:
        self._writers[self._next].write(serialized)
        self._next = (self._next + 1) % len(self._writers)
        self.num_videos += 1
        self.num_frames += num_frames
        self.video_ids.append(video_id)

    def close(self) -> None:
        for writer in self._writers:
            writer.close()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
