"""`ssvad detect`'s streaming loop: a video's windows of T*s frames batched through the
detector, tiled into clips as evaluation does (`ssvad_keras.data.tiling`), and turned into a box
per frame, the video's class scores, its tubes and the overlay frames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import keras
import numpy as np

from ssvad_keras.data.geometry import eval_geometry, resolve_resize
from ssvad_keras.data.tiling import window_clip_offsets
from ssvad_keras.errors import DataError
from ssvad_keras.evaluation import Tube, mask_to_box
from ssvad_keras.inference.forward import compiled_forward
from ssvad_keras.inference.overlay import draw_overlay
from ssvad_keras.inference.video_reader import VideoFileReader
from ssvad_keras.progress import progress_bar


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


def _normalised(scores: np.ndarray) -> np.ndarray:
    return scores / max(float(scores.sum()), 1e-12)


class DetectionStream:
    """The streaming loop of `detect_video`: windows in, per-frame boxes and scores out.

    Memory stays constant whatever the video's length: one batch of windows is held at a
    time, and per frame only its box survives, never its mask.
    """

    def __init__(self, detector, source: VideoFileReader, names, frame_skip: int, mask_threshold: float,
                 batch_size: int, data_cfg, flip_average: bool = False):
        self.source, self.names = source, names
        self.clip_length, self.height, self.width = (int(n) for n in detector.clip_shape[:3])
        self.frame_skip, self.mask_threshold = frame_skip, mask_threshold
        self.window_size = self.clip_length * frame_skip
        self.windows_per_batch = max(1, batch_size // frame_skip)
        self.forward = compiled_forward(detector, "predicted", flip_average)
        self.repeat_last = data_cfg.eval_padding == "repeat"
        frame_hw = (source.height, source.width)
        crop = data_cfg.eval_crop
        # "resize" squeezes the whole frame to the input: the resized frame is the crop.
        model_hw = (self.height, self.width)
        self.resized_hw = model_hw if crop == "resize" else resolve_resize(frame_hw, model_hw, data_cfg.resize_to)
        self.geometry = eval_geometry(frame_hw, frame_hw, model_hw, crop, data_cfg.resize_to)
        self.offset = tuple(int(v) for v in self.geometry.offset)
        self.to_original = self.geometry.to_original_inclusive
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
            # Past the end: zeros (the paper's padding) or the last frame (`data.eval_padding`).
            batch = np.zeros((len(offsets), t, h, w, 3), np.float32)
            for clip, row in zip(batch, offsets, strict=True):
                clip[row >= 0] = resized[row[row >= 0]]
                if self.repeat_last:
                    clip[row < 0] = resized[-1]
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
