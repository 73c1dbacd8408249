"""UCF101-24 in the ACT layout -> canonical records (`ssvad prepare ucf101-24`).

    <root>/UCF101v2-GT.pkl
    <root>/rgb-images/<Class>/<video>/00001.jpg ...      (frames, 1-based)  or
    <root>/videos/<Class>/<video>.avi|.mp4               (decoded with OpenCV)

Boxes come from the GT tubes (pixels at the annotation's resolution, 320x240); a video with
several tubes gets their union per frame, told apart by `box_tube_ids`; `annotated[t]` is true
when any tube covers frame t (UCF101-24 is untrimmed). The paper's released split pickles can be
given to keep its exact labeled/unlabeled split (`splits/labeled-from-file.json`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ssvad_keras.data.splits import make_split
from ssvad_keras.errors import DataError
from ssvad_keras.evaluation.act_io import ActVideo
from ssvad_keras.io import load_pickle_restricted
from tfrecords_tools.act import load_act_annotation
from tfrecords_tools.common import (
    decode_video,
    read_frame_folder,
    require_dir,
    require_file,
    tubes_to_frames,
)
from tfrecords_tools.record_encoder import VideoRecord
from tfrecords_tools.writer import ConversionSummary, write_dataset

SOURCE = "ucf101-24"
ANNOTATION_FILE = "UCF101v2-GT.pkl"
FRAME_PATTERN = "%05d.jpg"
VIDEO_SUFFIXES = (".avi", ".mp4")
DEFAULT_FRAME_SIZE = (240, 320)
RELEASED_SPLIT_FILE = "labeled-from-file.json"


def locate_frames(root: Path, video_id: str) -> Path:
    """The frame folder `rgb-images/<video>` if present, else the video file `videos/<video>.*`."""
    folder = root / "rgb-images" / video_id
    if folder.is_dir():
        return folder
    for suffix in VIDEO_SUFFIXES:
        path = root / "videos" / f"{video_id}{suffix}"
        if path.is_file():
            return path
    raise DataError(
        f"no frames for video {video_id!r}: neither this folder nor videos/{video_id}.avi|.mp4",
        folder,
    )


@dataclass(frozen=True)
class ActVideoSource:
    """One ACT-annotated video (UCF101-24 layout): frames from a folder or a video file."""

    split: str
    video: ActVideo
    root: Path
    annotation_path: Path
    source: str = SOURCE

    @property
    def video_id(self) -> str:
        return self.video.video_id

    @property
    def class_index(self) -> int:
        return self.video.class_index

    def load(self, frame_size: tuple[int, int], strict: bool) -> tuple[VideoRecord, int]:
        location = locate_frames(self.root, self.video_id)
        if location.is_dir():
            frames, orig = read_frame_folder(location, self.video.num_frames, FRAME_PATTERN, frame_size)
        else:
            frames, orig = decode_video(location, self.video.num_frames, frame_size)
        # Boxes are pixels at the annotation's resolution, whatever the files' own size.
        size = self.video.resolution or orig
        boxes, tube_ids, annotated, clipped = tubes_to_frames(
            self.video.tube_list(), self.video.num_frames, size, strict, self.video_id,
            self.annotation_path,
        )
        record = VideoRecord(
            self.video_id, self.class_index, frames, annotated, boxes, tube_ids,
            source=self.source, orig_size=size,
        )
        return record, clipped


def read_released_splits(
    paths: Sequence[Path],
    train: Sequence[ActVideo],
    seed: int,
    val_fraction: float,
    annotation_path: Path,
) -> dict:
    """A split file from the paper's released split pickles (e.g. `train_annots_20_labeled.pkl`).

    Each pickle is a list of `(video_name, tubes)`, tube = `[start_frame, end_frame, class_index,
    boxes, annotated_key_frames, labeled_flag]`. A video is labeled when any of its tubes carries
    the labeled flag. Training videos that no file names are unlabeled. The labeled set is kept
    exactly; the validation videos (`val_fraction`, stratified) come out of the unlabeled ones, so
    `val_fraction=0` reproduces the released split exactly. Tube contents are not used: boxes come
    from the GT pickle.
    """
    labels = {video.video_id: video.class_index for video in train}
    labeled: set[str] = set()
    for path in paths:
        entries = load_pickle_restricted(require_file(Path(path), "split file"))
        if not isinstance(entries, (list, tuple)):
            raise DataError(f"expected a list of (video, tubes), found {type(entries).__name__}", path)
        for index, entry in enumerate(entries):
            if not isinstance(entry, (list, tuple)) or len(entry) != 2 or not isinstance(entry[0], str):
                raise DataError(f"entry {index} is not a (video_name, tubes) pair", path)
            name, tubes = entry
            if name not in labels:
                raise DataError(
                    f"video {name!r} is not a training video of {annotation_path.name}", path
                )
            if not isinstance(tubes, (list, tuple)) or any(
                not isinstance(t, (list, tuple)) or len(t) < 6 for t in tubes
            ):
                raise DataError(
                    f"video {name!r}: tubes must be [start, end, class, boxes, key_frames, "
                    "labeled_flag] lists",
                    path,
                )
            if any(bool(t[5]) for t in tubes):
                labeled.add(name)
    if not labeled:
        raise DataError("no video is marked labeled in the split file(s)", paths[0])
    unlabeled = sorted(set(labels) - labeled)
    held_out = []
    if unlabeled and val_fraction > 0:
        rest = make_split(unlabeled, [labels[v] for v in unlabeled], 1.0, seed, val_fraction)
        held_out, unlabeled = rest["val"], rest["labeled"]
    return {
        "labeled_fraction": round(len(labeled) / len(labels), 4),
        "seed": seed,
        "val_fraction": val_fraction,
        "labeled": sorted(labeled),
        "unlabeled": unlabeled,
        "val": held_out,
        "source_files": [Path(p).name for p in paths],
    }


def convert_ucf101_24(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    split_files: Sequence[str | os.PathLike] = (),
    strict: bool = False,
    workers: int = 1,
    shards: int | None = None,
    overwrite: bool = False,
    labeled: Sequence[float] = (0.2,),
    seed: int = 0,
    val_fraction: float = 0.1,
    progress: bool = True,
) -> ConversionSummary:
    """Convert UCF101-24 (ACT layout) under `root` into TFRecords under `out`.

    Args:
        root: folder holding `UCF101v2-GT.pkl` and `rgb-images/` or `videos/`.
        out: dataset folder to create (see `write_dataset`).
        frame_size: stored (height, width).
        split_files: the paper's released split pickles; written as `splits/labeled-from-file.json`.
        strict: refuse boxes partly outside the image instead of clipping them.
        workers, shards, overwrite, labeled, seed, val_fraction, progress: see `write_dataset`.

    Returns:
        A `ConversionSummary`.

    Example:
    >>> convert_ucf101_24("data/ucf101", "data/ucf101-tfr", labeled=[0.2])  # doctest: +SKIP
    """
    root, out = Path(root), Path(out)
    require_dir(root, "dataset root")
    annotation = load_act_annotation(require_file(root / ANNOTATION_FILE, "annotation file"))
    sources = [ActVideoSource("train", v, root, annotation.path) for v in annotation.train]
    sources += [ActVideoSource("test", v, root, annotation.path) for v in annotation.test]
    extra_splits = {}
    if split_files:
        paths = [Path(p) for p in split_files]
        extra_splits[RELEASED_SPLIT_FILE] = read_released_splits(
            paths, annotation.train, seed, val_fraction, annotation.path
        )
    options = {
        "root": str(root.resolve()),
        "frame_size": list(frame_size),
        "split_files": [str(Path(p).resolve()) for p in split_files],
        "strict": strict,
        "shards": shards,
        "labeled": list(labeled),
        "seed": seed,
        "val_fraction": val_fraction,
    }
    return write_dataset(
        out, SOURCE, annotation.classes, sources, frame_size, options,
        strict=strict, workers=workers, shards=shards, overwrite=overwrite, labeled=labeled,
        seed=seed, val_fraction=val_fraction, extra_splits=extra_splits, progress=progress,
        content_options={"frame_size": None, "split_files": None, "strict": None},
    )
