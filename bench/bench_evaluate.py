"""`ssvad evaluate` throughput on this machine, and the share of its time spent in the metrics.

For each preset, an untrained detector built from the preset is saved as `.keras` and evaluated
on a small generated synthetic test split (both protocols, exactly what `ssvad evaluate
--checkpoint model.keras --data DIR` runs: `evaluate_checkpoint`). Frames are generated at the
preset's input size, so the evaluation crop is a no-op. Prints one line per figure:

- throughput: test frames per second of wall time (decoding, forward passes, metrics and the
  ACT detection files; the first batch's graph tracing included, as a user sees it);
- metric share: `EvaluationResult.metric_seconds / seconds`, the time in the paper-protocol
  accumulator, the mask-to-box conversion and the ACT scoring (must stay under 5%).

Run: `.venv/bin/python bench/bench_evaluate.py [--presets tiny paper] [--test-videos 8 2]`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ssvad_keras.config import load_config
from ssvad_keras.data import read_manifest
from ssvad_keras.inference.evaluate import evaluate_checkpoint
from ssvad_keras.models import build_detector
from tfrecords_tools.synthetic import generate_synthetic

# The synthetic benchmark needs one training video per class; none of them is evaluated.
TRAIN_VIDEOS = 5
METRIC_SHARE_LIMIT = 0.05


def bench_preset(preset: str, test_videos: int, workdir: Path) -> None:
    config = load_config(preset=preset)
    size = tuple(config.data.input_size)
    data = workdir / f"synthetic-{preset}"
    generate_synthetic(data, seed=0, num_train=TRAIN_VIDEOS, num_test=test_videos, frame_size=size, progress=False)
    detector = build_detector(preset=preset, num_classes=read_manifest(data).num_classes, seed=0)
    model_path = workdir / f"{preset}.keras"
    detector.save(model_path)
    del detector
    result = evaluate_checkpoint(model_path, data, split="test", protocol="both", progress=False,
                                 out_dir=workdir / f"eval-{preset}")
    clip = f"{config.data.clip_length}x{size[0]}x{size[1]}"
    fps = result.frames / result.seconds
    share = result.metric_seconds / result.seconds
    verdict = "under" if share < METRIC_SHARE_LIMIT else "OVER"
    print(f"{preset}: evaluate throughput {fps:.1f} frames/s ({result.frames} frames of {test_videos} "
          f"videos, {clip} clips at batch {config.eval.batch_size}, {result.seconds:.1f} s)", flush=True)
    print(f"{preset}: metric share {share:.2%} ({result.metric_seconds:.3f} s of {result.seconds:.1f} s; "
          f"{verdict} the {METRIC_SHARE_LIMIT:.0%} limit)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "paper"])
    parser.add_argument("--test-videos", nargs="+", type=int, default=[8, 2],
                        help="test videos per preset, in the order of --presets (32-48 frames each)")
    args = parser.parse_args()
    if len(args.test_videos) != len(args.presets):
        parser.error("give one --test-videos count per preset")
    with tempfile.TemporaryDirectory() as tmp:
        for preset, videos in zip(args.presets, args.test_videos, strict=True):
            bench_preset(preset, videos, Path(tmp))


if __name__ == "__main__":
    main()
