"""The built-in synthetic action-detection benchmark (`ssvad prepare synthetic`).

Every video shows one actor, an articulated stick-and-blob figure (torso, head, two-segment arms
and legs, filled shapes with random size, colours and texture), performing one of five actions on
a panning, cluttered, textured background. Distractors share the actors' appearance distribution:
other figures that drift while idling and textured shapes that drift, some in front of the actor
(occlusion). Classes differ only by motion, so a detector has to read motion, not appearance. Some
videos are untrimmed: the actor is absent or idle before and/or after the action, and those frames
are not annotated. Boxes and masks come from the actor's rendered visible silhouette, so they are
exact and agree with each other.

Two annotation styles (`annotation`): "masks" stores the silhouette and its box on every annotated
frame, like JHMDB-21's puppet masks; "boxes" stores only the boxes, like UCF101-24, so training
and evaluation use filled-box masks exactly as they do on UCF101-24 (SPEC 1.3). `make demo` uses
"boxes": its experiment is the paper's headline setting (UCF101-24, 20 % labels), and at 64x64 the
silhouette's 1-3 pixel limbs are a finer target than either real dataset's annotation.

Generation uses NumPy and OpenCV drawing only, no downloads, and is deterministic per seed: video
i of a split is drawn from its own generator seeded by (seed, split, i), so the bytes do not
depend on the number of workers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ssvad_keras.errors import ConfigError
from tfrecords_tools.record import VideoRecord
from tfrecords_tools.writer import ConversionSummary, write_dataset

SOURCE = "synthetic"
CLASSES = ("walk", "jump", "wave", "spin", "crouch")
DEFAULT_FRAME_SIZE = (64, 64)
DEFAULT_TRAIN_VIDEOS = 100
DEFAULT_TEST_VIDEOS = 40
FRAMES_RANGE = (32, 48)
UNTRIMMED_PROBABILITY = 0.4
ACTOR_ID = 1
ANNOTATIONS = ("masks", "boxes")
_SPLIT_CODES = {"train": 0, "test": 1}


# ----------------------------------------------------------------------------- appearance


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a `cells` x `cells` random grid upsampled bicubically."""
    grid = rng.random((cells, cells)).astype(np.float32)
    noise = cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(noise, 0.0, 1.0)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(40, 256), rng.integers(60, 256)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A brightness multiplier in about [0.6, 1.3]: stripes, blotches or fine noise."""
    height, width = shape
    kind = rng.integers(0, 3)
    if kind == 0:
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(2.5, 7.0)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        phase = (xx * math.cos(angle) + yy * math.sin(angle)) * (2 * math.pi / period)
        base = 0.5 + 0.5 * np.sin(phase)
    elif kind == 1:
        base = _smooth_noise(rng, shape, int(rng.integers(4, 10)))
    else:
        base = rng.random(shape).astype(np.float32)
    return 0.6 + 0.7 * base.astype(np.float32) * rng.uniform(0.4, 1.0)


def _background(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A cluttered textured canvas (float RGB), larger than the frame so it can pan."""
    height, width = shape
    canvas = np.empty((height, width, 3), np.float32)
    low = _smooth_noise(rng, shape, int(rng.integers(3, 7)))
    colour_a, colour_b = _random_colour(rng), _random_colour(rng)
    canvas[:] = low[..., None] * colour_a + (1 - low[..., None]) * colour_b
    # Clutter: shapes of the same kinds and colours the figures use, so colour is no cue.
    scale = min(height, width)
    for _ in range(int(rng.integers(12, 30))):
        colour = tuple(float(c) for c in _random_colour(rng))
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        kind = rng.integers(0, 4)
        if kind == 0:
            axes = (int(rng.integers(2, scale // 8)), int(rng.integers(2, scale // 8)))
            cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        elif kind == 1:
            end = (center[0] + int(rng.integers(-scale // 5, scale // 5)),
                   center[1] + int(rng.integers(-scale // 5, scale // 5)))
            cv2.line(canvas, center, end, colour, int(rng.integers(1, 4)))
        elif kind == 2:
            size = (int(rng.integers(3, scale // 6)), int(rng.integers(3, scale // 6)))
            cv2.rectangle(canvas, center, (center[0] + size[0], center[1] + size[1]), colour, -1)
        else:
            cv2.circle(canvas, center, int(rng.integers(2, scale // 10)), colour, -1)
    canvas *= _texture(rng, shape)[..., None] * 0.5 + 0.5
    return np.clip(canvas, 0, 255)


# ----------------------------------------------------------------------------- figures


@dataclass
class Figure:
    """An articulated figure's body plan and appearance, in pixels."""

    height: float
    colours: np.ndarray  # (4, 3): torso, head, arms, legs
    texture: np.ndarray  # (H, W) brightness multiplier
    limb: int  # limb thickness
    torso_width: int

    @classmethod
    def random(cls, rng: np.random.Generator, frame_size: tuple[int, int]) -> Figure:
        height = rng.uniform(0.38, 0.62) * frame_size[0]
        base = _random_colour(rng)
        colours = np.stack([np.clip(base + rng.normal(0, 45, 3), 0, 255) for _ in range(4)])
        limb = max(1, int(round(height * rng.uniform(0.05, 0.09))))
        torso = max(limb + 1, int(round(height * rng.uniform(0.12, 0.2))))
        return cls(height, colours, _texture(rng, frame_size), limb, torso)


@dataclass
class Pose:
    """Joint angles (radians, 0 = hanging straight down, + towards the figure's front)."""

    hip: tuple[float, float] = (0.0, 0.0)  # foot position (x) and ground line (y), pixels
    lift: float = 0.0  # body raised above the ground (pixels, jumps)
    lean: float = 0.0
    shoulders: tuple[float, float] = (0.15, -0.15)
    elbows: tuple[float, float] = (0.1, 0.1)
    thighs: tuple[float, float] = (0.08, -0.08)
    knees: tuple[float, float] = (0.0, 0.0)
    facing: float = 1.0  # horizontal scale: +-1 facing right/left, |.| < 1 while turning


def _limb_end(start: np.ndarray, angle: float, length: float) -> np.ndarray:
    return start + length * np.array([math.sin(angle), math.cos(angle)])


def _draw_figure(figure: Figure, pose: Pose, shape: tuple[int, int]) -> list[tuple[np.ndarray, int]]:
    """Rasterise the figure: one (mask, colour index) per body part, in drawing order."""
    h = figure.height
    thigh_len, shin_len = 0.24 * h, 0.24 * h
    torso_len, head_r = 0.3 * h, 0.1 * h
    upper_arm, fore_arm = 0.17 * h, 0.16 * h
    # Hip height so that the lower foot touches the ground (crouching lowers the hip).
    leg_drop = max(
        thigh_len * math.cos(t) + shin_len * math.cos(t - k) for t, k in zip(pose.thighs, pose.knees, strict=True)
    )
    foot_x, ground = pose.hip
    hip = np.array([0.0, -leg_drop - pose.lift])
    neck = hip + torso_len * np.array([math.sin(pose.lean), -math.cos(pose.lean)])
    head = neck + (head_r + 0.02 * h) * np.array([math.sin(pose.lean), -math.cos(pose.lean)])
    shoulder = hip + 0.85 * (neck - hip)
    segments = []  # (start, end, thickness, colour index)
    segments.append((hip, neck, figure.torso_width, 0))
    for thigh, knee in zip(pose.thighs, pose.knees, strict=True):
        knee_pt = _limb_end(hip, thigh, thigh_len)
        segments += [(hip, knee_pt, figure.limb + 1, 3),
                     (knee_pt, _limb_end(knee_pt, thigh - knee, shin_len), figure.limb, 3)]
    for shoulder_angle, elbow in zip(pose.shoulders, pose.elbows, strict=True):
        elbow_pt = _limb_end(shoulder, shoulder_angle, upper_arm)
        segments += [(shoulder, elbow_pt, figure.limb, 2),
                     (elbow_pt, _limb_end(elbow_pt, shoulder_angle + elbow, fore_arm), figure.limb, 2)]

    def to_image(point: np.ndarray) -> tuple[int, int]:
        return (int(round(foot_x + pose.facing * point[0])), int(round(ground + point[1])))

    parts = []
    for start, end, thickness, colour in segments:
        mask = np.zeros(shape, np.uint8)
        cv2.line(mask, to_image(start), to_image(end), 1, int(thickness))
        parts.append((mask, colour))
    mask = np.zeros(shape, np.uint8)
    axes = (max(1, int(round(head_r * max(abs(pose.facing), 0.35)))), max(1, int(round(head_r))))
    cv2.ellipse(mask, to_image(head), axes, 0, 0, 360, 1, -1)
    parts.append((mask, 1))
    return parts


def _paint(frame: np.ndarray, figure: Figure, parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Paint a figure's parts onto `frame` (in place); return its silhouette."""
    silhouette = np.zeros(frame.shape[:2], bool)
    for mask, colour in parts:
        on = mask.astype(bool)
        frame[on] = figure.colours[colour] * figure.texture[on][:, None]
        silhouette |= on
    return silhouette


# ----------------------------------------------------------------------------- motions


def idle_pose(t: int, x: float, ground: float, params: dict) -> Pose:
    """Standing with small random sway: what distractors and not-yet-acting actors do."""
    sway = params["sway"] * math.sin(params["sway_freq"] * t + params["sway_phase"])
    return Pose(
        hip=(x, ground),
        shoulders=(0.15 + sway, -0.15 + sway),
        thighs=(0.08, -0.08),
        lean=0.3 * sway,
        facing=params["facing"],
    )


def action_pose(class_index: int, t: int, x: float, ground: float, params: dict) -> Pose:
    """The pose at action time `t` for class `class_index` (`CLASSES`)."""
    phase = 2 * math.pi * params["freq"] * t + params["phase"]
    amp = params["amp"]
    name = CLASSES[class_index]
    if name == "walk":
        swing = amp * math.sin(phase)
        return Pose(
            hip=(x, ground),
            thighs=(swing, -swing),
            knees=(0.6 * max(0.0, -math.sin(phase)) * amp, 0.6 * max(0.0, math.sin(phase)) * amp),
            shoulders=(-0.8 * swing, 0.8 * swing),
            elbows=(0.3, 0.3),
            facing=params["facing"],
        )
    if name == "jump":
        air = max(0.0, math.sin(phase))
        tuck = 1.1 * amp * air
        return Pose(
            hip=(x, ground),
            lift=params["jump_height"] * air,
            thighs=(0.1 + tuck, -0.1 + tuck),
            knees=(2 * tuck, 2 * tuck),
            shoulders=(0.3 + 2.4 * air, -0.3 - 2.4 * air),
            facing=params["facing"],
        )
    if name == "wave":
        wave = 0.45 * math.sin(phase)
        raised = 2.6 + 0.5 * amp
        right = (raised + wave, 0.6 * math.sin(phase + 1.0))
        left = (-raised - wave, -0.6 * math.sin(phase + 1.0)) if params["both_arms"] else (-0.15, 0.1)
        return Pose(
            hip=(x, ground),
            shoulders=(right[0], left[0]),
            elbows=(right[1], left[1]),
            facing=params["facing"],
        )
    if name == "spin":
        # Turning in place: the figure's width passes through zero and flips, arms held out.
        return Pose(
            hip=(x, ground),
            shoulders=(1.45, -1.45),
            elbows=(0.2 * math.sin(phase), 0.2 * math.sin(phase)),
            thighs=(0.15, -0.15),
            facing=params["facing"] * math.cos(phase),
        )
    # crouch: knees fold and unfold, hip going down; arms reach forward to balance.
    bend = amp * 1.3 * (1 - math.cos(phase)) / 2
    return Pose(
        hip=(x, ground),
        thighs=(bend, bend * 0.9),
        knees=(2 * bend, 1.8 * bend),
        lean=0.5 * bend,
        shoulders=(0.2 + 1.2 * bend, 0.1 + 1.2 * bend),
        facing=params["facing"],
    )


def _motion_params(rng: np.random.Generator, figure: Figure) -> dict:
    return {
        "freq": rng.uniform(1 / 14, 1 / 7),
        "phase": rng.uniform(0, 2 * math.pi),
        "amp": rng.uniform(0.45, 0.8),
        "facing": float(rng.choice([-1.0, 1.0])),
        "jump_height": rng.uniform(0.15, 0.3) * figure.height,
        "both_arms": bool(rng.random() < 0.5),
        "sway": rng.uniform(0.02, 0.12),
        "sway_freq": rng.uniform(0.1, 0.4),
        "sway_phase": rng.uniform(0, 2 * math.pi),
    }


# ----------------------------------------------------------------------------- videos


def _draw_distractor(frame: np.ndarray, distractor: dict, t: int) -> np.ndarray:
    """Paint an idling, drifting figure or a drifting textured shape; return its pixels."""
    shape = frame.shape[:2]
    if distractor["kind"] == "figure":
        figure = distractor["figure"]
        x = distractor["x"] + distractor["vx"] * t
        pose = idle_pose(t, x, distractor["ground"], distractor["params"])
        return _paint(frame, figure, _draw_figure(figure, pose, shape))
    mask = np.zeros(shape, np.uint8)
    cx, cy = distractor["center"] + distractor["velocity"] * t
    axes = (int(distractor["axes"][0]), int(distractor["axes"][1]))
    cv2.ellipse(mask, (int(cx), int(cy)), axes, float(distractor["angle"]), 0, 360, 1, -1)
    drawn = mask.astype(bool)
    frame[drawn] = distractor["colour"] * distractor["texture"][drawn][:, None]
    return drawn


def render_synthetic_video(
    rng: np.random.Generator,
    class_index: int,
    num_frames: int | None = None,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    untrimmed_probability: float = UNTRIMMED_PROBABILITY,
    video_id: str = "synthetic",
    annotation: str = "masks",
) -> VideoRecord:
    """Render one synthetic video of action `class_index` with exact boxes and masks.

    The actor's visible silhouette (after occlusion by distractors drawn in front of it) is the
    mask (object id 1) on every annotated frame, and its bounding box is the frame's box.

    Args:
        rng: the video's random generator (the only source of randomness).
        class_index: index into `CLASSES`.
        num_frames: frames in the video; None draws it from `FRAMES_RANGE`.
        frame_size: (height, width) rendered.
        untrimmed_probability: chance that the action covers only part of the video.
        video_id: id stored in the record.
        annotation: "masks" (silhouettes and boxes) or "boxes" (boxes only, `masks` None). The
            pixels and boxes do not depend on it.

    Returns:
        A `VideoRecord` (source "synthetic") with frames, boxes, tube ids, masks (or None),
        annotated flags.

    Example:
    >>> record = render_synthetic_video(np.random.default_rng(0), class_index=1, num_frames=16)
    >>> record.num_frames, record.frames[0].shape
    (16, (64, 64, 3))
    """
    if not 0 <= class_index < len(CLASSES):
        raise ValueError(f"class_index must be in [0, {len(CLASSES)}), got {class_index}")
    if annotation not in ANNOTATIONS:
        raise ValueError(f"annotation must be one of {ANNOTATIONS}, got {annotation!r}")
    height, width = frame_size
    if num_frames is None:
        num_frames = int(rng.integers(FRAMES_RANGE[0], FRAMES_RANGE[1] + 1))

    # Action span: the whole video, or an inner part with the actor absent or idle outside it.
    start, end = 0, num_frames
    if rng.random() < untrimmed_probability:
        start = int(rng.integers(0, num_frames // 3 + 1))
        end = num_frames - int(rng.integers(0, num_frames // 3 + 1))
        if start == 0 and end == num_frames:
            start = max(1, num_frames // 6)
        end = max(end, start + min(16, num_frames - start))
    outside = "absent" if rng.random() < 0.5 else "idle"

    # Panning background: a canvas twice the frame, cropped along a drifting path.
    canvas = _background(rng, (2 * height, 2 * width))
    pan_start = rng.uniform([0, 0], [width, height])
    pan_velocity = rng.uniform(-1.0, 1.0, 2) * (width / 64)

    actor = Figure.random(rng, frame_size)
    params = _motion_params(rng, actor)
    ground = rng.uniform(0.72, 0.95) * height
    action_len = end - start
    speed = 0.0
    if CLASSES[class_index] == "walk":
        speed = min(rng.uniform(0.5, 1.0) * width / 64, 0.55 * width / max(action_len, 1))
    walk_span = speed * action_len
    x0 = rng.uniform(0.2 * width, 0.8 * width - walk_span) if walk_span < 0.6 * width else 0.2 * width
    if params["facing"] < 0:
        x0 = width - x0
    idle_drift = rng.uniform(-0.15, 0.15) * width / 64

    distractors = []
    for _ in range(int(rng.integers(1, 3))):
        figure = Figure.random(rng, frame_size)
        distractors.append({
            "kind": "figure", "figure": figure, "params": _motion_params(rng, figure),
            "x": rng.uniform(0.1, 0.9) * width, "ground": rng.uniform(0.6, 0.98) * height,
            "vx": rng.uniform(-0.6, 0.6) * width / 64, "front": bool(rng.random() < 0.3),
        })
    for _ in range(int(rng.integers(1, 4))):
        distractors.append({
            "kind": "shape", "colour": _random_colour(rng), "texture": _texture(rng, frame_size),
            "center": rng.uniform([0, 0], [width, height]),
            "velocity": rng.uniform(-1.0, 1.0, 2) * width / 64,
            "axes": rng.uniform(0.06, 0.16, 2) * width, "angle": rng.uniform(0, 180),
            "front": bool(rng.random() < 0.5),
        })
    noise_level = rng.uniform(2, 8)

    frames, masks, boxes, tube_ids, annotated = [], [], [], [], []
    for t in range(num_frames):
        offset = np.clip(pan_start + pan_velocity * t, 0, [width, height]).astype(int)
        frame = canvas[offset[1] : offset[1] + height, offset[0] : offset[0] + width].copy()
        for d in distractors:
            if not d["front"]:
                _draw_distractor(frame, d, t)
        # The actor sits between the back and the front distractors.
        acting = start <= t < end
        actor_x = x0 + speed * params["facing"] * (min(max(t, start), end) - start)
        pose = None
        if acting:
            pose = action_pose(class_index, t - start, actor_x, ground, params)
        elif outside == "idle":
            since = t - (start if t < start else end)
            pose = idle_pose(t, actor_x + idle_drift * since, ground, params)
        silhouette = np.zeros(frame_size, bool)
        if pose is not None:
            silhouette = _paint(frame, actor, _draw_figure(actor, pose, frame_size))
        front = np.zeros(frame_size, bool)
        for d in distractors:
            if d["front"]:
                front |= _draw_distractor(frame, d, t)
        visible = silhouette & ~front
        frame += rng.normal(0, noise_level, frame.shape).astype(np.float32)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        annotated.append(acting)
        if acting:
            masks.append(visible.astype(np.uint8) * ACTOR_ID)
            ys, xs = np.nonzero(visible)
            frame_boxes = (
                np.array([[xs.min(), ys.min(), xs.max(), ys.max()]], np.float32)
                if len(xs) else np.zeros((0, 4), np.float32)
            )
        else:
            masks.append(None)
            frame_boxes = np.zeros((0, 4), np.float32)
        boxes.append(frame_boxes)
        tube_ids.append(np.zeros(len(frame_boxes), np.int64))
    if annotation == "boxes":
        masks = None
    return VideoRecord(video_id, class_index, frames, annotated, boxes, tube_ids, masks, source=SOURCE)


@dataclass(frozen=True)
class SyntheticVideoSource:
    """Video `index` of split `split` for base seed `seed` (rendered on `load`)."""

    split: str
    index: int
    seed: int
    class_index: int
    annotation: str = "masks"

    @property
    def video_id(self) -> str:
        return f"{CLASSES[self.class_index]}/{self.split}_{self.index:04d}"

    def load(self, frame_size: tuple[int, int], strict: bool) -> tuple[VideoRecord, int]:
        rng = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], self.index])
        record = render_synthetic_video(
            rng, self.class_index, frame_size=frame_size, video_id=self.video_id, annotation=self.annotation
        )
        return record, 0


def synthetic_sources(
    seed: int, num_train: int, num_test: int, annotation: str = "masks"
) -> list[SyntheticVideoSource]:
    """The videos of the benchmark: classes balanced per split, in a seed-dependent order."""
    sources = []
    for split, count in (("train", num_train), ("test", num_test)):
        order = np.random.default_rng([seed, _SPLIT_CODES[split], 1 << 20]).permutation(count)
        sources += [
            SyntheticVideoSource(split, i, seed, int(order[i] % len(CLASSES)), annotation)
            for i in range(count)
        ]
    return sources


def generate_synthetic(
    out: str | os.PathLike,
    seed: int = 0,
    *,
    num_train: int = DEFAULT_TRAIN_VIDEOS,
    num_test: int = DEFAULT_TEST_VIDEOS,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    annotation: str = "masks",
    workers: int = 1,
    shards: int | None = None,
    overwrite: bool = False,
    labeled: Sequence[float] = (0.2,),
    val_fraction: float = 0.1,
    progress: bool = True,
) -> ConversionSummary:
    """Generate the synthetic benchmark into `out` (TFRecords, manifest, split files).

    Args:
        out: dataset folder to create.
        seed: determines every pixel; the same seed gives identical videos.
        num_train: training videos (classes balanced).
        num_test: test videos.
        frame_size: rendered and stored (height, width).
        annotation: "masks" (JHMDB-21-like silhouettes and boxes) or "boxes" (UCF101-24-like:
            boxes only, trained and evaluated as filled boxes).
        workers, shards, overwrite, labeled, val_fraction, progress: see `write_dataset`; the
            split seed is `seed`.

    Returns:
        A `ConversionSummary`.

    Raises:
        ConfigError: too few videos or an unknown annotation style.
        DataError: `out` holds a complete benchmark generated with other settings (and
            `overwrite` is off).

    Example:
    >>> generate_synthetic("data/synthetic", seed=0)  # doctest: +SKIP
    """
    if num_train < len(CLASSES) or num_test < 1:
        raise ConfigError(
            f"need at least {len(CLASSES)} training videos (one per class) and one test video"
        )
    if annotation not in ANNOTATIONS:
        raise ConfigError(f"annotation must be one of {', '.join(ANNOTATIONS)}, got {annotation!r}")
    options = {
        "seed": seed,
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
        Path(out), SOURCE, list(CLASSES), synthetic_sources(seed, num_train, num_test, annotation),
        frame_size, options, workers=workers, shards=shards, overwrite=overwrite,
        labeled=labeled, seed=seed, val_fraction=val_fraction, progress=progress,
        # Manifests from before the annotation option hold masks.
        content_options={"seed": None, "num_train": None, "num_test": None, "frame_size": None,
                         "annotation": "masks"},
    )

