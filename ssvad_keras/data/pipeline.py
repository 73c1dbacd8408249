"""tf.data pipelines: two-view training batches, whole-video evaluation clips, ground truth.

Training (SPEC 1.2): labeled and unlabeled clips come from their own streams of the training
shards. Each video gives one clip per pass: T frames at skip s, started inside the annotated span
for labeled videos and anywhere for unlabeled ones. Only the T JPEG strings a clip needs are kept
(so the shuffle buffer holds small clips, not whole videos), then decoded and cropped together.
The augmented view is the clip with photometric jitter and the recorded invertible transforms
(`augment.apply_view`). Each batch takes `labeled_per_batch` clips from the labeled stream and
`unlabeled_per_batch` from the unlabeled one, in a random order of slots.

Evaluation (SPEC 5.1): every video is cut into windows of T*s frames; each window gives s
interleaved clips (phase p takes frames w0+p, w0+p+s, ...), zero-padded past the end, so every
frame is in exactly one clip; a phase that would hold only padding is left out. The layout is
`tiling.clip_frame_indices`, the one `ssvad detect` streams too.

All randomness is stateless and seeded from `tf.data.Dataset.random(seed)`: a pipeline is
deterministic given its seed and keeps no Python-side state, so it can be handed to
`strategy.experimental_distribute_dataset`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from ssvad_keras.config import DataConfig
from ssvad_keras.data.augment import apply_view_to_clip, photometric_jitter
from ssvad_keras.data.geometry import check_geometry, resolve_resize
from ssvad_keras.data.manifest import (
    Manifest,
    check_split,
    read_manifest,
    read_split,
    resolve_split_path,
)
from ssvad_keras.data.record_decoder import (
    CropWindow,
    crop_window,
    decode_frames,
    decode_mask_pngs,
    gather_boxes,
    parse_video_record,
    rasterize_boxes,
    to_unit_range,
)
from ssvad_keras.data.tiling import clip_frame_indices
from ssvad_keras.errors import ConfigError, DataError

AUTOTUNE = tf.data.AUTOTUNE
TRAIN_KEYS = (
    "clip", "aug_clip", "hflip", "time_reverse", "labeled", "label", "mask", "frame_valid",
)


# ----------------------------------------------------------------------------- shared pieces


def _record_dataset(shards: Sequence[str], seed: int | None) -> tf.data.Dataset:
    """Serialised videos of `shards`; shard order shuffled (every pass) when `seed` is given."""
    files = tf.data.Dataset.from_tensor_slices(list(shards))
    if seed is not None:
        files = files.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
    return files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=max(1, min(len(shards), 8)),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )


def _position_of_id(video_id: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
    """Position of `video_id` in `ids`, -1 when absent (a vectorised compare: no lookup-table
    resource, which keeps the dataset cloneable under `tf.distribute`)."""
    hits = tf.cast(tf.where(tf.equal(ids, video_id))[:, 0], tf.int32)
    return tf.cond(tf.size(hits) > 0, lambda: hits[0], lambda: tf.constant(-1, tf.int32))


def _context_id(serialized: tf.Tensor) -> tf.Tensor:
    context, _ = tf.io.parse_single_sequence_example(
        serialized, context_features={"video_id": tf.io.FixedLenFeature([], tf.string)}
    )
    return context["video_id"]


def _select_videos(records: tf.data.Dataset, ids: Sequence[str]) -> tf.data.Dataset:
    """Keep the records whose video id is in `ids` (parsing only the id, not the frames)."""
    id_tensor = tf.constant(list(ids), tf.string)
    return records.filter(lambda s: _position_of_id(_context_id(s), id_tensor) >= 0)


def _seed(r: tf.Tensor, use: int) -> tf.Tensor:
    """A stateless-op seed for one random decision of an element drawn with value `r`."""
    return tf.stack([r, tf.constant(use, tf.int64)])


def _check_geometry(manifest: Manifest, data_cfg: DataConfig, mode: str) -> DataConfig:
    """Refuse a crop that does not fit or covers under half of the frame (`geometry.check_geometry`),
    then return `data_cfg` with `resize_to` resolved for the manifest's frame size: a static
    (height, width), or "stored" when frames keep their size (the crop then happens inside the
    JPEG decoder)."""
    check_geometry(manifest.frame_size, data_cfg, mode, manifest.path)
    if manifest.frame_size is None:
        return data_cfg  # "stored" or an explicit size: nothing to resolve
    resized = resolve_resize(manifest.frame_size, data_cfg.input_size, data_cfg.resize_to)
    return data_cfg.model_copy(update={"resize_to": "stored" if resized == manifest.frame_size else resized})


def _window(parsed: Mapping[str, tf.Tensor], data_cfg: DataConfig, mode: str, seed=None) -> CropWindow:
    """The crop window of a clip; `data_cfg.resize_to` is resolved (`_check_geometry`)."""
    resize = data_cfg.resize_to
    return crop_window(
        parsed["stored_hw"],
        tuple(data_cfg.input_size),
        mode,
        tuple(resize) if isinstance(resize, tuple | list) else None,
        seed,
    )


def _ground_truth_masks(clip: Mapping[str, tf.Tensor], window: CropWindow) -> tf.Tensor:
    """(T, H, W, 1) masks: pixel masks when the video has them, else rasterised boxes."""
    return tf.cond(
        clip["has_masks"],
        lambda: decode_mask_pngs(clip["mask_pngs"], window),
        lambda: rasterize_boxes(clip["boxes"], clip["orig_hw"], window),
    )


# ----------------------------------------------------------------------------- training


def sample_clip_indices(
    num_frames: tf.Tensor,
    annotated: tf.Tensor | None,
    clip_length: int,
    frame_skip: int,
    seed: tf.Tensor,
    end_probability: float = 0.0,
) -> tf.Tensor:
    """Frame indices of one training clip: `clip_length` frames `frame_skip` apart.

    With `annotated` (labeled clips) the start is drawn uniformly so that the clip starts inside
    the annotated span [first, last] and, when the span is long enough, ends inside it too;
    without (unlabeled clips) anywhere in the video such that the clip fits when it can.
    Indices past the end repeat the last frame.

    With probability `end_probability` the clip is instead an end-of-video clip as evaluation
    cuts them (SPEC 5.1: the last window's clips are zero-padded): it starts in the last
    `(T - 1) * s` frames, so 1 to T - 1 of its frames are real and the rest are padding, marked
    -1. Labeled clips only draw one when the annotated span reaches into that stretch. Without
    these, a model never sees the mostly black clips that evaluation feeds it at every video's end.

    Args:
        num_frames: scalar int32 N.
        annotated: (N,) bool, or None to ignore annotation.
        clip_length: T.
        frame_skip: s.
        seed: (2,) int64 stateless seed.
        end_probability: share of end-of-video (zero-padded) clips.

    Returns:
        (T,) int32 indices in [0, N), or -1 for padding frames of an end-of-video clip.

    Example:
    >>> ann = tf.constant([False] * 10 + [True] * 20 + [False] * 10)
    >>> idx = sample_clip_indices(tf.constant(40), ann, 8, 2, tf.constant([0, 1], tf.int64))
    >>> 10 <= int(idx[0]) <= 15
    True
    """
    span = (clip_length - 1) * frame_skip
    first, last = tf.constant(0, tf.int32), num_frames - 1
    if annotated is not None:
        positions = tf.cast(tf.where(annotated)[:, 0], tf.int32)
        has_any = tf.size(positions) > 0
        first = tf.cond(has_any, lambda: tf.reduce_min(positions), lambda: first)
        last = tf.cond(has_any, lambda: tf.reduce_max(positions), lambda: last)
    highest = tf.maximum(first, last - span)
    start = tf.random.stateless_uniform(
        [], seed=seed, minval=first, maxval=highest + 1, dtype=tf.int32
    )
    regular = tf.minimum(start + frame_skip * tf.range(clip_length), num_frames - 1)
    if end_probability <= 0.0:
        return regular
    # An end-of-video clip starts in [N - span, N - 1] (and not before frame 0 or the first
    # annotated frame), so at least one of its frames lies past the end.
    end_first = tf.maximum(num_frames - span, first)
    draws = tf.random.stateless_uniform([2], seed=seed + tf.constant([0, 7919], seed.dtype))
    end_start = end_first + tf.cast(
        tf.floor(draws[1] * tf.cast(num_frames - end_first, tf.float32)), tf.int32
    )
    end_start = tf.minimum(end_start, num_frames - 1)
    padded = end_start + frame_skip * tf.range(clip_length)
    padded = tf.where(padded < num_frames, padded, -1)
    use_end = tf.logical_and(draws[0] < end_probability, last >= num_frames - span)
    return tf.where(use_end, padded, regular)


def _compact_clip(serialized: tf.Tensor, r: tf.Tensor, data_cfg: DataConfig, labeled: bool) -> dict:
    """Sample a clip and keep only what decoding it needs (T JPEG strings, its ground truth)."""
    video = parse_video_record(serialized, with_frames=True, with_masks=labeled)
    indices = sample_clip_indices(
        video["num_frames"],
        video["annotated"] if labeled else None,
        data_cfg.clip_length,
        data_cfg.frame_skip,
        _seed(r, 0),
        data_cfg.end_clip_probability,
    )
    real = indices >= 0  # False on an end-of-video clip's padding
    # Padding frames hold the last frame: black when evaluation pads with zeros, as it is.
    indices = tf.where(real, indices, video["num_frames"] - 1)
    clip = {"jpegs": tf.gather(video["frames"], indices), "stored_hw": video["stored_hw"], "r": r}
    if data_cfg.end_clip_probability > 0.0:  # only then can a frame be padding
        clip["real"] = tf.cast(real, tf.uint8)
    if labeled:
        clip.update(
            mask_pngs=tf.gather(video["masks"], indices),
            boxes=gather_boxes(video["boxes"], indices),
            orig_hw=video["orig_hw"],
            has_masks=video["has_masks"],
            frame_valid=tf.cast(tf.logical_and(tf.gather(video["annotated"], indices), real), tf.float32),
            # Videos without a class (YouTube-VOS, class -1) train as class 0.
            label=tf.maximum(video["class_index"], 0),
        )
    return clip


def _two_view_clip(clip: Mapping[str, tf.Tensor], data_cfg: DataConfig, labeled: bool) -> dict:
    """Decode a compact clip into the training element: both views and (masked) ground truth."""
    r = clip["r"]
    t, (h, w) = data_cfg.clip_length, data_cfg.input_size
    window = _window(clip, data_cfg, data_cfg.train_crop, _seed(r, 1))
    pixels = decode_frames(clip["jpegs"], window)
    real = tf.reshape(clip["real"], [t, 1, 1, 1]) if "real" in clip else None
    if real is not None and data_cfg.eval_padding == "zeros":
        pixels = pixels * real  # padding frames are black, as in evaluation
    aug = data_cfg.augment
    draws = tf.random.stateless_uniform([4], seed=_seed(r, 2))
    hflip = tf.logical_and(aug.hflip, draws[0] < aug.probability)
    time_reverse = tf.logical_and(aug.time_reverse, draws[1] < aug.probability)
    brightness = (2.0 * draws[2] - 1.0) * aug.brightness
    contrast = 1.0 + (2.0 * draws[3] - 1.0) * aug.contrast
    if labeled:
        mask = tf.cast(_ground_truth_masks(clip, window), tf.uint8)
        if real is not None:
            mask = mask * real
        label, frame_valid = clip["label"], clip["frame_valid"]
    else:
        # Unlabeled clips never carry ground truth: the stream never even parses it.
        mask = tf.zeros([t, h, w, 1], tf.uint8)
        label, frame_valid = tf.constant(0, tf.int32), tf.zeros([t], tf.float32)
    # Pixels and masks stay uint8 until the whole batch is converted (`_finish_batch`): a
    # quarter of the bytes to flip, shuffle and batch.
    return {
        "clip": pixels,
        "aug_clip": tf.reshape(apply_view_to_clip(pixels, hflip, time_reverse), [t, h, w, 3]),
        "hflip": tf.cast(hflip, tf.float32),
        "time_reverse": tf.cast(time_reverse, tf.float32),
        "brightness": brightness,
        "contrast": contrast,
        "labeled": tf.constant(1.0 if labeled else 0.0),
        "label": label,
        "mask": tf.reshape(mask, [t, h, w, 1]),
        "frame_valid": tf.reshape(frame_valid, [t]),
    }


def _finish_batch(batch: Mapping[str, tf.Tensor], data_cfg: DataConfig) -> dict:
    """Scale the batch's pixels to [0, 1], jitter the augmented view, masks to float32."""
    out = {key: batch[key] for key in TRAIN_KEYS}
    out["clip"] = to_unit_range(batch["clip"])
    out["aug_clip"] = to_unit_range(batch["aug_clip"])
    aug = data_cfg.augment
    if aug.brightness > 0 or aug.contrast > 0:  # four full-batch passes, skipped when off
        # Jitter commutes with the flips, so applying it after them is the same view.
        out["aug_clip"] = photometric_jitter(out["aug_clip"], batch["brightness"], batch["contrast"])
    out["mask"] = tf.cast(batch["mask"], tf.float32)
    return out


def _clip_stream(
    shards: Sequence[str],
    ids: Sequence[str],
    data_cfg: DataConfig,
    seed: int,
    labeled: bool,
    repeat: bool,
) -> tf.data.Dataset:
    """One clip per video of `ids` per pass, shuffled within the pass; forever when `repeat`.

    Each pass is shuffled on its own and then repeated (not shuffled across the repeat), so with
    `shuffle_buffer >= len(ids)` every pass is a permutation of the videos: consecutive clips of
    one pass never repeat a video, and a labeled-only epoch sees every labeled video once.
    """
    stream_seed = seed * 2 + (0 if labeled else 1)  # labeled/unlabeled draw independently
    records = _select_videos(_record_dataset(shards, stream_seed), ids)
    # Re-iterated at every pass (under `repeat`): new shard order, new draws, new shuffle.
    draws = tf.data.Dataset.random(seed=stream_seed, rerandomize_each_iteration=True)
    clips = tf.data.Dataset.zip(records, draws).map(
        lambda s, r: _compact_clip(s, r, data_cfg, labeled), num_parallel_calls=AUTOTUNE
    )
    # A pass holds one clip per video, so a buffer beyond len(ids) adds nothing but start-up
    # time (it is refilled at every pass).
    buffer = min(data_cfg.shuffle_buffer, len(ids))
    clips = clips.shuffle(buffer, seed=stream_seed, reshuffle_each_iteration=True)
    if repeat:
        clips = clips.repeat()
    return clips.map(lambda c: _two_view_clip(c, data_cfg, labeled), num_parallel_calls=AUTOTUNE)


def _batch_slots(r: tf.Tensor, labeled_per_batch: int, unlabeled_per_batch: int) -> tf.Tensor:
    """Which stream fills each slot of one batch (0 labeled, 1 unlabeled), in random order."""
    size = labeled_per_batch + unlabeled_per_batch
    order = tf.argsort(tf.random.stateless_uniform([size], seed=_seed(r, 3)))
    return tf.cast(order >= labeled_per_batch, tf.int64)


def _resolve_split(data_dir: str | os.PathLike, split: Any, manifest: Manifest) -> dict:
    if isinstance(split, Mapping):
        return check_split(split, "<split>", manifest)
    return read_split(resolve_split_path(data_dir, split), manifest)


def train_steps_per_epoch(
    data_dir: str | os.PathLike, split: Any, data_cfg: DataConfig, labeled_only: bool = False
) -> int:
    """Batches in one epoch of `train_dataset` with the same arguments (see its docstring)."""
    manifest = read_manifest(data_dir)
    parts = _resolve_split(data_dir, split, manifest)
    if labeled_only or data_cfg.unlabeled_per_batch == 0:
        batch = data_cfg.batch_size if labeled_only else data_cfg.labeled_per_batch
        return math.ceil(len(parts["labeled"]) / batch)
    return len(parts["unlabeled"]) // data_cfg.unlabeled_per_batch


def train_dataset(
    data_dir: str | os.PathLike,
    split: str | os.PathLike | Mapping[str, Any],
    data_cfg: DataConfig,
    seed: int = 0,
    labeled_only: bool = False,
    num_classes: int | None = None,
) -> tf.data.Dataset:
    """Two-view training batches from a prepared dataset's training shards.

    Each element is a dict of B = `labeled_per_batch + unlabeled_per_batch` clips (static
    shapes): "clip" (B, T, H, W, 3) float32 in [0, 1]; "aug_clip" (B, T, H, W, 3), the clip after
    photometric jitter and the recorded transforms "hflip" (B,) and "time_reverse" (B,) as
    float32 0/1 (`augment.invert_view` maps predictions back; floats, not bools, because
    `tf.distribute` reduces a batch to build the model and cannot sum booleans); "labeled" (B,) float32 1/0; "label"
    (B,) int32; "mask" (B, T, H, W, 1) float32 in {0, 1}; "frame_valid" (B, T) float32, 1 where
    the frame has ground truth. Unlabeled clips carry label 0 and all-zero mask and frame_valid.
    Pixels are never scaled beyond [0, 1]; the detector maps them to `model.pixel_range`.

    Epochs:
    - semi-supervised (default): one epoch is one pass over the unlabeled videos, i.e.
      `len(unlabeled) // unlabeled_per_batch` batches (a last partial batch is dropped); the
      labeled stream repeats forever, reshuffled every pass, so labeled videos recur.
    - `labeled_only=True` (supervised baseline): batches of B labeled clips; one epoch is
      `ceil(len(labeled) / B)` batches, i.e. one pass over the labeled videos in which the last
      batch is filled from the next (reshuffled) pass. `unlabeled_per_batch = 0` behaves the
      same with B = `labeled_per_batch`.
    Iterating the dataset again starts a new epoch with fresh shuffles and crops.

    Args:
        data_dir: folder written by `ssvad prepare`.
        split: a split file path, a split name in `<data_dir>/splits/` (e.g.
            "labeled-0.20-seed0"), or a split dict as `read_split` returns.
        data_cfg: clip sampling, crops, batch composition and augmentation.
        seed: seeds every shuffle and random draw; the same seed gives the same batches.
        labeled_only: train on labeled clips only (see Epochs).
        num_classes: the model's class count; checked against the manifest when given.

    Returns:
        A `tf.data.Dataset` of batch dicts, prefetched.

    Raises:
        DataError: missing/invalid manifest or split, unknown ids, or an empty stream.
        ConfigError: input size larger than the frames, or a class-count mismatch.

    Example:
    >>> from ssvad_keras.config import DataConfig
    >>> ds = train_dataset("data/synthetic", "labeled-0.20-seed0", DataConfig())  # doctest: +SKIP
    >>> batch = next(iter(ds))  # doctest: +SKIP
    >>> batch["clip"].shape  # doctest: +SKIP
    TensorShape([8, 8, 224, 224, 3])
    """
    manifest = read_manifest(data_dir)
    if num_classes is not None and num_classes != manifest.num_classes:
        raise ConfigError(
            f"the model has {num_classes} classes but the dataset has {manifest.num_classes}",
            manifest.path,
        )
    data_cfg = _check_geometry(manifest, data_cfg, data_cfg.train_crop)
    parts = _resolve_split(data_dir, split, manifest)
    if not parts["labeled"]:
        raise DataError("the split has no labeled videos", manifest.path)
    shards = manifest.shard_paths("train")
    labeled = _clip_stream(shards, parts["labeled"], data_cfg, seed, labeled=True, repeat=True)
    if labeled_only or data_cfg.unlabeled_per_batch == 0:
        batch = data_cfg.batch_size if labeled_only else data_cfg.labeled_per_batch
        steps = math.ceil(len(parts["labeled"]) / batch)
        batches = labeled.batch(batch, drop_remainder=True).take(steps)
    else:
        if len(parts["unlabeled"]) < data_cfg.unlabeled_per_batch:
            raise DataError(
                f"the split has {len(parts['unlabeled'])} unlabeled videos, fewer than "
                f"unlabeled_per_batch = {data_cfg.unlabeled_per_batch}",
                manifest.path,
            )
        unlabeled = _clip_stream(
            shards, parts["unlabeled"], data_cfg, seed, labeled=False, repeat=False
        )
        # Each batch: labeled_per_batch slots from the labeled stream and unlabeled_per_batch
        # from the unlabeled one, in random order. Picking per element (not concatenating and
        # permuting whole batches) copies every clip once. The epoch ends when the unlabeled
        # stream runs dry; its partial batch is dropped.
        slots = tf.data.Dataset.random(seed=seed * 2 + 7, rerandomize_each_iteration=True).map(
            lambda r: _batch_slots(r, data_cfg.labeled_per_batch, data_cfg.unlabeled_per_batch)
        )
        clips = tf.data.Dataset.choose_from_datasets(
            [labeled, unlabeled], slots.unbatch(), stop_on_empty_dataset=True
        )
        batches = clips.batch(data_cfg.batch_size, drop_remainder=True)
    batches = batches.map(lambda b: _finish_batch(b, data_cfg), num_parallel_calls=AUTOTUNE)
    return batches.prefetch(AUTOTUNE)


# ----------------------------------------------------------------------------- evaluation


def _resolve_videos(
    data_dir: str | os.PathLike, split_name_or_ids: str | Sequence[str]
) -> tuple[Manifest, list[str], list[str]]:
    """(manifest, video ids in `video_index` order, shards that hold them)."""
    manifest = read_manifest(data_dir)
    if isinstance(split_name_or_ids, str):
        info = manifest.split(split_name_or_ids)
        return manifest, list(info.video_ids), [str(p) for p in info.shards]
    ids = [str(v) for v in split_name_or_ids]
    if not ids:
        raise DataError("no video ids given", manifest.path)
    shards = [s for name in manifest.locate(ids) for s in manifest.shard_paths(name)]
    return manifest, ids, shards


def _eval_clip_descriptors(video: Mapping[str, tf.Tensor], data_cfg: DataConfig) -> dict:
    """All clips of one video (SPEC 5.1, `tiling.clip_frame_indices`) as (C, ...) tensors of
    JPEG strings and ground truth."""
    t, s = data_cfg.clip_length, data_cfg.frame_skip
    n = video["num_frames"]
    frame_index = tf.numpy_function(
        lambda num_frames: clip_frame_indices(int(num_frames), t, s).astype(np.int32),
        [n], tf.int32, stateful=False,
    )
    frame_index.set_shape([None, t])  # (C, T), -1 on padding
    inside = frame_index >= 0
    safe = tf.where(inside, frame_index, n - 1)  # padding reads the last frame
    count = tf.shape(frame_index)[0]
    boxes = gather_boxes(video["boxes"], tf.reshape(safe, [-1]))
    return {
        "jpegs": tf.gather(video["frames"], safe),
        "mask_pngs": tf.gather(video["masks"], safe),
        "boxes": tf.reshape(boxes, [count, t, -1, 4]),
        "frame_index": tf.where(inside, frame_index, -1),
        "frame_valid": tf.cast(tf.gather(video["annotated"], safe) & inside, tf.float32),
        "stored_hw": tf.tile(video["stored_hw"][None], [count, 1]),
        "orig_hw": tf.tile(video["orig_hw"][None], [count, 1]),
        "has_masks": tf.fill([count], video["has_masks"]),
        "video_index": tf.fill([count], video["video_index"]),
        "label": tf.fill([count], video["class_index"]),
    }


def _eval_clip(clip: Mapping[str, tf.Tensor], data_cfg: DataConfig) -> dict:
    t, (h, w) = data_cfg.clip_length, data_cfg.input_size
    window = _window(clip, data_cfg, data_cfg.eval_crop)
    inside = tf.cast(clip["frame_index"] >= 0, tf.float32)[:, None, None, None]
    pixels = to_unit_range(decode_frames(clip["jpegs"], window))
    if data_cfg.eval_padding == "zeros":
        pixels = pixels * inside  # the paper's zero padding; "repeat" keeps the last frame
    return {
        "clip": tf.reshape(pixels, [t, h, w, 3]),
        "mask": tf.reshape(_ground_truth_masks(clip, window) * inside, [t, h, w, 1]),
        "frame_index": tf.reshape(clip["frame_index"], [t]),
        "frame_valid": tf.reshape(clip["frame_valid"], [t]),
        "video_index": clip["video_index"],
        "label": clip["label"],
    }


def eval_clip_dataset(
    data_dir: str | os.PathLike,
    split_name_or_ids: str | Sequence[str],
    data_cfg: DataConfig,
    batch_size: int,
) -> tf.data.Dataset:
    """Clips covering every frame of every video exactly once (the paper's protocol, SPEC 5.1).

    Each video of N frames is cut into ceil(N / (T s)) windows of T*s frames; window w0 gives s
    clips, phase p taking frames w0+p, w0+p+s, ..., w0+p+(T-1)s. Frames past the end are padding
    (frame_index -1): zeros, or the video's last frame with `data_cfg.eval_padding = "repeat"`;
    a phase of the last window that would hold only padding gives no clip
    (`tiling.clip_frame_indices`). Frames are resized/cropped as `data_cfg.eval_crop` says.

    Clips without any ground truth are KEPT (every frame must be seen for video-level outputs);
    the evaluator skips them for the paper's metrics if it wants (frame_valid all 0).
    Streaming: one video is parsed at a time, so memory does not depend on the number of videos.

    Each element (batched along a first axis, last batch may be smaller): "clip" (T, H, W, 3)
    float32 in [0, 1]; "mask" (T, H, W, 1) float32 ground truth at model resolution;
    "frame_index" (T,) int32, -1 on padding; "frame_valid" (T,) float32, 1 where the frame has
    ground truth; "video_index" int32, the video's position in the split's `video_ids` (or in
    the given ids); "label" int32, the class index (-1 for videos without a class).

    Args:
        data_dir: folder written by `ssvad prepare`.
        split_name_or_ids: a manifest split name ("test") or a list of video ids (e.g. the
            split file's "val").
        data_cfg: clip length, skip, input size, resize and eval crop.
        batch_size: clips per batch.

    Returns:
        A `tf.data.Dataset` of batch dicts, in shard order.

    Example:
    >>> ds = eval_clip_dataset("data/synthetic", "test", DataConfig(), 8)  # doctest: +SKIP
    """
    manifest, ids, shards = _resolve_videos(data_dir, split_name_or_ids)
    data_cfg = _check_geometry(manifest, data_cfg, data_cfg.eval_crop)
    id_tensor = tf.constant(ids, tf.string)

    def parse(serialized):
        video = parse_video_record(serialized)
        video["video_index"] = _position_of_id(video["video_id"], id_tensor)
        return video

    videos = _record_dataset(shards, seed=None).map(parse, num_parallel_calls=AUTOTUNE)
    videos = videos.filter(lambda v: v["video_index"] >= 0)
    clips = videos.flat_map(
        lambda v: tf.data.Dataset.from_tensor_slices(_eval_clip_descriptors(v, data_cfg))
    )
    clips = clips.map(lambda c: _eval_clip(c, data_cfg), num_parallel_calls=AUTOTUNE)
    return clips.batch(batch_size).prefetch(AUTOTUNE)


@dataclass
class VideoAnnotation:
    """Ground truth of one video at the original resolution (for building ground-truth tubes).

    Attributes:
        video_id: source id.
        video_index: position in the split's ids (as in `eval_clip_dataset`).
        label: class index (-1 for videos without a class).
        num_frames: stored frames.
        orig_hw: original (height, width).
        stored_hw: stored (height, width).
        annotated: (N,) bool, frames with ground truth.
        boxes: per frame, (k, 4) float32 pixel boxes [x1, y1, x2, y2] (0-based, inclusive).
        tube_ids: per frame, (k,) int32 tube of each box.
        has_boxes, has_masks: which ground truth the record carries.
    """

    video_id: str
    video_index: int
    label: int
    num_frames: int
    orig_hw: tuple[int, int]
    stored_hw: tuple[int, int]
    annotated: np.ndarray
    boxes: list[np.ndarray]
    tube_ids: list[np.ndarray]
    has_boxes: bool
    has_masks: bool


def read_annotations(
    data_dir: str | os.PathLike, split_name_or_ids: str | Sequence[str]
) -> Iterator[VideoAnnotation]:
    """Stream per-video ground truth without decoding (or even parsing) any frame.

    Args:
        data_dir: folder written by `ssvad prepare`.
        split_name_or_ids: a manifest split name or a list of video ids.

    Yields:
        One `VideoAnnotation` per video, in shard order.

    Example:
    >>> for ann in read_annotations("data/synthetic", "test"):  # doctest: +SKIP
    ...     print(ann.video_id, ann.num_frames, int(ann.annotated.sum()))
    """
    _, ids, shards = _resolve_videos(data_dir, split_name_or_ids)
    id_tensor = tf.constant(ids, tf.string)

    def parse(serialized):
        video = parse_video_record(serialized, with_frames=False, with_masks=False)
        video["video_index"] = _position_of_id(video["video_id"], id_tensor)
        # Ragged rows become flat values plus per-frame box counts for NumPy.
        boxes, tube_ids = video.pop("boxes"), video.pop("box_tube_ids")
        video["box_values"] = boxes.flat_values
        video["tube_values"] = tube_ids.flat_values
        video["box_counts"] = tf.cast(tube_ids.row_lengths(), tf.int32)
        return video

    videos = _record_dataset(shards, seed=None).map(parse).filter(lambda v: v["video_index"] >= 0)
    for video in videos.as_numpy_iterator():
        orig_h, orig_w = (int(v) for v in video["orig_hw"])
        scale = np.array([orig_w, orig_h, orig_w, orig_h], np.float32)
        splits = np.cumsum(video["box_counts"])[:-1]
        boxes = np.split(np.asarray(video["box_values"], np.float32).reshape(-1, 4), splits)
        tube_ids = np.split(np.asarray(video["tube_values"], np.int32), splits)
        yield VideoAnnotation(
            video_id=video["video_id"].decode(),
            video_index=int(video["video_index"]),
            label=int(video["class_index"]),
            num_frames=int(video["num_frames"]),
            orig_hw=(orig_h, orig_w),
            stored_hw=tuple(int(v) for v in video["stored_hw"]),
            annotated=np.asarray(video["annotated"], bool),
            boxes=[frame_boxes * scale for frame_boxes in boxes],
            tube_ids=list(tube_ids),
            has_boxes=bool(video["has_boxes"]),
            has_masks=bool(video["has_masks"]),
        )

