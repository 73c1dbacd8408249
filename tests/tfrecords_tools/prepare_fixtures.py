"""Small on-disk datasets in the real source layouts, and a reader for what `prepare` writes.

Frames are flat colours that encode (video, frame) so a decoded frame tells where it came from:
JPEG, PNG and mp4v keep flat images within a few grey levels.
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import scipy.io
import tensorflow as tf
from PIL import Image

from ssvad_keras.data import schema

HEIGHT, WIDTH = 48, 64


def frame_colour(video_index: int, t: int) -> np.ndarray:
    """The flat RGB colour of frame t (0-based) of the video_index-th fixture video."""
    level = (video_index * 37 + t * 23) % 200 + 30
    return np.array([level, 255 - level, (level * 3) % 256], np.uint8)


def flat_frame(video_index: int, t: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    return np.broadcast_to(frame_colour(video_index, t), (*size, 3)).copy()


# ----------------------------------------------------------------------------- UCF101-24

UCF_CLASSES = ["Basketball", "Diving"]
# Per video: split, class, nframes, tubes as (first_frame, last_frame, box) with 1-based frames.
UCF_VIDEOS = {
    "Basketball/v_Basketball_g01_c01": {
        "split": "train", "label": 0, "nframes": 8,
        "tubes": [(2, 6, [10, 5, 30, 40]), (4, 8, [35, 10, 60, 45])],
    },
    "Basketball/v_Basketball_g02_c01": {
        "split": "train", "label": 0, "nframes": 6,
        "tubes": [(1, 6, [-4, 2, 20, 30])],  # partly outside: clipped to x1 = 0
    },
    "Diving/v_Diving_g01_c01": {
        "split": "train", "label": 1, "nframes": 7, "tubes": [(1, 7, [5, 5, 25, 25])],
    },
    "Diving/v_Diving_g02_c01": {
        "split": "train", "label": 1, "nframes": 6, "tubes": [(2, 5, [8, 8, 40, 30])],
    },
    "Basketball/v_Basketball_g03_c01": {
        "split": "test", "label": 0, "nframes": 6, "tubes": [(1, 6, [12, 6, 44, 40])],
    },
    "Diving/v_Diving_g03_c01": {
        "split": "test", "label": 1, "nframes": 6, "tubes": [(3, 6, [0, 0, 63, 47])],
    },
}


def ucf_videos() -> dict:
    """A fresh, editable copy of the fixture's video specs."""
    return copy.deepcopy(UCF_VIDEOS)


def tube_array(first: int, last: int, box) -> np.ndarray:
    frames = np.arange(first, last + 1, dtype=np.float32)[:, None]
    return np.concatenate([frames, np.tile(np.asarray(box, np.float32), (len(frames), 1))], 1)


def write_act_pickle(
    path: Path, classes: list[str], videos: dict, num_splits: int = 1, size: tuple[int, int] = (HEIGHT, WIDTH)
) -> None:
    """An ACT ground-truth pickle (protocol 2, like Python 2's), NumPy tube arrays included;
    boxes are pixels at resolution `size` (height, width)."""
    gttubes = {}
    for video_id, spec in videos.items():
        tubes = gttubes.setdefault(video_id, {})
        for first, last, box in spec["tubes"]:
            tubes.setdefault(spec["label"], []).append(tube_array(first, last, box))
    train = [v for v, s in videos.items() if s["split"] == "train"]
    test = [v for v, s in videos.items() if s["split"] == "test"]
    data = {
        "labels": classes,
        "gttubes": gttubes,
        "nframes": {v: s["nframes"] for v, s in videos.items()},
        "train_videos": [train] * num_splits,
        "test_videos": [test] * num_splits,
        "resolution": {v: tuple(size) for v in videos},
    }
    path.write_bytes(pickle.dumps(data, protocol=2))


def write_mp4(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def make_ucf_root(
    root: Path, videos: dict | None = None, layout: str = "frames", size: tuple[int, int] = (HEIGHT, WIDTH)
) -> Path:
    """UCF101-24 in the ACT layout: `UCF101v2-GT.pkl` plus `rgb-images/` (layout "frames") or
    `videos/*.mp4` (layout "mp4", at the default size only); frames are `size` (height, width)."""
    videos = UCF_VIDEOS if videos is None else videos
    if layout == "mp4" and tuple(size) != (HEIGHT, WIDTH):
        raise ValueError("the mp4 layout writes HEIGHT x WIDTH frames only")
    root.mkdir(parents=True, exist_ok=True)
    write_act_pickle(root / "UCF101v2-GT.pkl", UCF_CLASSES, videos, size=size)
    for index, (video_id, spec) in enumerate(videos.items()):
        frames = [flat_frame(index, t, size) for t in range(spec["nframes"])]
        if layout == "mp4":
            write_mp4(root / "videos" / f"{video_id}.mp4", frames)
            continue
        folder = root / "rgb-images" / video_id
        folder.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(frames):
            cv2.imwrite(str(folder / f"{t + 1:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return root


def released_split_entries(videos: dict, labeled_ids: set[str]) -> list:
    """The paper's released split pickle structure: [(video, [[start, end, class, boxes_xywh,
    key_frames, labeled_flag]])]."""
    entries = []
    for video_id, spec in videos.items():
        if spec["split"] != "train":
            continue
        tubes = []
        for first, last, (x1, y1, x2, y2) in spec["tubes"]:
            n = last - first + 1
            boxes = np.tile(np.array([x1, y1, x2 - x1, y2 - y1], np.float32), (n, 1))
            tubes.append([first, last, spec["label"], boxes, np.arange(first, last + 1), video_id in labeled_ids])
        entries.append((video_id, tubes))
    return entries


# ----------------------------------------------------------------------------- JHMDB-21

JHMDB_CLASSES = ["brush_hair", "catch"]
JHMDB_NFRAMES = 5


def jhmdb_mask(t: int) -> np.ndarray:
    """Actor rectangle moving right by 2 pixels per frame (1 on the actor)."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[10:30, 5 + 2 * t : 21 + 2 * t] = 1
    return mask


def make_jhmdb_root(root: Path, mask_frames: int = JHMDB_NFRAMES) -> Path:
    """JHMDB-21: `JHMDB-GT.pkl` (3 splits), `Frames/<video>/%05d.png`, puppet masks (.mat)."""
    videos = {
        "brush_hair/v_brush_1": {"split": "train", "label": 0},
        "catch/v_catch_1": {"split": "train", "label": 1},
        "brush_hair/v_brush_2": {"split": "test", "label": 0},
    }
    specs = {}
    for video_id, spec in videos.items():
        rows = []
        for t in range(JHMDB_NFRAMES):
            ys, xs = np.nonzero(jhmdb_mask(t))
            rows.append([t + 1, xs.min(), ys.min(), xs.max(), ys.max()])
        specs[video_id] = {**spec, "nframes": JHMDB_NFRAMES, "rows": np.array(rows, np.float32)}
    root.mkdir(parents=True, exist_ok=True)
    data = {
        "labels": JHMDB_CLASSES,
        "gttubes": {v: {s["label"]: [s["rows"]]} for v, s in specs.items()},
        "nframes": {v: s["nframes"] for v, s in specs.items()},
        # Split 2 swaps roles so tests can tell the splits apart.
        "train_videos": [["brush_hair/v_brush_1", "catch/v_catch_1"], ["brush_hair/v_brush_2"],
                         ["brush_hair/v_brush_1", "catch/v_catch_1"]],
        "test_videos": [["brush_hair/v_brush_2"], ["brush_hair/v_brush_1", "catch/v_catch_1"],
                        ["brush_hair/v_brush_2"]],
        "resolution": {v: (HEIGHT, WIDTH) for v in specs},
    }
    (root / "JHMDB-GT.pkl").write_bytes(pickle.dumps(data, protocol=2))
    for index, video_id in enumerate(specs):
        folder = root / "Frames" / video_id
        folder.mkdir(parents=True)
        for t in range(JHMDB_NFRAMES):
            cv2.imwrite(str(folder / f"{t + 1:05d}.png"), cv2.cvtColor(flat_frame(index, t), cv2.COLOR_RGB2BGR))
        mask_dir = root / "puppet_mask" / video_id
        mask_dir.mkdir(parents=True)
        part_mask = np.stack([jhmdb_mask(t) for t in range(mask_frames)], axis=2)
        scipy.io.savemat(str(mask_dir / "puppet_mask.mat"), {"part_mask": part_mask})
    return root


# ----------------------------------------------------------------------------- YouTube-VOS

VOS_FRAMES = 11  # frames 00000..00010; annotated every 5th (0, 5, 10)
PALETTE = [0, 0, 0, 236, 95, 103, 249, 145, 87] + [0] * (256 * 3 - 9)


def vos_mask(t: int) -> np.ndarray:
    """Object 1 on the left moving down, object 2 on the right (palette indices)."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[2 + t : 20 + t, 4:20] = 1
    mask[10:40, 40:60] = 2
    return mask


def write_palette_png(path: Path, mask: np.ndarray) -> None:
    image = Image.fromarray(mask, mode="P")
    image.putpalette(PALETTE)
    image.save(path)


def make_vos_root(root: Path) -> Path:
    """YouTube-VOS: `train/` (2 videos) and `valid/` (1 video, first-frame mask only)."""
    layout = {"train": ["a1b2c3", "d4e5f6"], "valid": ["0a0b0c"]}
    for split, video_ids in layout.items():
        meta = {"videos": {}}
        for index, video_id in enumerate(video_ids):
            frames_dir = root / split / "JPEGImages" / video_id
            masks_dir = root / split / "Annotations" / video_id
            frames_dir.mkdir(parents=True)
            masks_dir.mkdir(parents=True)
            for t in range(VOS_FRAMES):
                cv2.imwrite(str(frames_dir / f"{t:05d}.jpg"), cv2.cvtColor(flat_frame(index, t), cv2.COLOR_RGB2BGR))
                if t % 5 == 0 and (split == "train" or t == 0):
                    write_palette_png(masks_dir / f"{t:05d}.png", vos_mask(t))
            meta["videos"][video_id] = {
                "objects": {"1": {"category": "person", "frames": ["00000"]},
                            "2": {"category": "dog" if index == 0 else "cat", "frames": ["00000"]}}
            }
        (root / split / "meta.json").write_text(json.dumps(meta))
    return root


# ----------------------------------------------------------------------------- reading back


def read_split_records(data_dir: Path, split: str) -> dict[str, dict]:
    """Parse every SequenceExample of `split` with tf.data; return decoded records by video id."""
    manifest = json.loads((data_dir / schema.MANIFEST).read_text())
    files = [str(data_dir / name) for name in manifest["splits"][split]["shards"]]
    context = {
        schema.VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        schema.CLASS_INDEX: tf.io.FixedLenFeature([], tf.int64),
        schema.NUM_FRAMES: tf.io.FixedLenFeature([], tf.int64),
        schema.HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        schema.WIDTH: tf.io.FixedLenFeature([], tf.int64),
        schema.ORIG_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        schema.ORIG_WIDTH: tf.io.FixedLenFeature([], tf.int64),
        schema.HAS_BOXES: tf.io.FixedLenFeature([], tf.int64),
        schema.HAS_MASKS: tf.io.FixedLenFeature([], tf.int64),
        schema.SOURCE: tf.io.FixedLenFeature([], tf.string),
    }
    sequence = {
        schema.FRAMES: tf.io.FixedLenSequenceFeature([], tf.string),
        schema.ANNOTATED: tf.io.FixedLenSequenceFeature([], tf.int64),
        schema.BOXES: tf.io.VarLenFeature(tf.float32),
        schema.BOX_TUBE_IDS: tf.io.VarLenFeature(tf.int64),
        schema.MASKS: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
    }
    records = {}
    for serialized in tf.data.TFRecordDataset(files):
        ctx, seq = tf.io.parse_single_sequence_example(serialized, context, sequence)
        video_id = ctx[schema.VIDEO_ID].numpy().decode()
        boxes = tf.sparse.to_dense(seq[schema.BOXES]).numpy()
        box_counts = tf.sparse.to_dense(seq[schema.BOX_TUBE_IDS], default_value=-1).numpy()
        masks = [
            tf.io.decode_png(m).numpy()[..., 0] if len(m.numpy()) else None for m in seq[schema.MASKS]
        ]
        records[video_id] = {
            "class_index": int(ctx[schema.CLASS_INDEX]),
            "num_frames": int(ctx[schema.NUM_FRAMES]),
            "size": (int(ctx[schema.HEIGHT]), int(ctx[schema.WIDTH])),
            "orig_size": (int(ctx[schema.ORIG_HEIGHT]), int(ctx[schema.ORIG_WIDTH])),
            "has_boxes": bool(ctx[schema.HAS_BOXES]),
            "has_masks": bool(ctx[schema.HAS_MASKS]),
            "source": ctx[schema.SOURCE].numpy().decode(),
            "frames": [tf.io.decode_jpeg(f).numpy() for f in seq[schema.FRAMES]],
            "annotated": seq[schema.ANNOTATED].numpy().astype(bool).tolist(),
            # Per frame: boxes (k, 4) normalised, and their tube ids.
            "boxes": [row[: 4 * int((ids >= 0).sum())].reshape(-1, 4) for row, ids in zip(boxes, box_counts, strict=True)]
            if len(boxes) else [],
            "tube_ids": [ids[ids >= 0] for ids in box_counts],
            "masks": masks,
        }
    return records
