"""The synthetic benchmark as a dataset: one video per (seed, split, index), written as TFRecords."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssvad_keras.errors import ConfigError
from tfrecords_tools.record_encoder import VideoRecord
from tfrecords_tools.synthetic.annotate import ANNOTATIONS, SOURCE, annotate
from tfrecords_tools.synthetic.render import render_plan
from tfrecords_tools.synthetic.scene import FRAMES_RANGE, UNTRIMMED_PROBABILITY, plan_video
from tfrecords_tools.synthetic.vocabulary import DEFAULT_VOCABULARY, vocabulary
from tfrecords_tools.writer import ConversionSummary, write_dataset

# Per vocabulary: stored frame size and video counts. The scene benchmark is stored at 4:3 like
# UCF101-24 (half its 320x240), so a preset's crop sees what it sees there.
DEFAULT_FRAME_SIZES = {"scenes": (120, 160), "motion": (64, 64), "pretrain": (120, 160)}
DEFAULT_COUNTS = {"scenes": (150, 240), "motion": (100, 40), "pretrain": (400, 80)}
DEFAULT_TRAIN_VIDEOS, DEFAULT_TEST_VIDEOS = DEFAULT_COUNTS[DEFAULT_VOCABULARY]
_SPLIT_CODES = {"train": 0, "test": 1}


def render_synthetic_video(
    rng: np.random.Generator,
    class_index: int,
    num_frames: int | None = None,
    frame_size: tuple[int, int] | None = None,
    untrimmed_probability: float = UNTRIMMED_PROBABILITY,
    video_id: str = "synthetic",
    annotation: str = "masks",
    vocab: str = DEFAULT_VOCABULARY,
) -> VideoRecord:
    """Render one synthetic video of class `class_index` of vocabulary `vocab`: plan, render,
    annotate.

    Args:
        rng: the video's random generator (the only source of randomness).
        class_index: index into the vocabulary's classes.
        num_frames: frames in the video; None draws it from `FRAMES_RANGE`.
        frame_size: (height, width) rendered; None = the vocabulary's default.
        untrimmed_probability: chance that the action covers only part of the video.
        video_id: id stored in the record.
        annotation: "masks" (silhouettes and boxes) or "boxes" (boxes only, `masks` None). The
            pixels and boxes do not depend on it.
        vocab: "scenes" (default), "motion" or "pretrain" (`vocabulary.VOCABULARIES`).

    Returns:
        A `VideoRecord` (source "synthetic") with frames, per-actor boxes and tube ids, masks
        (or None) and annotated flags.

    Example:
    >>> record = render_synthetic_video(np.random.default_rng(0), class_index=1, num_frames=16)
    >>> record.num_frames, record.frames[0].shape
    (16, (120, 160, 3))
    """
    if annotation not in ANNOTATIONS:
        raise ValueError(f"annotation must be one of {ANNOTATIONS}, got {annotation!r}")
    spec = vocabulary(vocab)
    size = tuple(frame_size or DEFAULT_FRAME_SIZES[spec.name])
    plan = plan_video(rng, spec, class_index, num_frames, size, untrimmed_probability)
    return annotate(render_plan(plan, rng), class_index, video_id, annotation)


@dataclass(frozen=True)
class SyntheticVideoSource:
    """Video `index` of split `split` for base seed `seed` (rendered on `load`)."""

    split: str
    index: int
    seed: int
    class_index: int
    annotation: str = "masks"
    vocab: str = DEFAULT_VOCABULARY

    @property
    def video_id(self) -> str:
        return f"{vocabulary(self.vocab).class_names[self.class_index]}/{self.split}_{self.index:04d}"

    def load(self, frame_size: tuple[int, int], strict: bool) -> tuple[VideoRecord, int]:
        rng = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], self.index])
        record = render_synthetic_video(
            rng, self.class_index, frame_size=frame_size, video_id=self.video_id,
            annotation=self.annotation, vocab=self.vocab,
        )
        return record, 0


def synthetic_sources(
    seed: int, num_train: int, num_test: int, annotation: str = "masks", vocab: str = DEFAULT_VOCABULARY
) -> list[SyntheticVideoSource]:
    """The videos of the benchmark: classes balanced per split, in a seed-dependent order."""
    num_classes = len(vocabulary(vocab).classes)
    sources = []
    for split, count in (("train", num_train), ("test", num_test)):
        order = np.random.default_rng([seed, _SPLIT_CODES[split], 1 << 20]).permutation(count)
        sources += [
            SyntheticVideoSource(split, i, seed, int(order[i] % num_classes), annotation, vocab)
            for i in range(count)
        ]
    return sources


def generate_synthetic(
    out: str | os.PathLike,
    seed: int = 0,
    *,
    num_train: int | None = None,
    num_test: int | None = None,
    frame_size: tuple[int, int] | None = None,
    annotation: str = "masks",
    vocab: str = DEFAULT_VOCABULARY,
    workers: int = 1,
    shards: int | None = None,
    overwrite: bool = False,
    labeled: Sequence[float] = (0.2,),
    val_fraction: float = 0.1,
    progress: bool = True,
) -> ConversionSummary:
    """Generate a synthetic benchmark into `out` (TFRecords, manifest, split files).

    Args:
        out: dataset folder to create.
        seed: determines every pixel; the same seed gives identical videos.
        num_train: training videos (classes balanced); None = the vocabulary's default
            (`DEFAULT_COUNTS`).
        num_test: test videos; None = the vocabulary's default.
        frame_size: rendered and stored (height, width); None = the vocabulary's default.
        annotation: "masks" (JHMDB-21-like silhouettes and boxes) or "boxes" (UCF101-24-like:
            boxes only, trained and evaluated as filled boxes).
        vocab: "scenes" (default: classes differ by actor, object, scene and motion, like
            UCF101-24), "motion" (the motion-only benchmark) or "pretrain" (the pretraining
            corpus's classes).
        workers, shards, overwrite, labeled, val_fraction, progress: see `write_dataset`; the
            split seed is `seed`.

    Returns:
        A `ConversionSummary`.

    Raises:
        ConfigError: too few videos, an unknown annotation style or vocabulary.
        DataError: `out` holds a complete benchmark generated with other settings (and
            `overwrite` is off).

    Example:
    >>> generate_synthetic("data/synthetic", seed=0)  # doctest: +SKIP
    """
    try:
        spec = vocabulary(vocab)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    default_train, default_test = DEFAULT_COUNTS[spec.name]
    num_train = default_train if num_train is None else num_train
    num_test = default_test if num_test is None else num_test
    frame_size = tuple(frame_size or DEFAULT_FRAME_SIZES[spec.name])
    classes = list(spec.class_names)
    if num_train < len(classes) or num_test < 1:
        raise ConfigError(
            f"need at least {len(classes)} training videos (one per class) and one test video"
        )
    if annotation not in ANNOTATIONS:
        raise ConfigError(f"annotation must be one of {', '.join(ANNOTATIONS)}, got {annotation!r}")
    options = {
        "seed": seed,
        "vocabulary": spec.name,
        "num_train": num_train,
        "num_test": num_test,
        "frame_size": list(frame_size),
        "frames_range": list(FRAMES_RANGE),
        "untrimmed_probability": UNTRIMMED_PROBABILITY,
        "annotation": annotation,
        "shards": shards,
        "labeled": list(labeled),
        "val_fraction": val_fraction,
    }
    return write_dataset(
        Path(out), SOURCE, classes, synthetic_sources(seed, num_train, num_test, annotation, spec.name),
        frame_size, options, workers=workers, shards=shards, overwrite=overwrite,
        labeled=labeled, seed=seed, val_fraction=val_fraction, progress=progress,
        # Manifests from before an option existed hold what it implied then: masks, motion only.
        content_options={"seed": None, "vocabulary": "motion", "num_train": None, "num_test": None,
                         "frame_size": None, "annotation": "masks"},
    )
