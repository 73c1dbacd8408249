"""Training-pipeline throughput from TFRecords (issue 2's benchmark; not a timed test).

Writes synthetic videos (default 40 of 320x240 x 48 frames, with boxes; 20% labeled) as TFRecord
shards in a temporary folder, then measures, after a warm-up and across epoch restarts:
  - clips/s of `train_dataset` at 8x224x224, two views, batch 8 (4 labeled + 4 unlabeled);
  - the JPEG decode + resize-to-224 frames/s ceiling of TensorFlow on the same shards;
  - the JPEG decode-and-crop frames/s the pipeline actually uses when no resize is needed.
One printed line per figure.

TensorFlow's CPU allocator is set to BFC unless `TF_CPU_ALLOCATOR_USE_BFC` is already set: with
plain malloc every batch-sized tensor is a fresh mmap whose page faults cost about half of the
throughput on this machine. Run with `TF_CPU_ALLOCATOR_USE_BFC=false` to measure without it.

    .venv/bin/python bench/bench_pipeline.py [--videos 40] [--batches 40]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

# Before TensorFlow loads (see the module docstring).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ssvad_keras.config import DataConfig  # noqa: E402
from ssvad_keras.data import parse_video_record, schema, train_dataset  # noqa: E402
from tfrecords_tools.record_encoder import ShardWriter, VideoRecord, encode_video_record  # noqa: E402


def synthetic_video(index: int, num_frames: int, height: int, width: int) -> VideoRecord:
    """A textured background with a moving box: JPEG sizes close to real footage."""
    rng = np.random.default_rng(index)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width, yy / height, (xx + yy) / (width + height)], -1) * 200
    texture = rng.integers(0, 40, (height // 4, width // 4, 3)).repeat(4, 0).repeat(4, 1)
    frames, boxes = [], []
    for t in range(num_frames):
        frame = (base + np.roll(texture, t, axis=1)).clip(0, 255).astype(np.uint8)
        x1, y1 = 20 + 3 * t, 40 + t
        frame[y1 : y1 + 80, x1 : x1 + 50] = (200, 60, 60)
        frames.append(frame)
        boxes.append(np.array([[x1, y1, x1 + 49, y1 + 79]], np.float32))
    return VideoRecord(
        f"video{index:03d}", index % 4, frames, [True] * num_frames, boxes=boxes,
        box_tube_ids=[np.zeros(1, np.int64)] * num_frames, source="bench",
    )


def write_bench_dataset(root: Path, videos: int, frames: int) -> None:
    ids = []
    with ShardWriter(root, "train", 4) as writer:
        for i in range(videos):
            video = synthetic_video(i, frames, 240, 320)
            writer.write(encode_video_record(video), video.video_id, video.num_frames)
            ids.append(video.video_id)
    manifest = {
        "format_version": 1, "source": "bench", "classes": ["a", "b", "c", "d"],
        "frame_size": [240, 320], "options": {}, "checksums": {}, "clipped_boxes": {},
        "splits": {"train": {"shards": writer.names, "num_videos": videos,
                             "num_frames": writer.num_frames, "video_ids": ids,
                             "labels": [i % 4 for i in range(videos)]}},
    }
    (root / schema.MANIFEST).write_text(json.dumps(manifest))
    # 20% labeled, as in the paper's UCF101-24 setting; one epoch = one pass over the rest.
    labeled = max(1, videos // 5)
    split = {"labeled": ids[:labeled], "unlabeled": ids[labeled:], "val": []}
    (root / schema.SPLITS_DIR).mkdir()
    (root / schema.SPLITS_DIR / "bench.json").write_text(json.dumps(split))


def time_dataset(ds: tf.data.Dataset, warmup: int, count: int) -> float:
    """Seconds for `count` elements after `warmup` elements."""
    iterator = iter(ds)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return time.perf_counter() - start


def frame_dataset(root: Path) -> tf.data.Dataset:
    shards = sorted(str(p) for p in root.glob("train-*.tfrecord"))
    records = tf.data.TFRecordDataset(shards)
    return records.map(lambda s: parse_video_record(s, with_masks=False)["frames"]).unbatch().repeat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--batches", type=int, default=40, help="timed batches after warm-up")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_bench_dataset(root, args.videos, args.frames)
        cfg = DataConfig()  # 8 frames at skip 2, 224x224, 4 labeled + 4 unlabeled
        ds = train_dataset(root, "bench", cfg, seed=0).repeat()
        seconds = time_dataset(ds, warmup=5, count=args.batches)
        clips = args.batches * cfg.batch_size
        print(f"train_dataset: {clips / seconds:.1f} clips/s "
              f"({cfg.clip_length}x{cfg.input_size[0]}x{cfg.input_size[1]}, two views, "
              f"batch {cfg.batch_size}, {clips} clips in {seconds:.2f}s, "
              f"TF_CPU_ALLOCATOR_USE_BFC={os.environ['TF_CPU_ALLOCATOR_USE_BFC']})")

        count = 4000
        resize = frame_dataset(root).map(
            lambda j: tf.image.resize(tf.io.decode_jpeg(j, channels=3), (224, 224)),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).batch(64).prefetch(tf.data.AUTOTUNE)
        seconds = time_dataset(resize, warmup=4, count=count // 64)
        print(f"jpeg decode+resize ceiling: {count // 64 * 64 / seconds:.0f} frames/s (320x240 -> 224x224)")
        crop = frame_dataset(root).map(
            lambda j: tf.io.decode_and_crop_jpeg(j, [8, 48, 224, 224], channels=3),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).batch(64).prefetch(tf.data.AUTOTUNE)
        seconds = time_dataset(crop, warmup=4, count=count // 64)
        print(f"jpeg decode-and-crop: {count // 64 * 64 / seconds:.0f} frames/s (320x240 -> 224x224 crop)")


if __name__ == "__main__":
    main()
