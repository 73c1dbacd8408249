"""Time both evaluation protocols on 1,000 synthetic videos of 100 frames.

Prints one line per figure, in seconds:

- `paper_metrics` at 56 x 56 masks (the model's output resolution is 224 at full size and a
  quarter of that for the tiny preset; 56 keeps the inputs at 25 MB by cycling 20 distinct
  videos, so the time is the metric, not memory traffic of a 1.2 GB array);
- ACT `frame_ap` at 0.5 on 300,000 frame detections (3 scored classes x 1 box per frame);
- ACT video-AP at the 11 reported thresholds (tube NMS included) on 3,000 tubes of 100 boxes;
- reading `dets.csv` and `tubes.json` of that size.

Run: `.venv/bin/python bench/bench_metrics.py [--videos 1000] [--frames 100]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ssvad_keras.evaluation import (
    ActGroundTruth,
    FrameDetections,
    Tube,
    frame_ap,
    paper_metrics,
    read_frame_detections_csv,
    read_tubes_json,
    write_frame_detections_csv,
    write_tubes_json,
)
from ssvad_keras.evaluation.act import VIDEO_AP_RANGE, VIDEO_AP_THRESHOLDS, video_ap_curve

NUM_CLASSES = 24
MASK_SIZE = 56
DISTINCT_VIDEOS = 20
CLASSES_PER_VIDEO = 3


def _paper_inputs(rng: np.random.Generator, videos: int, frames: int):
    """Moving-square ground truth and a jittered, noisy prediction; 80% of frames annotated."""
    pool_pred, pool_gt = [], []
    grid = np.arange(MASK_SIZE)
    for _ in range(DISTINCT_VIDEOS):
        cx = np.clip(28 + np.cumsum(rng.normal(0, 1, frames)), 12, 44)
        cy = np.clip(28 + np.cumsum(rng.normal(0, 1, frames)), 12, 44)
        half = rng.uniform(6, 12)
        inside_x = np.abs(grid[None, None, :] - cx[:, None, None]) <= half
        inside_y = np.abs(grid[None, :, None] - cy[:, None, None]) <= half
        gt = inside_x & inside_y
        gt[rng.random(frames) < 0.2] = False
        shift = rng.integers(-8, 9, size=2)
        pred = np.roll(gt, tuple(shift), axis=(1, 2)).astype(np.float32) * 0.8
        pred += rng.uniform(0, 0.5, pred.shape).astype(np.float32)
        pool_pred.append(pred)
        pool_gt.append(gt)
    index = np.arange(videos) % DISTINCT_VIDEOS
    labels = rng.integers(0, NUM_CLASSES, videos)
    scores = [rng.dirichlet(np.ones(NUM_CLASSES)) for _ in range(videos)]
    return [pool_pred[i] for i in index], [pool_gt[i] for i in index], labels, scores


def _act_inputs(rng: np.random.Generator, videos: int, frames: int):
    """One ground-truth tube per video; per video 3 scored classes, one box per frame each."""
    ids = [f"c{v % NUM_CLASSES}/video_{v:05d}" for v in range(videos)]
    labels = np.arange(videos) % NUM_CLASSES
    tubes, det_parts, det_tubes = {}, [], []
    for v, video in enumerate(ids):
        start = int(rng.integers(1, frames // 4))
        stop = int(rng.integers(3 * frames // 4, frames + 1))
        span = np.arange(start, stop + 1)
        x = 100 + np.cumsum(rng.normal(0, 2, len(span)))
        y = 80 + np.cumsum(rng.normal(0, 2, len(span)))
        gt_rows = np.column_stack([span, x, y, x + 60, y + 90])
        tubes[video] = {int(labels[v]): [gt_rows]}
        det_frames = np.arange(1, frames + 1)
        jitter = rng.normal(0, 6, (frames, 4))
        base = np.interp(det_frames, span, x), np.interp(det_frames, span, y)
        boxes = np.column_stack([base[0], base[1], base[0] + 60, base[1] + 90]) + jitter
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        classes = np.concatenate([[labels[v]], rng.choice(NUM_CLASSES, CLASSES_PER_VIDEO - 1, replace=False)])
        probs = rng.dirichlet(np.ones(CLASSES_PER_VIDEO))
        for c, p in zip(classes, probs, strict=True):
            det_parts.append(FrameDetections(np.full(frames, video, dtype=object), det_frames,
                                             np.full(frames, c), np.full(frames, p) + rng.normal(0, 0.01, frames), boxes))
            det_tubes.append(Tube(video, int(c), float(p), np.column_stack([det_frames, boxes])))
    gt = ActGroundTruth(labels=tuple(f"class{c}" for c in range(NUM_CLASSES)), videos=tuple(ids), tubes=tubes)
    return gt, FrameDetections.concatenate(det_parts), det_tubes


def _timed(label: str, fn):
    start = time.perf_counter()
    value = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    preds, gts, labels, scores = _paper_inputs(rng, args.videos, args.frames)
    m = _timed(f"paper_metrics, {args.videos} videos x {args.frames} frames at {MASK_SIZE}x{MASK_SIZE}",
               lambda: paper_metrics(preds, gts, labels, NUM_CLASSES, class_scores=scores))
    print(f"  (f@0.5 {m.f_at_05:.3f}, v@0.5 {m.v_at_05:.3f}, {m.num_frames} ground-truth frames)")

    gt, dets, tubes = _act_inputs(rng, args.videos, args.frames)
    result = _timed(f"frame_ap@0.5, {len(dets)} frame detections", lambda: frame_ap(gt, dets, 0.5))
    print(f"  (frame-mAP {result.mean:.3f})")
    thresholds = sorted(set(VIDEO_AP_THRESHOLDS) | set(VIDEO_AP_RANGE))
    curve = _timed(f"video_ap at {len(thresholds)} thresholds with tube NMS, {len(tubes)} tubes",
                   lambda: video_ap_curve(gt, tubes, thresholds))
    print(f"  (video-mAP@0.5 {curve[thresholds.index(0.5)].mean:.3f})")
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, json_path = Path(tmp) / "dets.csv", Path(tmp) / "tubes.json"
        write_frame_detections_csv(csv_path, dets)
        write_tubes_json(json_path, tubes)
        _timed(f"read dets.csv ({csv_path.stat().st_size / 1e6:.0f} MB)", lambda: read_frame_detections_csv(csv_path, NUM_CLASSES))
        _timed(f"read tubes.json ({json_path.stat().st_size / 1e6:.0f} MB)", lambda: read_tubes_json(json_path, NUM_CLASSES))


if __name__ == "__main__":
    main()
