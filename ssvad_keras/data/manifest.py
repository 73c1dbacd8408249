"""Typed views of a prepared dataset's `dataset.json` manifest and its split files.

`ssvad prepare` writes `<data_dir>/dataset.json` (classes, shards and video ids per split) and
`<data_dir>/splits/labeled-<fraction>-seed<seed>.json` (which training videos are labeled,
unlabeled or held out for validation). Every problem with these files is reported as one
`DataError` line naming the file.

    manifest = read_manifest("data/ucf101-24")
    split = read_split("data/ucf101-24/splits/labeled-0.20-seed0.json", manifest)  # a dict
    manifest.shard_paths("train")
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssvad_keras.data import schema
from ssvad_keras.errors import DataError
from ssvad_keras.io import check_local_path, read_json

_MANIFEST_KEYS = ("format_version", "classes", "splits")
_SPLIT_KEYS = ("shards", "num_videos", "video_ids")
_SPLIT_FILE_KEYS = ("labeled", "unlabeled", "val")


@dataclass(frozen=True)
class SplitInfo:
    """One split of the manifest (e.g. "train" or "test").

    Attributes:
        name: split name.
        shards: absolute paths of its TFRecord shards.
        num_videos: number of videos in the shards.
        num_frames: number of stored frames over all its videos.
        video_ids: ids in manifest order; `video_index` in the pipeline is a position here.
        labels: class index of each video (same order), -1 for videos without a class.
    """

    name: str
    shards: tuple[Path, ...]
    num_videos: int
    num_frames: int
    video_ids: tuple[str, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True)
class Manifest:
    """The `dataset.json` of a prepared dataset.

    Attributes:
        path: the manifest file.
        data_dir: folder holding the manifest, the shards and `splits/`.
        source: dataset name ("ucf101-24", "jhmdb-21", "youtube-vos", "synthetic").
        classes: class names; a video's class index points here.
        frame_size: stored frame size (height, width), or None when frames keep their size.
        splits: split name -> `SplitInfo`.
    """

    path: Path
    data_dir: Path
    source: str
    classes: tuple[str, ...]
    frame_size: tuple[int, int] | None
    splits: dict[str, SplitInfo]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> SplitInfo:
        """The split called `name`; an unknown name raises `DataError`."""
        if name not in self.splits:
            known = ", ".join(sorted(self.splits))
            raise DataError(f"no split {name!r} in the manifest (has: {known})", self.path)
        return self.splits[name]

    def shard_paths(self, name: str) -> list[str]:
        """Shard files of split `name`, as strings for `tf.data.TFRecordDataset`."""
        return [str(p) for p in self.split(name).shards]

    def locate(self, video_ids: Sequence[str]) -> list[str]:
        """Names of the splits holding `video_ids`; an id in no split raises `DataError`."""
        owner = {vid: name for name, info in self.splits.items() for vid in info.video_ids}
        missing = [vid for vid in video_ids if vid not in owner]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DataError(f"unknown video id {missing[0]!r}{more}", self.path)
        return sorted({owner[vid] for vid in video_ids})


def _require(payload: Any, keys: Sequence[str], where: str, path: Path) -> None:
    if not isinstance(payload, dict):
        raise DataError(f"{where} must be a JSON object", path)
    for key in keys:
        if key not in payload:
            raise DataError(f"{where} is missing key {key!r}", path)


def read_manifest(data_dir: str | os.PathLike) -> Manifest:
    """Read `<data_dir>/dataset.json` into a `Manifest`.

    Checks that the file exists, is valid JSON, carries the required keys, and that every shard
    it lists exists next to it.

    Args:
        data_dir: folder written by `ssvad prepare`.

    Returns:
        The manifest, with shard paths made absolute.

    Raises:
        DataError: one line naming the manifest and the problem.

    Example:
    >>> manifest = read_manifest("data/synthetic")  # doctest: +SKIP
    >>> manifest.num_classes, manifest.split("train").num_videos  # doctest: +SKIP
    (5, 80)
    """
    data_dir = check_local_path(data_dir, "the data directory")
    path = data_dir / schema.MANIFEST
    if not data_dir.is_dir():
        raise DataError("dataset folder not found", data_dir)
    raw = read_json(path)
    _require(raw, _MANIFEST_KEYS, "manifest", path)
    if raw["format_version"] != 1:
        raise DataError(f"unsupported format_version {raw['format_version']!r} (expected 1)", path)
    classes = raw["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise DataError("classes must be a list of names", path)
    frame_size = raw.get("frame_size")
    if frame_size is not None:
        if not (isinstance(frame_size, list) and len(frame_size) == 2):
            raise DataError("frame_size must be [height, width]", path)
        frame_size = (int(frame_size[0]), int(frame_size[1]))
    if not isinstance(raw["splits"], dict) or not raw["splits"]:
        raise DataError("splits must be a non-empty object", path)
    splits = {}
    for name, entry in raw["splits"].items():
        _require(entry, _SPLIT_KEYS, f"splits.{name}", path)
        shards = tuple(data_dir / shard for shard in entry["shards"])
        for shard in shards:
            if not shard.is_file():
                raise DataError(f"splits.{name}: shard {shard.name} not found", path)
        video_ids = tuple(str(v) for v in entry["video_ids"])
        labels = tuple(int(v) for v in entry.get("labels", [-1] * len(video_ids)))
        if len(video_ids) != int(entry["num_videos"]) or len(labels) != len(video_ids):
            raise DataError(
                f"splits.{name}: num_videos {entry['num_videos']} does not match "
                f"{len(video_ids)} video_ids / {len(labels)} labels",
                path,
            )
        splits[name] = SplitInfo(
            name=name,
            shards=shards,
            num_videos=len(video_ids),
            num_frames=int(entry.get("num_frames", 0)),
            video_ids=video_ids,
            labels=labels,
        )
    return Manifest(
        path=path,
        data_dir=data_dir,
        source=str(raw.get("source", "")),
        classes=tuple(classes),
        frame_size=frame_size,
        splits=splits,
    )


def resolve_split_path(data_dir: str | os.PathLike, split: str | os.PathLike) -> Path:
    """Find a split file given as a path or as a name inside `<data_dir>/splits/`.

    `"labeled-0.20-seed0"`, `"labeled-0.20-seed0.json"` and a full path all name the same file.
    """
    path = Path(split)
    if path.is_file():
        return path
    name = path.name if path.suffix == ".json" else f"{path.name}.json"
    candidate = Path(data_dir) / schema.SPLITS_DIR / name
    return candidate if candidate.is_file() else path


def read_split(path: str | os.PathLike, manifest: Manifest | None = None) -> dict[str, Any]:
    """Read a labeled/unlabeled/validation split file.

    Args:
        path: the split JSON written by `ssvad prepare --labeled`.
        manifest: when given, every id must be one of its training videos.

    Returns:
        The split as a plain (JSON-ready) dict: "labeled", "unlabeled", "val" (lists of video
        ids; "val" is disjoint from the others), "labeled_fraction", "seed", "val_fraction".

    Raises:
        DataError: the file is missing or not JSON, a key is missing, an id is unknown, or the
            validation videos overlap the labeled/unlabeled ones.

    Example:
    >>> split = read_split("data/synthetic/splits/labeled-0.20-seed0.json")  # doctest: +SKIP
    >>> len(split["labeled"]), len(split["unlabeled"]), len(split["val"])  # doctest: +SKIP
    (14, 58, 8)
    """
    path = Path(path)
    raw = read_json(path)
    _require(raw, _SPLIT_FILE_KEYS, "split file", path)
    return check_split(raw, path, manifest)


def check_split(
    raw: Mapping[str, Any], path: str | os.PathLike, manifest: Manifest | None = None
) -> dict[str, Any]:
    """Validate a split mapping (see `read_split`); `path` names it in errors."""
    parts = {}
    for key in _SPLIT_FILE_KEYS:
        ids = raw.get(key)
        if not isinstance(ids, (list, tuple)) or not all(isinstance(v, str) for v in ids):
            raise DataError(f"{key} must be a list of video ids", path)
        parts[key] = list(ids)
    overlap = set(parts["val"]) & (set(parts["labeled"]) | set(parts["unlabeled"]))
    if overlap:
        raise DataError(f"val overlaps the training videos ({sorted(overlap)[0]!r})", path)
    both = set(parts["labeled"]) & set(parts["unlabeled"])
    if both:
        raise DataError(f"video {sorted(both)[0]!r} is both labeled and unlabeled", path)
    if manifest is not None:
        known = set(manifest.split("train").video_ids)
        for key in _SPLIT_FILE_KEYS:
            unknown = [vid for vid in parts[key] if vid not in known]
            if unknown:
                raise DataError(f"{key}: unknown training video id {unknown[0]!r}", path)
    return {
        "labeled_fraction": float(raw.get("labeled_fraction", 0.0)),
        "seed": int(raw.get("seed", 0)),
        "val_fraction": float(raw.get("val_fraction", 0.0)),
        **parts,
    }
