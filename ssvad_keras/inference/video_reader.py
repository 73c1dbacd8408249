"""Reading any video file OpenCV decodes, frame by frame (`ssvad detect`'s input)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ssvad_keras.errors import DataError

# Containers that report no frame rate still need one for the overlay; 25 is the PAL default.
FALLBACK_FPS = 25.0


class VideoFileReader:
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
