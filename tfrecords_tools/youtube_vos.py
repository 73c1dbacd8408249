"""YouTube-VOS (2018/2019 layout) -> canonical records (`ssvad prepare youtube-vos`).

    <root>/train/meta.json                   {"videos": {vid: {"objects": {"1": {"category": ..}}}}}
    <root>/train/JPEGImages/<vid>/<frame>.jpg
    <root>/train/Annotations/<vid>/<frame>.png   (8-bit palette PNG: 0 background, ids 1..k)
    <root>/valid/...                         (same layout; only first-frame masks)

Masks are read with Pillow as palette indices (OpenCV would turn them into colours and lose the
ids). A frame is `annotated` when its PNG exists (every 5th frame in the full-frame release).
Videos have no action class (-1); the manifest lists the object categories as `classes` and maps
each video's object ids to categories under `objects`, so J&F can be split seen/unseen later.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ssvad_keras.errors import DataError
from ssvad_keras.io import read_json
from tfrecords_tools.common import (
    read_image_rgb,
    require_dir,
    require_file,
    resize_frame,
    resize_mask,
)
from tfrecords_tools.record_encoder import VideoRecord
from tfrecords_tools.writer import ConversionSummary, write_dataset

SOURCE = "youtube-vos"
SPLITS = ("train", "valid")
# YouTube-VOS frames are 720x1280 (16:9); this keeps the aspect ratio at a trainable size.
DEFAULT_FRAME_SIZE = (256, 448)


def read_palette_mask(path: Path) -> np.ndarray:
    """Read a palette PNG as its indices (object ids), not colours.

    Raises:
        DataError: unreadable, or not a single-channel (palette or grey) image.
    """
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise DataError(f"annotation is a {image.mode} image, expected a palette PNG", path)
            return np.array(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"cannot decode annotation PNG ({err})", path) from None


@dataclass(frozen=True)
class VosVideoSource:
    """One YouTube-VOS video: all JPEG frames, palette masks where annotated."""

    split: str
    video_id: str
    split_dir: Path
    class_index: int = -1

    def load(self, frame_size: tuple[int, int], strict: bool) -> tuple[VideoRecord, int]:
        image_dir = require_dir(self.split_dir / "JPEGImages" / self.video_id, "frame folder")
        mask_dir = self.split_dir / "Annotations" / self.video_id
        frame_paths = sorted(image_dir.glob("*.jpg"))
        if not frame_paths:
            raise DataError("frame folder holds no .jpg frames", image_dir)
        mask_paths = {p.stem: p for p in mask_dir.glob("*.png")} if mask_dir.is_dir() else {}
        frame_stems = {p.stem for p in frame_paths}
        orphans = sorted(set(mask_paths) - frame_stems)
        if orphans:
            raise DataError(
                f"{len(orphans)} annotation(s) have no frame image (first: {orphans[0]}.png); "
                f"the masks do not match the {len(frame_paths)} frames",
                mask_dir,
            )
        frames, masks, annotated, orig = [], [], [], None
        for frame_path in frame_paths:
            frame = read_image_rgb(frame_path)
            orig = orig or frame.shape[:2]
            frames.append(resize_frame(frame, frame_size))
            mask_path = mask_paths.get(frame_path.stem)
            if mask_path is None:
                masks.append(None)
                annotated.append(False)
                continue
            mask = read_palette_mask(mask_path)
            if mask.shape[:2] != frame.shape[:2]:
                raise DataError(
                    f"mask is {mask.shape[0]}x{mask.shape[1]} but its frame is "
                    f"{frame.shape[0]}x{frame.shape[1]}",
                    mask_path,
                )
            masks.append(resize_mask(mask, frame_size))
            annotated.append(True)
        record = VideoRecord(
            self.video_id, -1, frames, annotated, masks=masks, source=SOURCE, orig_size=orig
        )
        return record, 0


def read_meta(path: Path) -> dict[str, dict[str, str]]:
    """Read `meta.json`: per video, its object ids -> category names.

    Raises:
        DataError: missing file, invalid JSON, or not the YouTube-VOS structure.
    """
    meta = read_json(require_file(path, "meta.json"))
    videos = meta.get("videos") if isinstance(meta, dict) else None
    if not isinstance(videos, dict):
        raise DataError("expected {\"videos\": {video_id: {\"objects\": ...}}}", path)
    objects = {}
    for video_id, entry in sorted(videos.items()):
        entry_objects = entry.get("objects") if isinstance(entry, dict) else None
        if not isinstance(entry_objects, dict):
            raise DataError(f"video {video_id!r} has no 'objects' dict", path)
        try:
            objects[video_id] = {str(k): str(v["category"]) for k, v in entry_objects.items()}
        except (TypeError, KeyError):
            raise DataError(f"video {video_id!r}: every object needs a 'category'", path) from None
    return objects


def convert_youtube_vos(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    workers: int = 1,
    shards: int | None = None,
    overwrite: bool = False,
    labeled: Sequence[float] = (0.1,),
    seed: int = 0,
    val_fraction: float = 0.1,
    progress: bool = True,
) -> ConversionSummary:
    """Convert YouTube-VOS under `root` (its `train/` and, if present, `valid/`) into TFRecords.

    Each split folder becomes a split of the same name in the manifest. The paper labels 10% of
    the training videos, hence the default `labeled`.

    Args:
        root: folder holding `train/` (required) and `valid/`.
        out: dataset folder to create (see `write_dataset`).
        frame_size: stored (height, width).
        workers, shards, overwrite, labeled, seed, val_fraction, progress: see `write_dataset`.

    Returns:
        A `ConversionSummary`.

    Example:
    >>> convert_youtube_vos("data/ytvos", "data/ytvos-tfr")  # doctest: +SKIP
    """
    root, out = Path(root), Path(out)
    require_dir(root, "dataset root")
    require_dir(root / "train", "train/ folder")
    sources, objects, categories = [], {}, set()
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        split_objects = read_meta(split_dir / "meta.json")
        for video_id in split_objects:
            require_dir(split_dir / "JPEGImages" / video_id, "frame folder")
            sources.append(VosVideoSource(split, video_id, split_dir))
        objects.update(split_objects)
        categories.update(c for video in split_objects.values() for c in video.values())
    options = {
        "root": str(root.resolve()),
        "frame_size": list(frame_size),
        "shards": shards,
        "labeled": list(labeled),
        "seed": seed,
        "val_fraction": val_fraction,
    }
    return write_dataset(
        out, SOURCE, sorted(categories), sources, frame_size, options,
        workers=workers, shards=shards, overwrite=overwrite, labeled=labeled, seed=seed,
        val_fraction=val_fraction, extra_manifest={"objects": objects}, progress=progress,
        content_options={"frame_size": None},
    )
