"""Pieces every converter shares: frame readers, video decoding and ground-truth checks.

Readers resize frames to the stored size as they load them, so a converter holds one video at the
stored size in memory, whatever the source resolution. Every problem with the input raises
`DataError` naming the offending file.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ssvad_keras.errors import DataError


def require_dir(path: Path, what: str) -> Path:
    """Return `path` if it is a folder, else raise `DataError` saying `what` is missing."""
    if not path.is_dir():
        raise DataError(f"{what} not found", path)
    return path


def require_file(path: Path, what: str) -> Path:
    """Return `path` if it is a file, else raise `DataError` saying `what` is missing."""
    if not path.is_file():
        raise DataError(f"{what} not found", path)
    return path


def resize_frame(frame: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB frame to (height, width) with area interpolation (no-op at that size)."""
    height, width = frame_size
    if frame.shape[:2] == (height, width):
        return frame
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def resize_mask(mask: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Resize an object-id mask with nearest-neighbour interpolation so ids survive."""
    height, width = frame_size
    mask = np.ascontiguousarray(mask, np.uint8)
    if mask.shape[:2] == (height, width):
        return mask
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)


def read_image_rgb(path: Path) -> np.ndarray:
    """Read one frame image as RGB uint8, or raise `DataError` (missing or undecodable)."""
    if not path.is_file():
        raise DataError("missing frame image", path)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError("cannot decode frame image", path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_frame_folder(
    folder: Path, num_frames: int, pattern: str, frame_size: tuple[int, int]
) -> tuple[list[np.ndarray], tuple[int, int]]:
    """Read frames 1..num_frames named by `pattern` (e.g. "%05d.jpg") from `folder`.

    Returns:
        The frames resized to `frame_size`, and the original (height, width) of the first frame.
    """
    frames, orig_size = [], None
    for index in range(1, num_frames + 1):
        frame = read_image_rgb(folder / (pattern % index))
        if orig_size is None:
            orig_size = frame.shape[:2]
        frames.append(resize_frame(frame, frame_size))
    if orig_size is None:
        raise DataError("annotation says the video has no frames", folder)
    return frames, orig_size


def decode_video(
    path: Path, num_frames: int, frame_size: tuple[int, int]
) -> tuple[list[np.ndarray], tuple[int, int]]:
    """Decode the first `num_frames` frames of a video file with OpenCV (BGR -> RGB).

    A file that is empty, cannot be opened, or ends before `num_frames` (truncated, or shorter
    than the annotation says) raises `DataError`.

    Returns:
        The frames resized to `frame_size`, and the original (height, width).
    """
    if path.stat().st_size == 0:
        raise DataError("video file is empty", path)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DataError("cannot decode video (corrupt, truncated or unsupported codec)", path)
        frames, orig_size = [], None
        while len(frames) < num_frames:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            if orig_size is None:
                orig_size = frame.shape[:2]
            frames.append(resize_frame(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), frame_size))
    finally:
        capture.release()
    if not frames:
        raise DataError("video has no decodable frames (empty or corrupt)", path)
    if len(frames) < num_frames:
        raise DataError(
            f"video has {len(frames)} decodable frames but the annotation says {num_frames} "
            "(truncated?)",
            path,
        )
    return frames, orig_size


def check_box(
    box: np.ndarray, width: int, height: int, strict: bool, where: str, path: Path
) -> tuple[np.ndarray, bool]:
    """Validate one pixel box [x1, y1, x2, y2] (inclusive) against a width x height image.

    A degenerate box or one entirely outside the image raises `DataError`; one partly outside is
    clipped to the image (or refused when `strict`).

    Returns:
        The (possibly clipped) box and whether it was clipped.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if not np.all(np.isfinite(box)):
        raise DataError(f"{where}: box has a non-finite coordinate {list(box)}", path)
    if x2 < x1 or y2 < y1:
        raise DataError(f"{where}: degenerate box {[x1, y1, x2, y2]} (x2 < x1 or y2 < y1)", path)
    if x2 < 0 or y2 < 0 or x1 > width - 1 or y1 > height - 1:
        raise DataError(
            f"{where}: box {[x1, y1, x2, y2]} lies entirely outside the {width}x{height} image",
            path,
        )
    clipped = np.array(
        [max(x1, 0.0), max(y1, 0.0), min(x2, width - 1.0), min(y2, height - 1.0)], np.float32
    )
    was_clipped = bool(np.any(clipped != np.array([x1, y1, x2, y2], np.float32)))
    if was_clipped and strict:
        raise DataError(
            f"{where}: box {[x1, y1, x2, y2]} is partly outside the {width}x{height} image "
            "(--strict refuses it; without --strict it is clipped)",
            path,
        )
    return clipped, was_clipped


def tubes_to_frames(
    tubes: list[np.ndarray],
    num_frames: int,
    size: tuple[int, int],
    strict: bool,
    video_id: str,
    path: Path,
) -> tuple[list[np.ndarray], list[np.ndarray], list[bool], int]:
    """Per-frame boxes (union over tubes), tube ids and `annotated` flags from tubes.

    Args:
        tubes: the video's tubes, (n, 5) rows `frame x1 y1 x2 y2` (1-based frames, as
            `ActVideo.tube_list` gives them); tube i's boxes get tube id i.
        num_frames: frames in the video (tube frames must lie in 1..num_frames).
        size: (height, width) the boxes are expressed in.
        strict: refuse partly-outside boxes instead of clipping them.
        video_id: for error messages.
        path: annotation file named in error messages.

    Returns:
        boxes (k, 4) per frame, tube ids (k,) per frame, annotated per frame, clipped box count.
    """
    height, width = size
    boxes: list[list[np.ndarray]] = [[] for _ in range(num_frames)]
    ids: list[list[int]] = [[] for _ in range(num_frames)]
    clipped = 0
    for tube_id, rows in enumerate(tubes):
        for frame, box in zip(rows[:, 0].astype(np.int64), rows[:, 1:5], strict=True):
            where = f"video {video_id} tube {tube_id} frame {int(frame)}"
            if not 1 <= frame <= num_frames:
                raise DataError(f"{where}: tube frame beyond nframes ({num_frames})", path)
            box, was_clipped = check_box(box, width, height, strict, where, path)
            clipped += was_clipped
            boxes[int(frame) - 1].append(box)
            ids[int(frame) - 1].append(tube_id)
    frame_boxes = [np.asarray(b, np.float32).reshape(-1, 4) for b in boxes]
    frame_ids = [np.asarray(i, np.int64) for i in ids]
    annotated = [len(b) > 0 for b in boxes]
    return frame_boxes, frame_ids, annotated, clipped
