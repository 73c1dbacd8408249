"""VOS inference: clip-by-clip propagation, per-pixel merge, and the YouTube-VOS submission.

For each object, from its first-appearance frame (whose mask is given): the first clip is the
T frames from there with the given mask as reference; each next clip starts on the previous
clip's last frame, with that frame's predicted mask (probability >= the threshold) as
reference. The objects of a video advance together, one batch of clips per step. At the
original resolution, each pixel takes the object with the highest probability, or background
when every probability is below the threshold; on an object's first-appearance frame its given
mask is pasted on top.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ssvad_keras.errors import CheckpointError
from ssvad_keras.evaluation.vos import (
    ObjectScore,
    VosReport,
    read_palette_png,
    score_video,
    write_palette_png,
)
from ssvad_keras.io import atomic_path
from ssvad_keras.progress import progress_bar
from ssvad_keras.vos.data import VosVideo, clip_indices, load_frames, read_vos_split


def _resize_probability(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(prob, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def merge_objects(
    probabilities: dict[int, np.ndarray], threshold: float = 0.5
) -> np.ndarray:
    """Per-pixel object ids from per-object probabilities of one frame.

    Args:
        probabilities: object id -> (H, W) probability.
        threshold: background wins where every probability is below it.

    Returns:
        (H, W) uint8 ids.

    Example:

    >>> p = {1: np.array([[0.9, 0.6, 0.2]]), 2: np.array([[0.1, 0.7, 0.3]])}
    >>> merge_objects(p).tolist()
    [[1, 2, 0]]
    """
    ids = sorted(probabilities)
    stack = np.stack([probabilities[k] for k in ids])
    best = np.argmax(stack, axis=0)
    out = np.asarray(ids, np.uint8)[best]
    out[stack.max(axis=0) < threshold] = 0
    return out


@dataclass
class _Track:
    """One object's propagation state."""

    object_id: int
    start: int  # stored-frame index of the current clip's reference frame
    reference: np.ndarray  # (h, w) at the model's input size
    probabilities: dict[int, np.ndarray]  # frame index -> (h, w)


def inference_function(model):
    """`model`'s forward pass (training=False) as one compiled `tf.function` for any batch size:
    several times faster than calling the model eagerly once per clip batch."""
    import tensorflow as tf

    length, height, width = model.clip_shape[:3]
    signature = [{
        "clip": tf.TensorSpec((None, length, height, width, 3), tf.float32),
        "reference": tf.TensorSpec((None, height, width, 1), tf.float32),
    }]

    @tf.function(input_signature=signature)
    def forward(inputs):
        return model(inputs, training=False)["mask_logits"]

    return forward


def propagate_video(
    model, video: VosVideo, threshold: float = 0.5, batch_size: int = 8, forward=None,
    given_resize: str = "area",
) -> dict[str, np.ndarray]:
    """Segment every stored frame of `video` from each object's first-appearance mask.

    Args:
        model: a `MaskPropagationModel`.
        video: a `VosVideo`; its first annotation of each object is the given mask.
        threshold: merge and reference threshold on probabilities.
        batch_size: clips per forward pass.
        forward: `inference_function(model)`, to reuse across videos (made here when None).
        given_resize: "area" or "nearest", how each given mask is resized to the model's input
            for its first clip (`vos.given_mask_resize`): soft, or binary as in training.

    Returns:
        stem -> (H, W) uint8 object ids at the original resolution, for every stored frame
        from the earliest first appearance on.
    """
    length, height, width = model.clip_shape[:3]
    size = (height, width)
    forward = forward or inference_function(model)
    num_frames = len(video.stems)
    position = {stem: i for i, stem in enumerate(video.stems)}
    given: dict[int, tuple[int, np.ndarray]] = {}  # object -> (frame index, original-size mask)
    for object_id in sorted(video.appearances):
        stem = video.first_appearance(object_id)
        given[object_id] = (position[stem], read_palette_png(video.annotation_path(stem)) == object_id)
    if not given:
        return {}
    shape = next(iter(given.values()))[1].shape
    tracks = []
    for object_id, (index, mask) in given.items():
        if given_resize == "nearest":  # binary, as make_clip's reference masks
            small = cv2.resize(mask.astype(np.uint8), (width, height),
                               interpolation=cv2.INTER_NEAREST).astype(np.float32)
        else:
            small = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
        tracks.append(_Track(object_id, index, small, {index: small}))
    active = [t for t in tracks if t.start < num_frames - 1]
    while active:
        for chunk in range(0, len(active), batch_size):
            group = active[chunk : chunk + batch_size]
            windows = [clip_indices(t.start, length, num_frames) for t in group]
            clips = np.stack([load_frames(video, w, size) for w in windows])
            references = np.stack([t.reference for t in group])[..., None]
            logits = forward({"clip": clips, "reference": references.astype(np.float32)})
            probabilities = 1.0 / (1.0 + np.exp(-np.asarray(logits)[..., 0]))
            for track, window, prob in zip(group, windows, probabilities, strict=True):
                for t in range(1, length):
                    if window[t] != window[t - 1]:
                        track.probabilities[int(window[t])] = prob[t]
                last = int(window[-1])
                track.reference = (track.probabilities[last] >= threshold).astype(np.float32)
                track.start = last
        active = [t for t in active if t.start < num_frames - 1]
    out = {}
    for index in range(min(i for i, _ in given.values()), num_frames):
        probs = {
            t.object_id: _resize_probability(t.probabilities[index], shape)
            for t in tracks if index in t.probabilities
        }
        ids = merge_objects(probs, threshold) if probs else np.zeros(shape, np.uint8)
        for object_id, (first, mask) in given.items():
            if first == index:
                ids[mask] = object_id
        out[video.stems[index]] = ids
    return out


def model_from_checkpoint(checkpoint: str | os.PathLike):
    """The model and (when `checkpoint` is a run folder) the run's config.

    A run folder gives its `best.keras` (else `last.keras`); a `.keras` file is loaded as it is.
    """
    from ssvad_keras.vos.model import load_vos_model
    from ssvad_keras.vos.train import VosRunDir

    path = Path(checkpoint)
    if path.is_dir():
        run = VosRunDir.open(path)
        config = run.load_config()
        for candidate in (run.best_model_path, run.last_model_path):
            if candidate.is_file():
                return load_vos_model(candidate), config
        raise CheckpointError("run holds no best.keras or last.keras yet", path)
    return load_vos_model(path), None


def predict_split(
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    split: str,
    out: str | os.PathLike,
    *,
    video_ids: Sequence[str] | None = None,
    progress: bool = True,
    given_resize: str | None = None,
) -> tuple[Path, Path]:
    """Write the YouTube-VOS submission of a split: `out/Annotations/<video>/<frame>.png` and
    `out.zip` (with `Annotations/` at its root), both atomically.

    Args:
        checkpoint: a `ssvad vos train` run folder or a `.keras` VOS model.
        data_dir: the dataset root holding `<split>/` (YouTube-VOS layout).
        split: the split folder, e.g. "valid".
        out: the prediction folder to write.
        video_ids: only these videos (default all in the split's meta).
        progress: show a rich progress bar.
        given_resize: "area" or "nearest" (`propagate_video`); None: the run config's
            `vos.given_mask_resize`, "area" for a `.keras` file.

    Returns:
        (folder, zip) paths.
    """
    model, config = model_from_checkpoint(checkpoint)
    threshold = config.vos.mask_threshold if config else 0.5
    batch_size = config.vos.predict_batch_size if config else 8
    if given_resize is None:
        given_resize = config.vos.given_mask_resize if config else "area"
    videos = read_vos_split(Path(data_dir) / split, video_ids)
    forward = inference_function(model)
    out = Path(out)
    archive = out.with_name(out.name + ".zip")
    with atomic_path(out, directory=True) as tmp, progress_bar(progress) as bar:
        task = bar.add_task(f"predicting {split}", total=len(videos), info="")
        for video in videos:
            folder = tmp / "Annotations" / video.video_id
            folder.mkdir(parents=True)
            for stem, ids in propagate_video(model, video, threshold, batch_size, forward,
                                             given_resize).items():
                write_palette_png(folder / f"{stem}.png", ids)
            bar.update(task, advance=1, info=video.video_id)
        with atomic_path(archive) as zip_tmp, zipfile.ZipFile(zip_tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted((tmp / "Annotations").rglob("*.png")):
                zf.write(path, path.relative_to(tmp).as_posix())
    return out, archive


def score_propagation(
    model, videos: Sequence[VosVideo], threshold: float = 0.5, batch_size: int = 8,
    seen_categories: set[str] | None = None, eager: bool = False, given_resize: str = "area",
) -> VosReport:
    """Propagate each video from its first annotated appearances and score the later
    annotated frames (validation on held-out training videos); `eager` calls the model
    without compiling its forward pass."""
    scores: list[ObjectScore] = []
    if eager:
        def forward(inputs):
            return model(inputs, training=False)["mask_logits"]
    else:
        forward = inference_function(model)
    for video in videos:
        pred = propagate_video(model, video, threshold, batch_size, forward, given_resize)
        gt = {s: read_palette_png(video.annotation_path(s)) for s in video.annotated}
        shape = next(iter(gt.values())).shape if gt else None
        pred = {s: pred.get(s, np.zeros(shape, np.uint8)) for s in gt}
        scores += score_video(video.video_id, pred, gt, video.objects, seen_categories)
    return VosReport(tuple(scores))
