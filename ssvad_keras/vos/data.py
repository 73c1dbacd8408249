"""VOS data: a YouTube-VOS split on disk, training clips, and the batches of an epoch.

A split folder is read as YouTube-VOS lays it out (SPEC 1.1): `JPEGImages/<vid>/<frame>.jpg`,
`Annotations/<vid>/<frame>.png` (palette PNGs, ids from `meta.json`), `meta.json`. Frames and
masks are decoded with OpenCV and Pillow and resized to the model's input once, then cached.

Training clips are T consecutive stored frames; the first is the reference frame, whose mask
of one object is the model's second input:
- a labeled clip starts on any annotated frame where its object is present and a later annotated
  frame falls inside the clip; its targets are the object's masks on the clip's annotated frames
  after the reference frame (`frame_valid` marks them). The reference frame itself is not a
  target: its mask is the input, copying it scores perfectly, and propagation never uses the
  model's output there (YouTube-VOS annotates every 5th stored frame, so an 8-frame clip from an
  annotated frame has one target frame, its 6th);
- an unlabeled clip starts on its object's first-appearance frame and uses that mask only: what
  the task itself gives at test time. It has no targets.
Clips running past a video's end repeat its last frame (not counted in `frame_valid`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ssvad_keras.errors import DataError
from ssvad_keras.evaluation.vos import VosObject, read_palette_png, read_vos_meta
from ssvad_keras.vos.config import VosDataConfig

# Decoded, resized frames and masks kept in memory (LRU), per process.
_CACHE_ENTRIES = 8192


@dataclass(frozen=True)
class VosVideo:
    """One video of a YouTube-VOS split.

    Attributes:
        video_id: its folder name.
        split_dir: the split folder (holding `JPEGImages/`, `Annotations/`).
        stems: stored frames, sorted (file names without `.jpg`).
        annotated: the stems with an annotation PNG.
        objects: object id -> `VosObject` (category, frames) from the meta.
        appearances: object id -> annotated stems where the object is present, sorted; the
            first is its first-appearance frame (see `_appearances` for valid splits).
    """

    video_id: str
    split_dir: Path
    stems: tuple[str, ...]
    annotated: tuple[str, ...]
    objects: dict[int, VosObject]
    appearances: dict[int, tuple[str, ...]]

    def frame_path(self, stem: str) -> Path:
        return self.split_dir / "JPEGImages" / self.video_id / f"{stem}.jpg"

    def annotation_path(self, stem: str) -> Path:
        return self.split_dir / "Annotations" / self.video_id / f"{stem}.png"

    def first_appearance(self, object_id: int) -> str:
        return self.appearances[object_id][0]


def _appearances(video_id, split_dir, annotated, objects) -> dict[int, tuple[str, ...]]:
    """Annotated frames holding each object: from the meta's `frames` lists when every object
    has one that meets the annotations, else by reading the PNGs.

    A training meta lists the annotated frames an object is on, so this is exact; a valid meta
    lists every frame from the first appearance on, so there only the first entry (the frame
    whose PNG gives the object's mask) is exact, and only it is used (`first_appearance`)."""
    annotated_set = set(annotated)
    listed = {k: tuple(sorted(annotated_set & set(o.frames))) for k, o in objects.items()}
    if all(listed.values()):
        return listed
    found: dict[int, list[str]] = {k: [] for k in objects}
    for stem in annotated:
        path = split_dir / "Annotations" / video_id / f"{stem}.png"
        ids = read_palette_png(path)
        for value in np.unique(ids):
            if value == 0:
                continue
            if int(value) not in found:
                raise DataError(f"object id {int(value)} is not in meta.json for video {video_id}", path)
            found[int(value)].append(stem)
    return {k: tuple(v) for k, v in found.items() if v}


def read_vos_split(split_dir: str | Path, video_ids: Sequence[str] | None = None) -> list[VosVideo]:
    """Index a YouTube-VOS split folder (or the videos `video_ids` of it).

    Raises:
        DataError: missing meta.json or frame folder, a folder without frames, an annotation
            without its frame, an object id not in the meta.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise DataError("split folder not found", split_dir)
    meta = read_vos_meta(split_dir / "meta.json")
    wanted = sorted(meta) if video_ids is None else list(video_ids)
    videos = []
    for video_id in wanted:
        if video_id not in meta:
            raise DataError(f"video {video_id!r} is not in meta.json", split_dir / "meta.json")
        frame_dir = split_dir / "JPEGImages" / video_id
        if not frame_dir.is_dir():
            raise DataError(f"frame folder of video {video_id} not found", frame_dir)
        stems = tuple(sorted(p.stem for p in frame_dir.glob("*.jpg")))
        if not stems:
            raise DataError("frame folder holds no .jpg frames", frame_dir)
        mask_dir = split_dir / "Annotations" / video_id
        annotated = tuple(sorted(p.stem for p in mask_dir.glob("*.png"))) if mask_dir.is_dir() else ()
        orphans = sorted(set(annotated) - set(stems))
        if orphans:
            raise DataError(f"annotation {orphans[0]}.png has no frame image", mask_dir)
        appearances = _appearances(video_id, split_dir, annotated, meta[video_id])
        videos.append(VosVideo(video_id, split_dir, stems, annotated, meta[video_id], appearances))
    return videos


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def _frame(path: Path, size: tuple[int, int]) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError("cannot decode frame", path)
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def _ids(path: Path, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(read_palette_png(path), (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def load_frames(video: VosVideo, indices: Sequence[int], size: tuple[int, int]) -> np.ndarray:
    """(T, H, W, 3) float32 frames in [0, 1] at `size`, for stored-frame indices."""
    frames = [_frame(video.frame_path(video.stems[i]), tuple(size)) for i in indices]
    return np.stack(frames).astype(np.float32) / 255.0


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def _area_mask(path: Path, size: tuple[int, int], object_id: int) -> np.ndarray:
    mask = (read_palette_png(path) == object_id).astype(np.float32)
    return cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def object_mask(video: VosVideo, stem: str, object_id: int, size: tuple[int, int],
                resize: str = "nearest") -> np.ndarray:
    """(H, W) float32 mask of one object on an annotated frame, at `size`: 0/1 from the id map
    resized by OpenCV's nearest neighbour (`resize="nearest"`), or the share of each pixel the
    object covers (`"area"`, as prediction resizes the given mask).

    OpenCV's nearest neighbour samples source pixel floor(i * scale) for target pixel i, not the
    one under its centre: at 72x96 -> 64x64 a mask's centroid moves by 0.4 px down and 0.3 px
    right against the (area-resized) frames. Training on area-resized masks instead moved the
    benchmark by 0.1-0.2 J&F (docs/vos.md, 2026-12-02 later)."""
    if resize == "area":
        return _area_mask(video.annotation_path(stem), tuple(size), int(object_id)).copy()
    return (_ids(video.annotation_path(stem), tuple(size)) == object_id).astype(np.float32)


def clip_indices(start: int, length: int, num_frames: int, stride: int = 1) -> np.ndarray:
    """`length` stored-frame indices from `start`, every `stride`-th (1: consecutive), the last
    frame repeated past the end.

    Example:

    >>> clip_indices(3, 4, 5).tolist()
    [3, 4, 4, 4]
    >>> clip_indices(0, 4, 12, stride=5).tolist()
    [0, 5, 10, 11]
    """
    return np.minimum(start + stride * np.arange(length), num_frames - 1)


@dataclass(frozen=True)
class ClipSample:
    """Where one training clip comes from: a video, an object, the reference frame."""

    video: int  # index into the video list
    object_id: int
    start: int  # stored-frame index of the reference frame
    labeled: bool
    stride: int = 1  # stored frames between the clip's frames (1: consecutive)


def labeled_samples(videos: Sequence[VosVideo], indices: Sequence[int], length: int,
                    strides: Sequence[int] = (1,)) -> list[ClipSample]:
    """A clip per (frame stride, object, annotated frame where it is present) whose `length`
    frames, every stride-th stored frame from there, hold a later annotated frame of the video:
    the clip's target (the object's mask there, empty once it has left). With annotations on
    every 5th stored frame, a stride-1 clip of 8 frames has one target (its 6th frame), a
    stride-5 clip one on every frame after the reference (`data.labeled_strides`)."""
    samples = []
    for stride in strides:
        for v in indices:
            video = videos[v]
            position = {stem: i for i, stem in enumerate(video.stems)}
            annotated = sorted(position[s] for s in video.annotated)
            for object_id, stems in sorted(video.appearances.items()):
                samples += [ClipSample(v, object_id, position[s], True, stride) for s in stems
                            if any(0 < a - position[s] < length * stride and (a - position[s]) % stride == 0
                                   for a in annotated)]
    return samples


def unlabeled_samples(videos: Sequence[VosVideo], indices: Sequence[int]) -> list[ClipSample]:
    """A clip per object, from its first appearance (the only mask the task gives)."""
    samples = []
    for v in indices:
        video = videos[v]
        position = {stem: i for i, stem in enumerate(video.stems)}
        for object_id in sorted(video.appearances):
            start = position[video.first_appearance(object_id)]
            if start < len(video.stems) - 1:
                samples.append(ClipSample(v, object_id, start, False))
    return samples


def make_clip(video: VosVideo, sample: ClipSample, length: int, size: tuple[int, int],
              mask_resize: str = "nearest") -> dict[str, np.ndarray]:
    """One training clip: `clip`, `reference`, `mask`, `frame_valid`, `labeled` (no batch axis);
    reference and target masks resized as `mask_resize` says (`object_mask`)."""
    indices = clip_indices(sample.start, length, len(video.stems), sample.stride)
    clip = load_frames(video, indices, size)
    reference = object_mask(video, video.stems[sample.start], sample.object_id, size, mask_resize)
    mask = np.zeros((length, *size, 1), np.float32)
    valid = np.zeros((length,), np.float32)
    annotated = set(video.annotated)
    if sample.labeled:
        for t, index in enumerate(indices):
            stem = video.stems[index]
            if stem in annotated and t > 0 and index != indices[t - 1]:
                mask[t, ..., 0] = object_mask(video, stem, sample.object_id, size, mask_resize)
                valid[t] = 1.0
    return {
        "clip": clip,
        "reference": reference[..., None],
        "mask": mask,
        "frame_valid": valid,
        "labeled": np.float32(sample.labeled),
    }


def steps_per_epoch(labeled: int, unlabeled: int, config: VosDataConfig) -> int:
    """One pass over the unlabeled clips, and at least one over the labeled ones."""
    steps = math.ceil(labeled / config.labeled_per_batch)
    if config.unlabeled_per_batch:
        steps = max(steps, math.ceil(unlabeled / config.unlabeled_per_batch))
    return max(1, steps)


def _cycle(rng: np.random.Generator, items: Sequence) -> Iterator:
    """Items in a fresh random order per pass, forever."""
    while True:
        for i in rng.permutation(len(items)):
            yield items[i]


def epoch_batches(
    videos: Sequence[VosVideo],
    labeled: Sequence[ClipSample],
    unlabeled: Sequence[ClipSample],
    config: VosDataConfig,
    steps: int,
    seed: int,
    fill_with_labeled: bool = True,
) -> Iterator[dict[str, np.ndarray]]:
    """The batches of one epoch, deterministic for `seed`.

    Each batch holds `labeled_per_batch` labeled clips and, when `unlabeled` is not empty,
    `unlabeled_per_batch` unlabeled ones. Without unlabeled clips (the supervised baseline, or
    all videos labeled) the batch is filled with labeled clips instead, unless
    `fill_with_labeled` is False: then it holds `labeled_per_batch` clips, as many labeled clips
    as a semi-supervised batch (`train.supervised_batch = "labeled"`).
    """
    if not labeled:
        raise DataError("no labeled training clips: the labeled videos hold no annotated objects")
    rng = np.random.default_rng(seed)
    labeled_stream, unlabeled_stream = _cycle(rng, labeled), _cycle(rng, unlabeled) if unlabeled else None
    n_unlabeled = config.unlabeled_per_batch if unlabeled else 0
    n_labeled = config.labeled_per_batch + (config.unlabeled_per_batch - n_unlabeled if fill_with_labeled else 0)
    size = tuple(config.input_size)
    for _ in range(steps):
        samples = [next(labeled_stream) for _ in range(n_labeled)]
        samples += [next(unlabeled_stream) for _ in range(n_unlabeled)]
        clips = [make_clip(videos[s.video], s, config.clip_length, size, config.mask_resize) for s in samples]
        yield {key: np.stack([c[key] for c in clips]) for key in clips[0]}


def batch_signature(config: VosDataConfig) -> dict:
    """The `tf.TensorSpec`s of `epoch_batches`' batches."""
    import tensorflow as tf

    t, (h, w) = config.clip_length, config.input_size
    return {
        "clip": tf.TensorSpec((None, t, h, w, 3), tf.float32),
        "reference": tf.TensorSpec((None, h, w, 1), tf.float32),
        "mask": tf.TensorSpec((None, t, h, w, 1), tf.float32),
        "frame_valid": tf.TensorSpec((None, t), tf.float32),
        "labeled": tf.TensorSpec((None,), tf.float32),
    }
