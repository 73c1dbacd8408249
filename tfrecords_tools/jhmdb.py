"""JHMDB-21 -> canonical records (`ssvad prepare jhmdb-21`).

    <root>/JHMDB-GT.pkl
    <root>/Frames/<Class>/<video>/00001.png ...
    <root>/puppet_mask/<Class>/<video>/puppet_mask.mat    (`part_mask`, uint8 H x W x T, 1 on the actor)

JHMDB is trimmed: the actor's tube spans the whole video. Records carry both the GT boxes and the
puppet masks (the paper's localization ground truth), actor = object id 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from ssvad_keras.errors import DataError
from ssvad_keras.evaluation.act_io import ActVideo
from tfrecords_tools.act import load_act_annotation
from tfrecords_tools.common import (
    read_frame_folder,
    require_dir,
    require_file,
    resize_mask,
    tubes_to_frames,
)
from tfrecords_tools.record_encoder import VideoRecord
from tfrecords_tools.writer import ConversionSummary, write_dataset

SOURCE = "jhmdb-21"
ANNOTATION_FILE = "JHMDB-GT.pkl"
FRAME_PATTERN = "%05d.png"
MASK_FILE = "puppet_mask.mat"
MASK_KEY = "part_mask"
DEFAULT_FRAME_SIZE = (240, 320)


def read_puppet_mask(path: Path, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """Read `part_mask` (H, W, T) from a puppet-mask .mat file and check it against the video.

    Raises:
        DataError: the file is missing or unreadable, lacks `part_mask`, or its size or number
            of frames differs from the video's.
    """
    require_file(path, "puppet mask")
    try:
        # MATLAB v7.3 files are HDF5 containers that scipy cannot read: say so plainly.
        if scipy.io.matlab.matfile_version(str(path))[0] == 2:
            raise DataError("MATLAB v7.3 (HDF5) .mat files are not supported; re-save with -v7", path)
        contents = scipy.io.loadmat(str(path))
    except (ValueError, OSError, TypeError) as err:
        raise DataError(f"cannot read .mat file ({err})", path) from None
    if MASK_KEY not in contents:
        raise DataError(f"no variable '{MASK_KEY}'", path)
    mask = np.asarray(contents[MASK_KEY])
    if mask.ndim == 2:
        mask = mask[:, :, None]
    if mask.ndim != 3:
        raise DataError(f"'{MASK_KEY}' must be H x W x T, got shape {mask.shape}", path)
    if mask.shape[2] != num_frames:
        raise DataError(
            f"mask has {mask.shape[2]} frames but the video has {num_frames} (nframes)", path
        )
    if tuple(mask.shape[:2]) != tuple(size):
        raise DataError(
            f"mask is {mask.shape[0]}x{mask.shape[1]} but the frames are {size[0]}x{size[1]}", path
        )
    return mask


@dataclass(frozen=True)
class JhmdbVideoSource:
    """One JHMDB-21 video: PNG frames, GT boxes and the puppet mask."""

    split: str
    video: ActVideo
    root: Path
    annotation_path: Path

    @property
    def video_id(self) -> str:
        return self.video.video_id

    @property
    def class_index(self) -> int:
        return self.video.class_index

    def load(self, frame_size: tuple[int, int], strict: bool) -> tuple[VideoRecord, int]:
        num_frames = self.video.num_frames
        folder = self.root / "Frames" / self.video_id
        require_dir(folder, f"frame folder of video {self.video_id!r}")
        frames, orig = read_frame_folder(folder, num_frames, FRAME_PATTERN, frame_size)
        size = self.video.resolution or orig
        boxes, tube_ids, annotated, clipped = tubes_to_frames(
            self.video.tube_list(), num_frames, size, strict, self.video_id, self.annotation_path
        )
        part_mask = read_puppet_mask(self.root / "puppet_mask" / self.video_id / MASK_FILE, num_frames, orig)
        masks = [resize_mask(part_mask[:, :, t] > 0, frame_size) for t in range(num_frames)]
        record = VideoRecord(
            self.video_id, self.class_index, frames, annotated, boxes, tube_ids, masks,
            source=SOURCE, orig_size=size,
        )
        return record, clipped


def convert_jhmdb_21(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split: int = 1,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    strict: bool = False,
    workers: int = 1,
    shards: int | None = None,
    overwrite: bool = False,
    labeled: Sequence[float] = (0.3,),
    seed: int = 0,
    val_fraction: float = 0.1,
    progress: bool = True,
) -> ConversionSummary:
    """Convert JHMDB-21 split `split` (1, 2 or 3) under `root` into TFRecords under `out`.

    Args:
        root: folder holding `JHMDB-GT.pkl`, `Frames/` and `puppet_mask/`.
        out: dataset folder to create (see `write_dataset`).
        split: which of the three official splits.
        frame_size: stored (height, width).
        strict: refuse boxes partly outside the image instead of clipping them.
        workers, shards, overwrite, labeled, seed, val_fraction, progress: see `write_dataset`.
            The paper labels 30% of JHMDB's training videos, hence the default.

    Returns:
        A `ConversionSummary`.

    Example:
    >>> convert_jhmdb_21("data/jhmdb", "data/jhmdb-s1", split=1)  # doctest: +SKIP
    """
    if split not in (1, 2, 3):
        raise DataError(f"--split must be 1, 2 or 3, got {split}")
    root, out = Path(root), Path(out)
    require_dir(root, "dataset root")
    annotation = load_act_annotation(require_file(root / ANNOTATION_FILE, "annotation file"), split)
    sources = [JhmdbVideoSource("train", v, root, annotation.path) for v in annotation.train]
    sources += [JhmdbVideoSource("test", v, root, annotation.path) for v in annotation.test]
    options = {
        "root": str(root.resolve()),
        "split": split,
        "frame_size": list(frame_size),
        "strict": strict,
        "shards": shards,
        "labeled": list(labeled),
        "seed": seed,
        "val_fraction": val_fraction,
    }
    return write_dataset(
        out, SOURCE, annotation.classes, sources, frame_size, options,
        strict=strict, workers=workers, shards=shards, overwrite=overwrite, labeled=labeled,
        seed=seed, val_fraction=val_fraction, progress=progress,
        content_options={"frame_size": None, "split": None, "strict": None},
    )
