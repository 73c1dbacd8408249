"""Small real TFRecord datasets for the pipeline tests, written with `tfrecords_tools.record_encoder`.

Frame t of every video is a flat grey image of level `FRAME_STEP * t`, so a decoded clip tells
which frames were sampled (JPEG keeps flat images almost exact).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ssvad_keras.data import schema
from tfrecords_tools.record_encoder import ShardWriter, VideoRecord, encode_video_record

FRAME_STEP = 5  # grey level per frame index; 50 frames stay below 255
HEIGHT, WIDTH = 24, 32


def frame_ids(clip: np.ndarray) -> np.ndarray:
    """Frame indices of a (..., T, H, W, 3) clip in [0, 1] made of `make_video` frames."""
    level = clip.mean(axis=(-3, -2, -1)) * 255.0
    return np.rint(level / FRAME_STEP).astype(int)


def make_video(
    video_id: str,
    class_index: int,
    num_frames: int,
    span: tuple[int, int] | None = None,
    box: tuple[float, float, float, float] = (4, 2, 9, 5),
    with_masks: bool = False,
) -> VideoRecord:
    """A video whose frames in `span` (inclusive; default all) carry `box` (pixels) or a mask."""
    first, last = span if span is not None else (0, num_frames - 1)
    frames = [np.full((HEIGHT, WIDTH, 3), FRAME_STEP * t, np.uint8) for t in range(num_frames)]
    annotated = [first <= t <= last for t in range(num_frames)]
    if with_masks:
        masks = []
        for t in range(num_frames):
            if not annotated[t]:
                masks.append(None)
                continue
            ids = np.zeros((HEIGHT, WIDTH), np.uint8)
            x1, y1, x2, y2 = (int(v) for v in box)
            ids[y1 : y2 + 1, x1 : x2 + 1] = 2  # object id 2: any id > 0 is foreground
            masks.append(ids)
        return VideoRecord(video_id, class_index, frames, annotated, masks=masks, source="test")
    boxes = [np.array([box], np.float32) if a else np.zeros((0, 4), np.float32) for a in annotated]
    tube_ids = [np.array([0] if a else [], np.int64) for a in annotated]
    return VideoRecord(
        video_id, class_index, frames, annotated, boxes=boxes, box_tube_ids=tube_ids, source="test"
    )


def write_dataset(
    root: Path,
    splits: dict[str, list[VideoRecord]],
    split_file: dict | None = None,
    num_shards: int = 2,
    classes: tuple[str, ...] = ("a", "b"),
) -> Path:
    """Write shards, `dataset.json` and (optionally) `splits/labeled-test.json` under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format_version": 1,
        "source": "test",
        "classes": list(classes),
        "frame_size": [HEIGHT, WIDTH],
        "splits": {},
        "options": {},
        "checksums": {},
        "clipped_boxes": {},
        "created_by": "tests",
    }
    for name, videos in splits.items():
        with ShardWriter(root, name, min(num_shards, len(videos))) as writer:
            for video in videos:
                writer.write(encode_video_record(video), video.video_id, video.num_frames)
        manifest["splits"][name] = {
            "shards": writer.names,
            "num_videos": writer.num_videos,
            "num_frames": writer.num_frames,
            "video_ids": [v.video_id for v in videos],
            "labels": [v.class_index for v in videos],
        }
    (root / schema.MANIFEST).write_text(json.dumps(manifest))
    if split_file is not None:
        (root / schema.SPLITS_DIR).mkdir(exist_ok=True)
        (root / schema.SPLITS_DIR / "labeled-test.json").write_text(json.dumps(split_file))
    return root


@pytest.fixture(scope="session")
def semi_dataset(tmp_path_factory) -> Path:
    """8 training videos (4 labeled, untrimmed: GT on frames 10..29 of 40; 3 unlabeled; 1 val)
    and 2 test videos of 19 and 16 frames."""
    labeled = [make_video(f"lab{i}", i % 2, 40, span=(10, 29)) for i in range(4)]
    unlabeled = [make_video(f"unl{i}", 1, 30) for i in range(3)]
    val = [make_video("val0", 0, 20)]
    test = [make_video("test0", 1, 19, span=(3, 15)), make_video("test1", 0, 16)]
    split = {
        "labeled_fraction": 0.5,
        "seed": 0,
        "val_fraction": 0.1,
        "labeled": [v.video_id for v in labeled],
        "unlabeled": [v.video_id for v in unlabeled],
        "val": ["val0"],
    }
    root = tmp_path_factory.mktemp("semi")
    return write_dataset(root, {"train": labeled + unlabeled + val, "test": test}, split)
