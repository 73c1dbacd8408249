"""`ssvad detect`: run a trained detector over any video file OpenCV reads.

This module finds the detector and its config (a run folder, a `.keras` file or a model),
checks the options, and writes the outputs; the work is done by its neighbours:
`video_reader.VideoFileReader` decodes the file, `streaming.DetectionStream` runs the
detector window by window, `overlay.draw_overlay` draws each frame, `detect_report` prints the
summary.

The video is streamed frame by frame and cut into clips the way the paper's evaluation does
(SPEC 5.1, `ssvad_keras.data.tiling`, the one tiling evaluation uses too): windows of T*s
frames, each giving s interleaved clips (phase p takes frames p, p+s, ..., p+(T-1)s of the
window), padded past the end as `data.eval_padding` says (zeros, or the last frame), so every
frame gets exactly one prediction (with `eval.flip_average`, the mean of the clip's and its
mirror's). Memory stays constant whatever the video's length: only one batch of windows is held
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

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from ssvad_keras.config import DataConfig, ExperimentConfig
from ssvad_keras.data.geometry import check_geometry, log_geometry
from ssvad_keras.errors import ConfigError, DataError
from ssvad_keras.evaluation import Tube, write_tubes_json
from ssvad_keras.inference.detect_report import render_detection_summary
from ssvad_keras.inference.forward import config_for_detector, load_checkpoint
from ssvad_keras.inference.streaming import DetectionStream
from ssvad_keras.inference.video_reader import VideoFileReader
from ssvad_keras.io import atomic_path, read_json
from ssvad_keras.run_dir import RunDir

__all__ = ["DetectionResult", "detect_video", "render_detection_summary"]

TUBES_FILE = "tubes.json"
OVERLAY_FILE = "overlay.mp4"
OUTPUT_FILES = (TUBES_FILE, OVERLAY_FILE)


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


def _class_names_of_run(run_dir: Path, num_classes: int) -> tuple[str, ...] | None:
    """Class names from the run's dataset manifest, or None when the dataset is gone."""
    from ssvad_keras.data import schema

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
        return detector, config_for_detector(detector), None
    detector, config, _ = load_checkpoint(checkpoint_or_model)
    names = None
    if Path(checkpoint_or_model).is_dir():
        names = _class_names_of_run(Path(checkpoint_or_model), detector.num_classes)
    return detector, config or config_for_detector(detector), names


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


def _detection_options(
    config: ExperimentConfig,
    detector: keras.Model,
    frame_skip: int | None,
    mask_threshold: float | None,
    score_floor: float | None,
    batch_size: int | None,
    crop: str | None,
) -> tuple[int, float, float, int, DataConfig]:
    """`detect_video`'s options, defaults from the config, checked: (frame skip, mask
    threshold, score floor, batch size, the data config with the detector's input size and the
    crop).

    Raises:
        ConfigError: an option out of range (one line).
    """
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
    return skip, threshold, floor, batch, data_cfg


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
    source = VideoFileReader(video_path)
    try:
        detector, config, dataset_names = _resolve_detector(checkpoint_or_model)
        skip, threshold, floor, batch, data_cfg = _detection_options(
            config, detector, frame_skip, mask_threshold, score_floor, batch_size, crop
        )
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
            run = DetectionStream(detector, source, names, skip, threshold, batch, data_cfg,
                                  config.eval.flip_average)
            start = time.perf_counter()
            run.run(tmp / OVERLAY_FILE if overlay else None, progress)
            tubes = run.tubes(video_path.stem, floor)
            write_tubes_json(tmp / TUBES_FILE, tubes, class_names=names, videos=[video_path.stem])
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


