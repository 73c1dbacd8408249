"""How evaluation and detection cut a video into clips (SPEC 5.1): the one tiling of the project.

A video is cut into windows of T*s frames; each window gives s interleaved clips (phase p takes
frames p, p+s, ..., p+(T-1)s of the window), zero-padded past the end, so every frame is in
exactly one clip. A phase that would hold only padding (the last window shorter than s frames)
is left out: every clip has at least one real frame, so no all-black clip adds its class scores
to a video's. `eval_clip_dataset` (data/pipeline.py) and `ssvad detect`
(inference/detect.py) both call these functions. Pure NumPy.
"""

from __future__ import annotations

import numpy as np


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

    The tiling of `window_clip_offsets`, laid out for the whole video: each index in
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
    for start in range(0, int(num_frames), window):
        offsets = window_clip_offsets(min(window, int(num_frames) - start), clip_length, frame_skip)
        rows.append(np.where(offsets >= 0, offsets + start, -1))
    return np.concatenate(rows) if rows else np.zeros((0, clip_length), np.int64)
