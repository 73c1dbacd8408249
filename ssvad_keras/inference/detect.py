"""`ssvad detect`: run a trained detector over any video file OpenCV reads.

The video is streamed frame by frame and cut into clips the way the paper's evaluation does
(SPEC 5.1): windows of T*s frames, each giving s interleaved clips (phase p takes frames
p, p+s, ..., p+(T-1)s of the window), zero-padded past the end, so every frame gets exactly one
prediction. Memory stays constant whatever the video's length: only one batch of windows is held
(`batch_size // s` windows, at least one), and per frame only its box survives, never its mask.

Geometry: frames reach the model as in evaluation (`data.eval_crop` of the run's config, or the
`crop` argument). "center" (the default): each frame is resized by the rule the detector was
trained with (`data.resize_to`, "auto" by default: `ssvad_keras.data.geometry`, so actors have the
size they had in training) and its centre (H, W) is cut out; the periphery outside that crop is
not seen. "resize": every frame is squeezed whole to (H, W), so nothing falls outside the model's
view but wide videos are distorted. Either way a mask-pixel box maps back to the original frame
through `eval_geometry`, the mapping evaluation uses.

Outputs (in `<video stem>_detections/` unless told otherwise, written as one atomic folder):
`tubes.json` in the ACT format (one tube per class whose video probability reaches the score
floor, over the frames whose mask is non-empty, boxes at the original resolution, 1-based frames,
plus a `class_name` field that `read_tubes_json` tolerates) and `overlay.mp4` (mask tint, box,
class and score on every frame).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np

from ssvad_keras.config import ExperimentConfig
from ssvad_keras.data.geometry import (
    EvalGeometry,
    check_geometry,
    eval_geometry,
    log_geometry,
    resolve_resize,
)
from ssvad_keras.errors import ConfigError, DataError
from ssvad_keras.evaluation import Tube, mask_to_box
from ssvad_keras.inference.evaluate import (
    _compiled_forward,
    _config_for,
    _pixel_box_mapper,
    load_detector,
)
from ssvad_keras.io import atomic_path, read_json
from ssvad_keras.progress import progress_bar

TUBES_FILE = "tubes.json"
OVERLAY_FILE = "overlay.mp4"
OUTPUT_FILES = (TUBES_FILE, OVERLAY_FILE)
# Containers that report no frame rate still need one for the overlay; 25 is the PAL default.
FALLBACK_FPS = 25.0
TINT_RGB = np.array([0, 220, 90], np.float32)
TINT_ALPHA = 0.45
BOX_RGB = (255, 200, 0)


def window_clip_offsets(window_frames: int, clip_length: int, frame_skip: int) -> np.ndarray:
    """Frames of each clip of one window, as offsets into the window (SPEC 5.1).

    A window holds up to `clip_length * frame_skip` frames; phase `p` takes offsets
    `p, p + s, ..., p + (T - 1) s`. Offsets past the window's last frame are -1 (zero padding).
    A phase that would hold only padding (a short last window) is left out, so every clip has
    at least one real frame.

    Args:
        window_frames: real frames in the window, 1..T*s.
        clip_length: T, frames per clip.
        frame_skip: s, the temporal stride (and the number of phases).

    Returns:
        int64 (clips, T) offsets, -1 on padding.

    Example:

    >>> window_clip_offsets(5, clip_length=3, frame_skip=2).tolist()
    [[0, 2, 4], [1, 3, -1]]
    """
    if not 1 <= window_frames <= clip_length * frame_skip:
        raise ValueError(f"a window holds 1..{clip_length * frame_skip} frames, got {window_frames}")
    phases = np.arange(min(frame_skip, window_frames))
    offsets = phases[:, None] + frame_skip * np.arange(clip_length)[None, :]
    return np.where(offsets < window_frames, offsets, -1)


def clip_frame_indices(num_frames: int, clip_length: int, frame_skip: int) -> np.ndarray:
    """Frame indices of every clip of a whole video, window after window (SPEC 5.1).

    The same tiling `detect_video` streams, laid out for the whole video: each index in
    `0..num_frames - 1` appears in exactly one clip; the rest is -1 padding.

    Args:
        num_frames: frames in the video.
        clip_length: T, frames per clip.
        frame_skip: s, the temporal stride.

    Returns:
        int64 (clips, T) 0-based frame indices, -1 on padding.

    Example:

    >>> clip_frame_indices(10, clip_length=2, frame_skip=2).tolist()
    [[0, 2], [1, 3], [4, 6], [5, 7], [8, -1], [9, -1]]
    """
    window = clip_length * frame_skip
    rows = []
    for start in range(0, num_frames, window):
        offsets = window_clip_offsets(min(window, num_frames - start), clip_length, frame_skip)
        rows.append(np.where(offsets >= 0, offsets + start, -1))
    return np.concatenate(rows) if rows else np.zeros((0, clip_length), np.int64)


@dataclass
class DetectionResult:
    """What `detect_video` found and wrote.

    Attributes:
        video_path: the input video.
        video_id: id used in `tubes.json` (the file's stem).
        num_frames: frames decoded.
        fps: the input's frame rate (the overlay's too).
        frame_size: original (height, width).
        seconds: wall time of decoding, inference and writing.
        class_names: one name per class.
        class_names_source: "user" (`--classes`), "dataset" (the run's `dataset.json`) or
            "generic" (`class_<i>`).
        class_probs: (C,) the video's class distribution: the mean of its clips' class scores,
            normalised to sum 1.
        window_probs: (windows, C) the same per window of T*s frames.
        window_frames: T*s, frames per window (the last one may be shorter).
        boxes: (num_frames, 4) `x1 y1 x2 y2`, pixel-inclusive at the original resolution, NaN
            on frames whose mask is empty.
        tubes: the tubes written to `tubes.json`.
        out_dir: the output folder.
        overlay_path: `overlay.mp4`, or None with `overlay=False`.
    """

    video_path: Path
    video_id: str
    num_frames: int
    fps: float
    frame_size: tuple[int, int]
    seconds: float
    class_names: tuple[str, ...]
    class_names_source: str
    class_probs: np.ndarray
    window_probs: np.ndarray
    window_frames: int
    boxes: np.ndarray
    tubes: list[Tube]
    out_dir: Path
    overlay_path: Path | None

    @property
    def tubes_path(self) -> Path:
        return self.out_dir / TUBES_FILE

    @property
    def processing_fps(self) -> float:
        """Frames processed per second of wall time."""
        return self.num_frames / max(self.seconds, 1e-9)

    @property
    def predicted_class(self) -> int:
        return int(np.argmax(self.class_probs))

    @property
    def frames_with_detection(self) -> int:
        return int(np.isfinite(self.boxes[:, 0]).sum())

    def top_classes(self, k: int = 3) -> list[tuple[str, float]]:
        """The `k` most probable classes as (name, probability), best first."""
        order = np.argsort(-self.class_probs, kind="stable")[:k]
        return [(self.class_names[i], float(self.class_probs[i])) for i in order]


class VideoSource:
    """A video file opened with OpenCV, checked to hold at least one decodable frame.

    Frames come out as RGB uint8 at the size of the first frame (a stream that changes size
    midway is resized to it, since the overlay writer needs one size).

    Raises:
        DataError: the file is missing, OpenCV cannot open it, or it has no decodable frame.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError("video file not found", self.path)
        # FFmpeg would print its own complaint (e.g. "moov atom not found") above our one-line
        # error; a user-set level still wins.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise DataError("OpenCV cannot decode this file as a video", self.path)
        ok, first = self._capture.read()
        if not ok or first is None or first.ndim != 3:
            self._capture.release()
            raise DataError("the video has no decodable frames", self.path)
        self._first: np.ndarray | None = first
        self.height, self.width = first.shape[:2]
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if math.isfinite(fps) and fps > 0 else FALLBACK_FPS
        # Containers may misreport the count; it only sizes the progress bar.
        self.frame_count_hint = max(int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)), 1)

    def frames(self) -> Iterator[np.ndarray]:
        """Yield every frame once, RGB uint8 (height, width, 3)."""
        while True:
            if self._first is not None:
                bgr, self._first = self._first, None
            else:
                ok, bgr = self._capture.read()
                if not ok or bgr is None:
                    return
            if bgr.shape[:2] != (self.height, self.width):
                bgr = cv2.resize(bgr, (self.width, self.height), interpolation=cv2.INTER_AREA)
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._capture.release()


def _windows(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    window: list[np.ndarray] = []
    for frame in frames:
        window.append(frame)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def _resize_to_model(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    # Area averaging when shrinking avoids the aliasing of point sampling on large videos.
    shrink = frame.shape[0] > height or frame.shape[1] > width
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def probabilities_on_frame(probs: np.ndarray, frame_hw: tuple[int, int], geometry: EvalGeometry | None = None) -> np.ndarray:
    """Model-resolution probabilities placed on the original frame (bilinear), zero outside the
    model's crop.

    Args:
        probs: (H, W) foreground probabilities at the model's resolution.
        frame_hw: the original frame's (height, width).
        geometry: where the model's pixels lie in the frame (`eval_geometry`); None: the whole
            frame was resized to (H, W).

    Returns:
        float32 (height, width).
    """
    height, width = frame_hw
    probs = probs.astype(np.float32)
    if geometry is None:
        return cv2.resize(probs, (width, height), interpolation=cv2.INTER_LINEAR)
    (sy, sx), (oy, ox) = geometry.scale, geometry.offset
    # Frame pixel centre x + 0.5 lies at model coordinate (x + 0.5) / sx - ox; OpenCV samples
    # pixel centres at integers, hence the half-pixel shifts.
    to_model = np.array([[1 / sx, 0, 0.5 / sx - ox - 0.5], [0, 1 / sy, 0.5 / sy - oy - 0.5]], np.float64)
    return cv2.warpAffine(
        probs, to_model, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
    )


def draw_overlay(
    frame: np.ndarray,
    probs: np.ndarray,
    box: np.ndarray | None,
    caption: str,
    mask_threshold: float = 0.5,
    geometry: EvalGeometry | None = None,
) -> np.ndarray:
    """One overlay frame: the mask tinted, its box, and a caption (class and score).

    Args:
        frame: (H0, W0, 3) RGB uint8 original frame.
        probs: (H, W) foreground probabilities at the model's resolution; placed on the frame
            (bilinear, `probabilities_on_frame`) before thresholding, so the tint follows the
            mask's smooth outline.
        box: `[x1, y1, x2, y2]` pixel-inclusive in original pixels, or None.
        caption: text drawn above the box (top left of the frame without a box).
        mask_threshold: foreground probability threshold.
        geometry: where the model's pixels lie in the frame; None: the whole frame.

    Returns:
        (H0, W0, 3) BGR uint8, ready for `cv2.VideoWriter`.

    Example:

    >>> out = draw_overlay(np.zeros((48, 64, 3), np.uint8), np.ones((8, 8)), None, "a 0.9")
    >>> out.shape, bool(out[..., 1].max() > 0)
    ((48, 64, 3), True)
    """
    height, width = frame.shape[:2]
    fg = probabilities_on_frame(probs, (height, width), geometry) >= mask_threshold
    out = frame.astype(np.float32)
    out[fg] = (1.0 - TINT_ALPHA) * out[fg] + TINT_ALPHA * TINT_RGB
    out = cv2.cvtColor(out.astype(np.uint8), cv2.COLOR_RGB2BGR)
    thickness = max(1, round(min(height, width) / 240))
    scale = max(0.3, min(height, width) / 480)
    color = BOX_RGB[::-1]
    if box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        anchor = (x1, y1)
    else:
        anchor = (0, 0)
    (text_w, text_h), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    # Keep the caption inside the frame: above the box when there is room, else inside it.
    x = min(max(anchor[0], 0), max(width - text_w, 0))
    y = anchor[1] - base - 2 if anchor[1] - text_h - base - 2 >= 0 else anchor[1] + text_h + 2
    cv2.rectangle(out, (x, y - text_h - 2), (x + text_w + 2, y + base), (0, 0, 0), cv2.FILLED)
    cv2.putText(out, caption, (x + 1, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)
    return out


def _class_names_of_run(run_dir: Path, num_classes: int) -> tuple[str, ...] | None:
    """Class names from the run's dataset manifest, or None when the dataset is gone."""
    from ssvad_keras.data import schema
    from ssvad_keras.training.run_dir import RunDir

    try:
        data_dir = Path(RunDir.open(run_dir).load_data()["data_dir"])
        classes = read_json(data_dir / schema.MANIFEST).get("classes")
    except (DataError, AttributeError):
        return None
    if not isinstance(classes, list) or len(classes) != num_classes:
        return None
    return tuple(str(c) for c in classes)


def _resolve_detector(
    checkpoint_or_model: str | os.PathLike | keras.Model,
) -> tuple[keras.Model, ExperimentConfig, tuple[str, ...] | None]:
    if isinstance(checkpoint_or_model, keras.Model):
        detector = checkpoint_or_model
        return detector, _config_for(detector), None
    detector, config, _ = load_detector(checkpoint_or_model)
    names = None
    if Path(checkpoint_or_model).is_dir():
        names = _class_names_of_run(Path(checkpoint_or_model), detector.num_classes)
    return detector, config or _config_for(detector), names


def _check_out_dir(out_dir: Path) -> None:
    """Refuse to replace anything but an earlier `detect` output (the folder is replaced whole)."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise DataError("output path exists and is not a folder", out_dir)
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in OUTPUT_FILES)
    if foreign:
        raise DataError(
            f"output folder holds files detect did not write (e.g. {foreign[0]!r}); choose another --out",
            out_dir,
        )


def detect_video(
    video_path: str | os.PathLike,
    checkpoint_or_model: str | os.PathLike | keras.Model,
    out_dir: str | os.PathLike | None = None,
    *,
    frame_skip: int | None = None,
    mask_threshold: float | None = None,
    score_floor: float | None = None,
    overlay: bool = True,
    class_names: Sequence[str] | None = None,
    batch_size: int | None = None,
    crop: str | None = None,
    progress: bool = False,
) -> DetectionResult:
    """Detect the action in a video file: its class, a box per frame, tubes and an overlay.

    Frames reach the detector as in evaluation (the module docstring, Geometry) and are tiled
    into clips as in the paper's evaluation (SPEC 5.1); each clip is decoded with its own predicted class (SPEC 2).
    The video's class distribution is the mean of its clips' class scores normalised to sum 1.
    Per frame, the box is the bounding box of the largest connected component of the mask
    (probability >= `mask_threshold`), scaled to the original resolution. Each class whose
    probability reaches `score_floor` gets one tube over the frames with a box (the ACT
    detections of SPEC 5.2). The overlay captions each frame with the running class estimate
    (the mean over the clips seen so far), since frames are written as soon as their window is
    predicted.

    Args:
        video_path: any video file OpenCV decodes.
        checkpoint_or_model: a training run directory (its `best.keras`, config and dataset
            class names), a `.keras` file, or a loaded detector (anything with `clip_shape` and
            `num_classes` that returns `class_scores` and `loc_logits`).
        out_dir: output folder; default `<video stem>_detections/` next to the video. An
            existing folder is replaced only if it holds nothing but `detect` outputs.
        frame_skip: s, the stride between a clip's frames; default the config's
            `data.frame_skip` (2).
        mask_threshold: foreground probability threshold; default `eval.mask_threshold` (0.5).
        score_floor: classes below this video probability get no tube; default
            `eval.tube_score_floor` (0.1).
        overlay: write `overlay.mp4` (mp4v, the input's size and frame rate).
        class_names: one name per class; default the run's dataset classes, else `class_<i>`.
        batch_size: clips per forward pass (rounded down to whole windows of s clips, at least
            one window); default `eval.batch_size`. Memory grows with it, not with the video.
        crop: "center" (resize by `data.resize_to`, then the centre crop, as in evaluation) or
            "resize" (the whole frame squeezed to the input); default `data.eval_crop`.
        progress: show a progress bar.

    Returns:
        A `DetectionResult`.

    Raises:
        DataError: the video is missing or undecodable, or `out_dir` holds other files.
        CheckpointError: the checkpoint is missing or not a detector.
        ConfigError: an option is out of range, or `class_names` has the wrong length.

    Example:

    >>> result = detect_video("walk.mp4", "runs/ucf_full")  # doctest: +SKIP
    >>> result.top_classes(1), result.tubes_path  # doctest: +SKIP
    ([('WalkingWithDog', 0.41)], PosixPath('walk_detections/tubes.json'))
    """
    video_path = Path(video_path)
    source = VideoSource(video_path)
    try:
        detector, config, dataset_names = _resolve_detector(checkpoint_or_model)
        skip = config.data.frame_skip if frame_skip is None else int(frame_skip)
        threshold = config.eval.mask_threshold if mask_threshold is None else float(mask_threshold)
        floor = config.eval.tube_score_floor if score_floor is None else float(score_floor)
        batch = config.eval.batch_size if batch_size is None else int(batch_size)
        if skip < 1:
            raise ConfigError(f"frame skip must be >= 1, got {skip}")
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"mask threshold must lie in (0, 1), got {threshold}")
        if not 0.0 <= floor <= 1.0:
            raise ConfigError(f"score floor must lie in [0, 1], got {floor}")
        if batch < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch}")
        data_cfg = config.data.model_copy(update={"input_size": tuple(int(n) for n in detector.clip_shape[1:3])})
        if crop is not None:
            if crop not in ("center", "resize"):
                raise ConfigError(f"crop must be 'center' or 'resize', got {crop!r}")
            data_cfg = data_cfg.model_copy(update={"eval_crop": crop})
        check_geometry((source.height, source.width), data_cfg, data_cfg.eval_crop, video_path)
        log_geometry((source.height, source.width), data_cfg)
        num_classes = int(detector.num_classes)
        if class_names is not None:
            names, names_source = tuple(str(c) for c in class_names), "user"
            if len(names) != num_classes:
                raise ConfigError(f"{len(names)} class names given for a detector with {num_classes} classes")
        elif dataset_names is not None:
            names, names_source = dataset_names, "dataset"
        else:
            names, names_source = tuple(f"class_{i}" for i in range(num_classes)), "generic"
        out_dir = Path(out_dir) if out_dir is not None else video_path.with_name(f"{video_path.stem}_detections")
        _check_out_dir(out_dir)
        with atomic_path(out_dir, directory=True) as tmp:
            run = _DetectionRun(detector, source, names, skip, threshold, batch, data_cfg)
            start = time.perf_counter()
            run.run(tmp / OVERLAY_FILE if overlay else None, progress)
            tubes = run.tubes(video_path.stem, floor)
            _write_tubes(tmp / TUBES_FILE, video_path.stem, tubes, names)
            seconds = time.perf_counter() - start
    finally:
        source.close()
    return DetectionResult(
        video_path=video_path,
        video_id=video_path.stem,
        num_frames=run.num_frames,
        fps=source.fps,
        frame_size=(source.height, source.width),
        seconds=seconds,
        class_names=names,
        class_names_source=names_source,
        class_probs=run.class_probs(),
        window_probs=np.asarray(run.window_probs).reshape(-1, num_classes),
        window_frames=run.window_size,
        boxes=np.asarray(run.boxes, np.float64).reshape(-1, 4),
        tubes=tubes,
        out_dir=out_dir,
        overlay_path=out_dir / OVERLAY_FILE if overlay else None,
    )


def _normalised(scores: np.ndarray) -> np.ndarray:
    return scores / max(float(scores.sum()), 1e-12)


class _DetectionRun:
    """The streaming loop of `detect_video`: windows in, per-frame boxes and scores out."""

    def __init__(self, detector, source: VideoSource, names, frame_skip: int, mask_threshold: float,
                 batch_size: int, data_cfg):
        self.source, self.names = source, names
        self.clip_length, self.height, self.width = (int(n) for n in detector.clip_shape[:3])
        self.frame_skip, self.mask_threshold = frame_skip, mask_threshold
        self.window_size = self.clip_length * frame_skip
        self.windows_per_batch = max(1, batch_size // frame_skip)
        self.forward = _compiled_forward(detector)
        frame_hw = (source.height, source.width)
        crop = data_cfg.eval_crop
        # "resize" squeezes the whole frame to the input: the resized frame is the crop.
        model_hw = (self.height, self.width)
        self.resized_hw = model_hw if crop == "resize" else resolve_resize(frame_hw, model_hw, data_cfg.resize_to)
        self.geometry = eval_geometry(frame_hw, frame_hw, model_hw, crop, data_cfg.resize_to)
        self.offset = tuple(int(v) for v in self.geometry.offset)
        self.to_original = _pixel_box_mapper(self.geometry)
        self.overlay_geometry = None if crop == "resize" else self.geometry
        self.num_frames = 0
        self.score_sum = np.zeros(int(detector.num_classes), np.float64)
        self.clips_seen = 0
        self.window_probs: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []

    def class_probs(self) -> np.ndarray:
        return _normalised(self.score_sum / max(self.clips_seen, 1))

    def run(self, overlay_path: Path | None, progress: bool) -> None:
        writer = None
        if overlay_path is not None:
            size = (self.source.width, self.source.height)
            writer = cv2.VideoWriter(str(overlay_path), cv2.VideoWriter_fourcc(*"mp4v"), self.source.fps, size)
            if not writer.isOpened():
                raise DataError("OpenCV cannot write an mp4v video here", overlay_path)
        try:
            with progress_bar(progress) as bar:
                task = bar.add_task("detecting", total=self.source.frame_count_hint, info="")
                pending: list[list[np.ndarray]] = []
                for window in _windows(self.source.frames(), self.window_size):
                    pending.append(window)
                    if len(pending) == self.windows_per_batch:
                        self._predict(pending, writer)
                        bar.update(task, advance=sum(map(len, pending)))
                        pending = []
                if pending:
                    self._predict(pending, writer)
                    bar.update(task, advance=sum(map(len, pending)))
        finally:
            if writer is not None:
                writer.release()

    def _predict(self, windows: list[list[np.ndarray]], writer) -> None:
        """One forward pass over the clips of `windows`, then per-frame boxes and overlay."""
        t, h, w = self.clip_length, self.height, self.width
        layouts, clips = [], []
        for frames in windows:
            (rh, rw), (oy, ox) = self.resized_hw, self.offset
            resized = np.stack([_resize_to_model(f, rh, rw)[oy : oy + h, ox : ox + w] for f in frames])
            resized = resized.astype(np.float32) / 255.0
            offsets = window_clip_offsets(len(frames), t, self.frame_skip)
            batch = np.zeros((len(offsets), t, h, w, 3), np.float32)  # zero padding past the end
            for clip, row in zip(batch, offsets, strict=True):
                clip[row >= 0] = resized[row[row >= 0]]
            layouts.append(offsets)
            clips.append(batch)
        out = self.forward(np.concatenate(clips))
        probs = keras.ops.convert_to_numpy(out["loc_probs"])[..., 0]
        scores = keras.ops.convert_to_numpy(out["class_scores"]).astype(np.float64)
        first = 0
        for frames, offsets in zip(windows, layouts, strict=True):
            count = len(offsets)
            frame_probs = np.zeros((len(frames), h, w), np.float32)
            for clip_probs, row in zip(probs[first : first + count], offsets, strict=True):
                frame_probs[row[row >= 0]] = clip_probs[row >= 0]
            window_scores = scores[first : first + count]
            first += count
            self.window_probs.append(_normalised(window_scores.mean(axis=0)))
            self.score_sum += window_scores.sum(axis=0)
            self.clips_seen += count
            running = self.class_probs()
            best = int(np.argmax(running))
            caption = f"{self.names[best]} {running[best]:.2f}"
            for frame, frame_prob in zip(frames, frame_probs, strict=True):
                box = mask_to_box(frame_prob >= self.mask_threshold)
                if box is not None:
                    box = self.to_original(box[None])[0]
                self.boxes.append(np.full(4, np.nan) if box is None else box)
                if writer is not None:
                    writer.write(
                        draw_overlay(frame, frame_prob, box, caption, self.mask_threshold, self.overlay_geometry)
                    )
            self.num_frames += len(frames)

    def tubes(self, video_id: str, score_floor: float) -> list[Tube]:
        """One tube per class at or above `score_floor`, over the frames with a box."""
        boxes = np.asarray(self.boxes, np.float64).reshape(-1, 4)
        kept = np.flatnonzero(np.isfinite(boxes[:, 0]))
        if not len(kept):
            return []
        rows = np.column_stack([kept + 1, boxes[kept]])  # 1-based frame numbers
        probs = self.class_probs()
        return [Tube(video_id, int(c), float(probs[c]), rows) for c in np.flatnonzero(probs >= score_floor)]


def _write_tubes(path: Path, video_id: str, tubes: list[Tube], names: Sequence[str]) -> None:
    """`tubes.json` in the ACT format, each tube with its `class_name` (readers ignore extra keys).

    A video without tubes is written as `{video_id: []}`, so the file still names it.
    """
    entries = [
        {
            "label": tube.label,
            "class_name": names[tube.label],
            "score": tube.score,
            "boxes": [[int(row[0]), *(float(v) for v in row[1:])] for row in tube.boxes],
        }
        for tube in tubes
    ]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({video_id: entries}, separators=(",", ":")) + "\n", encoding="utf-8")


def render_detection_summary(result: DetectionResult):
    """A rich table summarising a `DetectionResult` for the CLI.

    Shows frames, frame rate processed, predicted class with probability, the top 3 classes,
    frames with a detection, the per-window class timeline and the output paths.
    """
    from rich.table import Table

    table = Table(title=f"ssvad detect: {result.video_path.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")  # paths wrap rather than lose their end
    height, width = result.frame_size
    table.add_row("frames", f"{result.num_frames} at {width}x{height}, {result.fps:.2f} fps")
    table.add_row("processed", f"{result.processing_fps:.1f} frames/s ({result.seconds:.1f} s)")
    best = result.predicted_class
    table.add_row("predicted class", f"{result.class_names[best]} ({result.class_probs[best]:.3f})")
    table.add_row("top 3", ", ".join(f"{name} {p:.3f}" for name, p in result.top_classes(3)))
    share = result.frames_with_detection / max(result.num_frames, 1)
    table.add_row("frames with a detection", f"{result.frames_with_detection} / {result.num_frames} ({share:.0%})")
    table.add_row("per window", _window_timeline(result))
    if result.class_names_source == "generic":
        table.add_row("class names", "none known: class_<i> (give --classes a,b,c)")
    table.add_row("tubes", f"{result.tubes_path} ({len(result.tubes)} tubes)")
    if result.overlay_path is not None:
        table.add_row("overlay", str(result.overlay_path))
    return table


def _window_timeline(result: DetectionResult) -> str:
    """Runs of consecutive windows with the same top class: `frames 1-32: a 0.61; 33-50: b 0.40`."""
    if not len(result.window_probs):
        return "-"
    top = np.argmax(result.window_probs, axis=1)
    parts, start = [], 0
    for i in range(1, len(top) + 1):
        if i == len(top) or top[i] != top[start]:
            first = start * result.window_frames + 1
            last = min(i * result.window_frames, result.num_frames)
            mean = float(result.window_probs[start:i, top[start]].mean())
            parts.append(f"{first}-{last}: {result.class_names[top[start]]} {mean:.2f}")
            start = i
    shown = parts if len(parts) <= 8 else [*parts[:4], f"... ({len(parts) - 8} more) ...", *parts[-4:]]
    return "frames " + "; ".join(shown)
