"""The writer driver every converter ends in: sharded TFRecords, `dataset.json`, split files.

A converter describes each video as a small picklable `VideoSource` (paths and annotation, no
pixels). `write_dataset` loads and encodes them one at a time (or in `workers` processes, written
by the parent in order), so memory holds a few videos at the stored size, never the dataset. All
output goes to a temporary folder renamed onto `out` at the end: a failure leaves nothing behind,
and a complete output (its `dataset.json` exists) is left alone unless `overwrite`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import math
import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ssvad_keras import __version__
from ssvad_keras.data import schema
from ssvad_keras.data.splits import make_split, split_path, write_split
from ssvad_keras.errors import ConfigError, DataError
from ssvad_keras.io import atomic_path, read_json, write_json_atomic
from ssvad_keras.progress import progress_bar
from tfrecords_tools.record_encoder import (
    ShardWriter,
    VideoRecord,
    encode_video_record,
    sha256_file,
)

FORMAT_VERSION = 1
# Auto shard count: about this many videos per shard, at most MAX_AUTO_SHARDS shards per split.
VIDEOS_PER_SHARD = 64
MAX_AUTO_SHARDS = 16
JPEG_QUALITY = 90


class VideoSource(Protocol):
    """A picklable description of one video that can load it as a `VideoRecord`."""

    split: str
    video_id: str
    class_index: int

    def load(self, frame_size: tuple[int, int], strict: bool) -> tuple[VideoRecord, int]:
        """Return the record (frames at `frame_size`) and how many boxes were clipped."""
        ...


@dataclass
class SplitSummary:
    """What was written for one split."""

    videos: int
    frames: int
    shards: int


@dataclass
class ConversionSummary:
    """The outcome of one conversion, for the CLI's summary table.

    Attributes:
        out: the dataset folder.
        source: dataset name.
        splits: per split name, its counts.
        clipped_boxes: per video, how many boxes were clipped to the image.
        seconds: wall time of the conversion.
        already_complete: True when `out` was complete and nothing was converted.
        split_files: the split files written (or found) under `out/splits`.
    """

    out: Path
    source: str
    splits: dict[str, SplitSummary]
    clipped_boxes: dict[str, int]
    seconds: float
    already_complete: bool = False
    split_files: list[Path] = field(default_factory=list)

    @property
    def num_videos(self) -> int:
        return sum(s.videos for s in self.splits.values())

    @property
    def num_frames(self) -> int:
        return sum(s.frames for s in self.splits.values())


def is_complete(out: str | os.PathLike) -> bool:
    """Whether `out` holds a finished conversion (the manifest is written last, then renamed)."""
    return (Path(out) / schema.MANIFEST).is_file()


def _check_same_content(out: Path, options: dict, content_options: dict[str, Any]) -> None:
    """Raise `DataError` when the complete dataset in `out` was made with other content options."""
    path = out / schema.MANIFEST
    recorded = {**content_options, **read_json(path).get("options", {})}
    differing = [key for key in content_options if recorded.get(key) != options[key]]
    if differing:
        details = ", ".join(f"{key} {recorded.get(key)!r} (asked {options[key]!r})" for key in differing)
        raise DataError(
            f"holds a dataset converted with other settings: {details}; use another folder or --overwrite",
            path,
        )


def _summary_from_manifest(out: Path, seconds: float) -> ConversionSummary:
    manifest = read_json(out / schema.MANIFEST)
    splits = {
        name: SplitSummary(s["num_videos"], s["num_frames"], len(s["shards"]))
        for name, s in manifest["splits"].items()
    }
    return ConversionSummary(
        out, manifest["source"], splits, manifest.get("clipped_boxes", {}), seconds, True
    )


def _encode_source(
    source: VideoSource, frame_size: tuple[int, int], strict: bool
) -> tuple[bytes, int, int]:
    """Load and serialise one video: (bytes, number of frames, clipped boxes). Runs in workers."""
    record, clipped = source.load(frame_size, strict)
    return encode_video_record(record, frame_size, JPEG_QUALITY), record.num_frames, clipped


def _encoded_in_order(
    sources: Sequence[VideoSource],
    frame_size: tuple[int, int],
    strict: bool,
    pool: concurrent.futures.Executor | None,
    workers: int,
):
    """Yield `_encode_source` results in input order, at most 2 x workers videos in flight."""
    if pool is None:
        for source in sources:
            yield _encode_source(source, frame_size, strict)
        return
    pending: collections.deque = collections.deque()
    try:
        for source in sources:
            pending.append(pool.submit(_encode_source, source, frame_size, strict))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _worker_pool(workers: int) -> contextlib.AbstractContextManager:
    """A process pool for `workers` > 1 (one for the whole conversion), else no pool."""
    if workers <= 1:
        return contextlib.nullcontext(None)
    # "spawn": the parent has TensorFlow loaded, and forking a process with its threads is unsafe.
    context = multiprocessing.get_context("spawn")
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)


def _auto_shards(num_videos: int, shards: int | None) -> int:
    if shards is None:
        shards = min(MAX_AUTO_SHARDS, math.ceil(num_videos / VIDEOS_PER_SHARD))
    return max(1, min(shards, num_videos))


def write_dataset(
    out: str | os.PathLike,
    source: str,
    classes: list[str],
    videos: Sequence[VideoSource],
    frame_size: tuple[int, int],
    options: dict,
    *,
    strict: bool = False,
    workers: int = 1,
    shards: int | None = None,
    overwrite: bool = False,
    labeled: Sequence[float] = (0.2,),
    seed: int = 0,
    val_fraction: float = 0.1,
    extra_manifest: dict | None = None,
    extra_splits: dict[str, dict] | None = None,
    content_options: dict[str, Any] | None = None,
    progress: bool = True,
) -> ConversionSummary:
    """Convert `videos` into sharded TFRecords plus `dataset.json` and split files under `out`.

    Videos are written per split (in the order given) round-robin into that split's shards. The
    manifest records classes, per-split shards, counts, video ids and labels, every option used,
    SHA-256 checksums and the boxes clipped per video. For each fraction in `labeled`, the
    labeled/unlabeled/val split of the `train` videos is written to `splits/`.

    Args:
        out: the dataset folder to create.
        source: dataset name stored in the manifest and every record.
        classes: class names; `class_index` of each video indexes this list.
        videos: one `VideoSource` per video.
        frame_size: stored (height, width) of every frame.
        options: conversion options recorded in the manifest.
        strict: refuse boxes partly outside the image instead of clipping them.
        workers: processes that load and encode videos in parallel (1: in this process). They
            are spawned, so a script calling this with workers > 1 needs the usual
            `if __name__ == "__main__":` guard (the `ssvad` command has it).
        shards: shards per split; None picks about one per 64 videos.
        overwrite: replace an existing `out`; otherwise a complete `out` is left as it is and
            any other non-empty `out` is refused (it is not ours to delete).
        labeled: labeled fractions whose split files to write.
        seed: split seed.
        val_fraction: share of training videos held out for validation in each split file.
        extra_manifest: additional manifest keys (e.g. YouTube-VOS object categories).
        extra_splits: additional split files to write, file name -> content.
        content_options: the keys of `options` that decide the records' content (source,
            sizes, seeds of generated data), each mapped to the value a manifest written before
            the key existed implied. A complete `out` whose recorded values differ is refused
            instead of being kept: a rerun that asks for other data must not silently get the
            old data. Options that only affect split files (`labeled`, `val_fraction`) or
            sharding are not content.
        progress: show a progress bar.

    Returns:
        A `ConversionSummary`.

    Raises:
        DataError: from the converters' sources, or a complete `out` with other content
            options; `out` is then left untouched.
    """
    out = Path(out)
    start = time.perf_counter()
    if len(frame_size) != 2 or min(frame_size) < 1:
        raise ConfigError(f"frame size must be two positive integers (H W), got {list(frame_size)}")
    if is_complete(out) and not overwrite:
        _check_same_content(out, options, content_options or {})
        summary = _summary_from_manifest(out, time.perf_counter() - start)
        summary.split_files = [_ensure_split(out, f, seed, val_fraction) for f in labeled]
        summary.split_files += [out / schema.SPLITS_DIR / name for name in extra_splits or {}]
        return summary
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise DataError(
            "output exists but is not a complete converted dataset (no dataset.json); "
            "use --overwrite to replace it",
            out,
        )
    options = {**options, "jpeg_quality": JPEG_QUALITY}
    # Validate split options before converting anything.
    for fraction in labeled:
        make_split(["probe"], [0], fraction, seed, val_fraction)
    by_split: dict[str, list[VideoSource]] = {}
    for video in videos:
        by_split.setdefault(video.split, []).append(video)
    clipped: dict[str, int] = {}
    manifest_splits: dict[str, dict] = {}
    with (
        atomic_path(out, directory=True) as tmp,
        _worker_pool(workers) as pool,
        progress_bar(progress) as bar,
    ):
        task = bar.add_task(f"prepare {source}", total=len(videos), info="")
        for split_name, split_videos in by_split.items():
            num_shards = _auto_shards(len(split_videos), shards)
            with ShardWriter(tmp, split_name, num_shards) as writer:
                encoded = _encoded_in_order(split_videos, frame_size, strict, pool, workers)
                for video, (serialized, num_frames, num_clipped) in zip(split_videos, encoded, strict=True):
                    writer.write(serialized, video.video_id, num_frames)
                    if num_clipped:
                        clipped[video.video_id] = num_clipped
                    bar.update(task, advance=1, info=video.video_id)
            manifest_splits[split_name] = {
                "shards": writer.names,
                "num_videos": writer.num_videos,
                "num_frames": writer.num_frames,
                "video_ids": writer.video_ids,
                "labels": [v.class_index for v in split_videos],
            }
        checksums = {
            name: sha256_file(tmp / name) for s in manifest_splits.values() for name in s["shards"]
        }
        manifest = {
            "format_version": FORMAT_VERSION,
            "source": source,
            "classes": list(classes),
            "frame_size": [int(frame_size[0]), int(frame_size[1])],
            "splits": manifest_splits,
            "options": options,
            "checksums": checksums,
            "clipped_boxes": clipped,
            "created_by": f"ssvad-keras {__version__}",
            **(extra_manifest or {}),
        }
        split_files = []
        train = manifest_splits.get("train")
        for fraction in labeled if train else ():
            content = make_split(train["video_ids"], train["labels"], fraction, seed, val_fraction)
            path = split_path(tmp, fraction, seed)
            write_json_atomic(path, content)
            split_files.append(split_path(out, fraction, seed))
        for name, content in (extra_splits or {}).items():
            write_json_atomic(tmp / schema.SPLITS_DIR / name, content)
            split_files.append(out / schema.SPLITS_DIR / name)
        # The manifest goes last: its presence marks the folder complete.
        write_json_atomic(tmp / schema.MANIFEST, manifest)
        _apply_umask(tmp)
    splits = {
        name: SplitSummary(s["num_videos"], s["num_frames"], len(s["shards"]))
        for name, s in manifest_splits.items()
    }
    return ConversionSummary(
        out, source, splits, clipped, time.perf_counter() - start, False, split_files
    )


def _apply_umask(folder: Path) -> None:
    """Give the finished folder ordinary permissions (temporary files are created private)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def _ensure_split(out: Path, fraction: float, seed: int, val_fraction: float) -> Path:
    path = split_path(out, fraction, seed)
    if path.is_file():
        return path
    return write_split(out, fraction, seed, val_fraction)
