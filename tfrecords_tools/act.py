"""The ACT ground-truth pickles (`UCF101v2-GT.pkl`, `JHMDB-GT.pkl`), read and checked for
conversion.

Both are Python-2 pickles of a dict with `labels` (class names), `gttubes` {video: {label:
[array (n, 5) rows `frame x1 y1 x2 y2`, 1-based frames]}}, `nframes` {video: int},
`train_videos` / `test_videos` (one list of video ids per split) and `resolution` {video: (h, w)}.
They are loaded with the restricted unpickler: anything but containers, strings, numbers and
NumPy arrays is refused. The layout is parsed by `ssvad_keras.evaluation.act_io.
parse_act_annotation` (the one reader, shared with evaluation); this module adds what
conversion needs on top: both split lists, and tubes and a frame count for every video.
"""

from __future__ import annotations

from pathlib import Path

from ssvad_keras.errors import DataError
from ssvad_keras.evaluation.act_io import ActAnnotation, parse_act_annotation
from ssvad_keras.io import load_pickle_restricted

REQUIRED_KEYS = ("labels", "gttubes", "nframes", "train_videos", "test_videos")


def load_act_annotation(path: Path, split: int = 1) -> ActAnnotation:
    """Read an ACT ground-truth pickle and return split `split`'s (1-based) train/test videos.

    Every video of the split must have tubes and `nframes` >= 1. Boxes are not checked here:
    `tfrecords_tools.common.tubes_to_frames` checks each against its image, naming the frame.

    Raises:
        DataError: the file is missing, unsafe, or not in the ACT structure (one line naming it).
    """
    data = load_pickle_restricted(path)
    if not isinstance(data, dict):
        raise DataError(f"expected a dict, found {type(data).__name__}", path)
    for key in REQUIRED_KEYS:
        if key not in data:
            raise DataError(f"missing key '{key}'", path)
    annotation = parse_act_annotation(data, path, split, check_boxes=False)
    for video in (*annotation.train, *annotation.test):
        if not video.tubes:
            raise DataError(f"video {video.video_id!r} has no tubes in 'gttubes'", path)
        if video.num_frames is None:
            raise DataError(f"video {video.video_id!r} has no entry in 'nframes'", path)
        if video.num_frames < 1:
            raise DataError(f"video {video.video_id!r}: nframes is {video.num_frames}", path)
    return annotation
