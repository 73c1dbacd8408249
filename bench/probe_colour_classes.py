"""How much of a prepared dataset's classification can colour statistics alone solve?

A benchmark on which a few labeled videos per class already give the class from the frames'
colours cannot reward more labels through classification: supervised-20 % and supervised-100 %
then differ only in localization. This probe measures that ceiling on any prepared dataset
(`ssvad prepare ...`): per video, the mean and standard deviation of each RGB channel and
8-bin histograms of each channel over up to 8 evenly spaced stored frames, standardised on the
training videos; a nearest-class-centroid classifier fitted on a seeded random `--fraction` of
the training videos and on all of them, scored on the test split. No learning, no network, a few
seconds per hundred videos.

Prints one line per figure: `colour nearest-centroid, <n> training videos (<f>): test accuracy
<a> % (chance <c> %)`.

Run: `.venv/bin/python bench/probe_colour_classes.py DATA_DIR [--fraction 0.2] [--seed 0]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FRAMES_PER_VIDEO = 8
BINS = 8


def colour_features(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> per-channel mean, std and 8-bin histograms (in [0, 1])."""
    pixels = frames.reshape(-1, 3).astype(np.float32) / 255.0
    hist = [np.histogram(pixels[:, c], BINS, (0.0, 1.0))[0] / len(pixels) for c in range(3)]
    return np.concatenate([pixels.mean(0), pixels.std(0), *hist])


def split_features(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Colour features and class indices of every video of `split`."""
    import tensorflow as tf

    from ssvad_keras.data.manifest import read_manifest
    from ssvad_keras.data.record_decoder import parse_video_record

    feats, labels = [], []
    for record in tf.data.TFRecordDataset(read_manifest(data_dir).shard_paths(split)):
        video = parse_video_record(record, with_masks=False)
        jpegs = video["frames"].numpy()
        picks = np.linspace(0, len(jpegs) - 1, min(FRAMES_PER_VIDEO, len(jpegs))).round().astype(int)
        frames = np.stack([tf.io.decode_jpeg(jpegs[i], channels=3).numpy() for i in picks])
        feats.append(colour_features(frames))
        labels.append(int(video["class_index"]))
    return np.asarray(feats), np.asarray(labels)


def nearest_centroid_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> float:
    """Test accuracy of the nearest class centroid (classes absent from training never win)."""
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mu) / sd, (test_x - mu) / sd
    classes = np.unique(train_y)
    centroids = np.stack([train_x[train_y == c].mean(0) for c in classes])
    distances = ((test_x[:, None] - centroids[None]) ** 2).sum(-1)
    return float(np.mean(classes[distances.argmin(1)] == test_y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a prepared dataset (holds dataset.json)")
    parser.add_argument("--fraction", type=float, default=0.2, help="share of training videos for the few-label fit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train_x, train_y = split_features(args.data, "train")
    test_x, test_y = split_features(args.data, "test")
    chance = 100.0 / len(np.unique(np.concatenate([train_y, test_y])))
    few = np.random.default_rng(args.seed).permutation(len(train_y))[: max(1, round(args.fraction * len(train_y)))]
    for name, idx in ((f"{args.fraction:g}", few), ("all", np.arange(len(train_y)))):
        acc = nearest_centroid_accuracy(train_x[idx], train_y[idx], test_x, test_y)
        print(
            f"colour nearest-centroid, {len(idx)} training videos ({name}): test accuracy {100 * acc:.1f} % "
            f"(chance {chance:.1f} %)",
            flush=True,
        )


if __name__ == "__main__":
    main()
