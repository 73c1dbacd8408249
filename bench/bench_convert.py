"""Benchmark: `prepare ucf101-24` from mp4 videos, frames per second and peak memory.

Writes a UCF101-24 ACT-layout dataset of N generated mp4 videos (320x240, 60 frames each, a
textured background with a moving box, one tube per video) for each N in `--videos`, then runs the
conversion in a fresh child process per N and reports that child's wall time and peak resident
memory (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, plus its worker processes when
`--workers` > 1). Streaming conversion holds one video at a time, so peak memory must not grow
with N.

Prints one line per figure. Run:

    .venv/bin/python bench/bench_convert.py [--videos 20 80 --frames 60 --workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HEIGHT, WIDTH = 240, 320
CLASSES = ["Basketball", "Diving", "Fencing"]

CHILD = """
import json, resource, sys, time
from tfrecords_tools.ucf101 import convert_ucf101_24
root, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
summary = convert_ucf101_24(root, out, workers=workers, progress=False)
seconds = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "frames": summary.num_frames, "videos": summary.num_videos,
                  "rss_kib": own, "worker_rss_kib": children}))
"""


def make_dataset(root: Path, num_videos: int, num_frames: int, seed: int = 0) -> None:
    """A UCF101-24 layout: `UCF101v2-GT.pkl` and `videos/<Class>/<video>.mp4`."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    gttubes, nframes, ids = {}, {}, []
    for index in range(num_videos):
        label = index % len(CLASSES)
        video_id = f"{CLASSES[label]}/v_{CLASSES[label]}_g{index:02d}_c01"
        path = root / "videos" / f"{video_id}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        background = ((xx * rng.uniform(0.3, 1) + yy * rng.uniform(0.3, 1)) % 256).astype(np.uint8)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (WIDTH, HEIGHT))
        rows = []
        for t in range(num_frames):
            frame = np.stack([background, np.roll(background, 3 * t, 1), 255 - background], -1)
            x1, y1 = 20 + 3 * t, 60
            cv2.rectangle(frame, (x1, y1), (x1 + 40, y1 + 100), (255, 40, 40), -1)
            writer.write(frame)
            rows.append([t + 1, x1, y1, x1 + 40, y1 + 100])
        writer.release()
        gttubes[video_id] = {label: [np.array(rows, np.float32)]}
        nframes[video_id] = num_frames
        ids.append(video_id)
    annotation = {
        "labels": CLASSES,
        "gttubes": gttubes,
        "nframes": nframes,
        "train_videos": [ids[: max(1, len(ids) * 3 // 4)]],
        "test_videos": [ids[max(1, len(ids) * 3 // 4) :]],
        "resolution": {v: (HEIGHT, WIDTH) for v in ids},
    }
    (root / "UCF101v2-GT.pkl").write_bytes(pickle.dumps(annotation, protocol=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[20, 80])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for num_videos in args.videos:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "ucf"
            make_dataset(root, num_videos, args.frames)
            result = subprocess.run(
                [sys.executable, "-c", CHILD, str(root), str(Path(tmp) / "out"), str(args.workers)],
                capture_output=True, text=True, check=True, env=env,
            )
            stats = json.loads(result.stdout.strip().splitlines()[-1])
            rss = stats["rss_kib"] / 1024
            workers = f", workers' peak RSS {stats['worker_rss_kib'] / 1024:.0f} MiB" if args.workers > 1 else ""
            print(
                f"prepare ucf101-24, {stats['videos']} mp4 videos x {args.frames} frames "
                f"{WIDTH}x{HEIGHT}, workers={args.workers}: {stats['frames'] / stats['seconds']:.0f} "
                f"frames/s ({stats['frames']} frames in {stats['seconds']:.1f} s), "
                f"peak RSS {rss:.0f} MiB{workers}",
                flush=True,
            )


if __name__ == "__main__":
    main()
