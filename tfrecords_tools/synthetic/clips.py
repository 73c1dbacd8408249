"""Training clips rendered on the fly, for `ssvad pretrain`: no clip is ever seen twice.

Each clip is a fresh video of `clip_length x frame_skip` frames (the action spans all of them),
rendered at the frame size the model's geometry resizes stored frames to, randomly cropped to the
model's input and flipped, with the union of the actors' filled boxes as the mask (the
benchmarks' box ground truth). Clip i of stream `seed` is drawn from its own generator seeded by
(seed, i), so a stream is reproducible and two seeds never share a clip.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tfrecords_tools.synthetic.annotate import annotate
from tfrecords_tools.synthetic.render import render_plan
from tfrecords_tools.synthetic.scene import plan_video
from tfrecords_tools.synthetic.vocabulary import vocabulary


@dataclass(frozen=True)
class ClipSpec:
    """The geometry of the clips a model trains on.

    Attributes:
        clip_length: frames per clip (T).
        frame_skip: stride between sampled frames.
        frame_size: (height, width) frames are rendered at (the resized stored size).
        input_size: (height, width) of the random crop the model sees.
    """

    clip_length: int
    frame_skip: int
    frame_size: tuple[int, int]
    input_size: tuple[int, int]


def render_clip(rng: np.random.Generator, vocab: str, spec: ClipSpec) -> dict[str, np.ndarray]:
    """One clip of a random class of `vocab`: `clip` (T, h, w, 3) uint8, `mask` (T, h, w, 1) uint8
    filled boxes, `label` int32."""
    classes = vocabulary(vocab)
    class_index = int(rng.integers(len(classes.classes)))
    span = spec.clip_length * spec.frame_skip
    plan = plan_video(rng, classes, class_index, span, tuple(spec.frame_size), untrimmed_probability=0.0)
    record = annotate(render_plan(plan, rng), class_index, "clip", annotation="boxes")
    height, width = spec.frame_size
    crop_h, crop_w = spec.input_size
    y0 = int(rng.integers(0, height - crop_h + 1))
    x0 = int(rng.integers(0, width - crop_w + 1))
    flip = bool(rng.random() < 0.5)
    frames, masks = [], []
    for t in range(0, span, spec.frame_skip):
        mask = np.zeros((height, width), np.uint8)
        for x1, y1, x2, y2 in record.boxes[t].astype(int):
            mask[y1 : y2 + 1, x1 : x2 + 1] = 1
        frame = record.frames[t][y0 : y0 + crop_h, x0 : x0 + crop_w]
        mask = mask[y0 : y0 + crop_h, x0 : x0 + crop_w]
        frames.append(frame[:, ::-1] if flip else frame)
        masks.append(mask[:, ::-1] if flip else mask)
    return {
        "clip": np.ascontiguousarray(np.stack(frames)),
        "mask": np.ascontiguousarray(np.stack(masks)[..., None]),
        "label": np.int32(class_index),
    }


def _render_indexed(job: tuple[str, ClipSpec, int, int]) -> dict[str, np.ndarray]:
    vocab, spec, seed, index = job
    return render_clip(np.random.default_rng([seed, index]), vocab, spec)


def clip_stream(
    vocab: str, spec: ClipSpec, seed: int, start: int = 0, workers: int = 1
) -> Iterator[dict[str, np.ndarray]]:
    """Clips `start, start + 1, ...` of stream `seed` (endless; clip i seeded by (seed, i)).

    `workers > 1` renders in that many spawned processes (the order and the pixels are the same
    as with one): rendering is pure Python and NumPy, so one process would hold the GIL that the
    training step's input pipeline also needs.
    """
    jobs = ((vocab, spec, seed, index) for index in itertools.count(start))
    if workers <= 1:
        yield from map(_render_indexed, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(_render_indexed, jobs, chunksize=4)
