"""Labeled / unlabeled / validation splits of a converted dataset's training videos.

A split file `<data_dir>/splits/labeled-0.20-seed0.json` holds

    {"labeled_fraction": 0.2, "seed": 0, "val_fraction": 0.1,
     "labeled": [ids], "unlabeled": [ids], "val": [ids]}

The validation videos are held out of the training videos first (for checkpoint selection: the
test set never chooses checkpoints), then the rest is split labeled / unlabeled. Both steps are
stratified per class and deterministic for a seed, whatever order the videos come in.

A data-layer concept: the converters (`tfrecords_tools`) write split files through it, and
`ssvad train` and the VOS trainer make theirs with it, so nothing in `ssvad_keras` imports the
dataset tools.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssvad_keras.data import schema
from ssvad_keras.errors import ConfigError, DataError
from ssvad_keras.io import read_json, write_json_atomic


def split_path(data_dir: str | os.PathLike, labeled_fraction: float, seed: int) -> Path:
    """Where the split for `labeled_fraction` and `seed` lives.

    Example:
    >>> split_path("data/ucf", 0.2, 0).as_posix()
    'data/ucf/splits/labeled-0.20-seed0.json'
    """
    return Path(data_dir) / schema.SPLITS_DIR / f"labeled-{labeled_fraction:.2f}-seed{seed}.json"


def _allocate(sizes: list[int], fraction: float, minimum: list[int], rng: np.random.Generator) -> list[int]:
    """Per-group counts summing to about `fraction` of all, at least `minimum[g]` per group.

    Largest-remainder rounding (ties broken by `rng`) keeps the total as close to the requested
    fraction as the per-group minimums allow.
    """
    exact = [size * fraction for size in sizes]
    counts = [min(size, max(lo, int(np.floor(e)))) for size, lo, e in zip(sizes, minimum, exact, strict=True)]
    target = int(round(sum(sizes) * fraction))
    remainders = [e - np.floor(e) for e in exact]
    order = sorted(range(len(sizes)), key=lambda g: (-remainders[g], rng.random()))
    for group in order:
        if sum(counts) >= target:
            break
        if counts[group] < sizes[group]:
            counts[group] += 1
    return counts


def make_split(
    video_ids: list[str],
    labels: list[int],
    labeled_fraction: float,
    seed: int,
    val_fraction: float = 0.1,
) -> dict:
    """Split training videos into labeled, unlabeled and validation subsets, per class.

    First `val_fraction` of the videos is held out for validation (at least one per class when the
    class has two or more videos), then `labeled_fraction` of the remaining videos is labeled (at
    least one per class), the rest unlabeled. Videos with label -1 (no class) form one group.

    Args:
        video_ids: the training videos.
        labels: class index of each video (-1 for none).
        labeled_fraction: share of the non-validation videos that keep their labels, in (0, 1].
        seed: makes the split reproducible; the input order does not matter.
        val_fraction: share of the training videos held out for validation, in [0, 1).

    Returns:
        The split-file dict (ids sorted within each list).

    Example:
    >>> ids = [f"v{i}" for i in range(20)]
    >>> split = make_split(ids, [i % 2 for i in range(20)], 0.5, seed=0, val_fraction=0.1)
    >>> len(split["val"]), len(split["labeled"]), len(split["unlabeled"])
    (2, 9, 9)
    """
    if not 0.0 < labeled_fraction <= 1.0:
        raise ConfigError(f"labeled fraction must be in (0, 1], got {labeled_fraction}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"validation fraction must be in [0, 1), got {val_fraction}")
    if len(video_ids) != len(labels):
        raise ValueError("video_ids and labels differ in length")
    rng = np.random.default_rng(seed)
    groups: dict[int, list[str]] = {}
    for video_id, label in sorted(zip(video_ids, labels, strict=True)):
        groups.setdefault(int(label), []).append(video_id)
    classes = sorted(groups)
    # Shuffle each class once; validation takes the head, labeled the next part.
    shuffled = {c: [groups[c][i] for i in rng.permutation(len(groups[c]))] for c in classes}
    sizes = [len(shuffled[c]) for c in classes]
    val_min = [1 if val_fraction > 0 and size >= 2 else 0 for size in sizes]
    val_counts = _allocate(sizes, val_fraction, val_min, rng)
    # Never take a class's last video for validation: it must keep one labeled video.
    val_counts = [min(count, max(size - 1, 0)) for count, size in zip(val_counts, sizes, strict=True)]
    rest = [size - count for size, count in zip(sizes, val_counts, strict=True)]
    labeled_counts = _allocate(rest, labeled_fraction, [min(1, r) for r in rest], rng)
    val, labeled, unlabeled = [], [], []
    for c, n_val, n_lab in zip(classes, val_counts, labeled_counts, strict=True):
        videos = shuffled[c]
        val += videos[:n_val]
        labeled += videos[n_val : n_val + n_lab]
        unlabeled += videos[n_val + n_lab :]
    return {
        "labeled_fraction": labeled_fraction,
        "seed": seed,
        "val_fraction": val_fraction,
        "labeled": sorted(labeled),
        "unlabeled": sorted(unlabeled),
        "val": sorted(val),
    }


def write_split(
    data_dir: str | os.PathLike, labeled_fraction: float, seed: int, val_fraction: float = 0.1
) -> Path:
    """Make the split of `data_dir`'s training videos and write it atomically.

    Reads `dataset.json` (its `train` split) and writes `split_path(data_dir, labeled_fraction,
    seed)`. `ssvad train --labeled 0.2` calls this when the file is missing.

    Returns:
        The split file's path.

    Example:
    >>> path = write_split("data/synthetic", 0.2, seed=0)  # doctest: +SKIP
    """
    manifest_path = Path(data_dir) / schema.MANIFEST
    manifest = read_json(manifest_path)
    train = manifest.get("splits", {}).get("train") if isinstance(manifest, dict) else None
    if not train or "video_ids" not in train or "labels" not in train:
        raise DataError("manifest has no 'train' split with video_ids and labels", manifest_path)
    split = make_split(train["video_ids"], train["labels"], labeled_fraction, seed, val_fraction)
    path = split_path(data_dir, labeled_fraction, seed)
    write_json_atomic(path, split)
    return path
