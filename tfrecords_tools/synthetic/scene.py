"""Scene plans: every random decision about one video, drawn before anything is rendered.

`plan_video` turns a class, a frame size and a random generator into a `ScenePlan`: the action's
span, the camera's pan over the scene canvas, the actors (figure, motion, prop, path) and the
typed distractors (`Spectator`, `DriftingShape`). `render.render_plan` draws it; `annotate`
turns the rendered silhouettes into ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tfrecords_tools.synthetic.appearance import background, random_colour, texture
from tfrecords_tools.synthetic.figures import ActorStyle, Figure, Prop
from tfrecords_tools.synthetic.motions import TRAVELLING, MotionParams
from tfrecords_tools.synthetic.vocabulary import ActionClass, Vocabulary

FRAMES_RANGE = (32, 48)
UNTRIMMED_PROBABILITY = 0.4


@dataclass
class Camera:
    """A canvas twice the frame's size, cropped along a drifting path."""

    canvas: np.ndarray
    start: np.ndarray  # (x, y) offset at frame 0
    velocity: np.ndarray  # (x, y) pixels per frame

    def view(self, t: int, frame_size: tuple[int, int]) -> np.ndarray:
        height, width = frame_size
        offset = np.clip(self.start + self.velocity * t, 0, [width, height]).astype(int)
        return self.canvas[offset[1] : offset[1] + height, offset[0] : offset[0] + width].copy()


@dataclass
class ActorPlan:
    """One performing actor: who, how it moves, what it handles, where it goes."""

    figure: Figure
    params: MotionParams
    prop: Prop
    ground: float  # y of the feet, pixels
    x0: float  # x of the feet when the action starts
    speed: float  # pixels per frame along `params.facing` while acting
    idle_drift: float  # pixels per frame while idling outside the action span


@dataclass
class Spectator:
    """A distractor figure that idles and drifts (stands behind, or passes in front)."""

    figure: Figure
    params: MotionParams
    x: float
    ground: float
    vx: float
    front: bool


@dataclass
class DriftingShape:
    """A distractor: a textured ellipse drifting across the frame."""

    colour: np.ndarray
    texture: np.ndarray
    center: np.ndarray
    velocity: np.ndarray
    axes: tuple[float, float]
    angle: float
    front: bool


@dataclass
class ScenePlan:
    """Everything that decides one video's pixels and ground truth."""

    action: ActionClass
    class_index: int
    num_frames: int
    frame_size: tuple[int, int]
    start: int  # first acting frame
    end: int  # one past the last acting frame
    outside: str  # "absent" or "idle": the actors outside [start, end)
    camera: Camera
    actors: list[ActorPlan]
    distractors: list[Spectator | DriftingShape] = field(default_factory=list)
    noise_level: float = 4.0


def _action_span(rng: np.random.Generator, num_frames: int, untrimmed_probability: float) -> tuple[int, int]:
    """The whole video, or an inner part (untrimmed videos, like UCF101-24's)."""
    start, end = 0, num_frames
    if rng.random() < untrimmed_probability:
        start = int(rng.integers(0, num_frames // 3 + 1))
        end = num_frames - int(rng.integers(0, num_frames // 3 + 1))
        if start == 0 and end == num_frames:
            start = max(1, num_frames // 6)
        end = max(end, start + min(16, num_frames - start))
    return start, end


def _plan_actors(rng: np.random.Generator, action: ActionClass, frame_size: tuple[int, int],
                 action_len: int) -> list[ActorPlan]:
    height, width = frame_size
    count = int(rng.integers(action.actors[0], action.actors[1] + 1))
    actors = []
    for i in range(count):
        figure = Figure.random(rng, frame_size, action.style)
        params = MotionParams.random(rng, figure)
        if count == 2:  # two actors face each other (fencers, dancers)
            params = MotionParams(**{**params.__dict__, "facing": 1.0 if i == 0 else -1.0})
        speed = 0.0
        if action.motion in TRAVELLING:
            speed = min(rng.uniform(*action.speed) * width / 64, 0.55 * width / max(action_len, 1))
        span = speed * action_len
        if count == 2:
            x0 = rng.uniform(0.2, 0.38) * width if i == 0 else rng.uniform(0.62, 0.8) * width
        else:
            x0 = rng.uniform(0.2 * width, 0.8 * width - span) if span < 0.6 * width else 0.2 * width
            if params.facing < 0:
                x0 = width - x0
        # Feet low enough that the head stays in the frame.
        tallness = figure.height / height
        ground = rng.uniform(min(0.9, max(0.72, tallness + 0.08)), 0.97) * height
        actors.append(ActorPlan(
            figure=figure, params=params, prop=Prop.random(rng, action.prop, figure), ground=ground,
            x0=x0, speed=speed, idle_drift=rng.uniform(-0.15, 0.15) * width / 64,
        ))
    return actors


def _plan_distractors(rng: np.random.Generator, vocab: Vocabulary, frame_size: tuple[int, int],
                      actor_style: ActorStyle) -> list[Spectator | DriftingShape]:
    height, width = frame_size
    distractors: list[Spectator | DriftingShape] = []
    scale = vocab.spectator_scale
    spectator_style = ActorStyle(height=(actor_style.height[0] * scale, actor_style.height[1] * scale))
    for _ in range(int(rng.integers(vocab.spectators[0], vocab.spectators[1] + 1))):
        figure = Figure.random(rng, frame_size, spectator_style)
        # Smaller spectators stand further back: their ground line is higher in the frame.
        low = 0.6 if scale >= 1.0 else 0.45
        distractors.append(Spectator(
            figure=figure, params=MotionParams.random(rng, figure), x=rng.uniform(0.1, 0.9) * width,
            ground=rng.uniform(low, low + 0.35) * height, vx=rng.uniform(-0.6, 0.6) * width / 64,
            front=bool(rng.random() < vocab.front_probability),
        ))
    for _ in range(int(rng.integers(vocab.shapes[0], vocab.shapes[1] + 1))):
        axes = rng.uniform(0.06, 0.16, 2) * width
        distractors.append(DriftingShape(
            colour=random_colour(rng), texture=texture(rng, frame_size),
            center=rng.uniform([0, 0], [width, height]), velocity=rng.uniform(-1.0, 1.0, 2) * width / 64,
            axes=(float(axes[0]), float(axes[1])), angle=float(rng.uniform(0, 180)),
            front=bool(rng.random() < min(1.0, vocab.front_probability + 0.2)),
        ))
    return distractors


def plan_video(
    rng: np.random.Generator,
    vocab: Vocabulary,
    class_index: int,
    num_frames: int | None = None,
    frame_size: tuple[int, int] = (64, 64),
    untrimmed_probability: float = UNTRIMMED_PROBABILITY,
) -> ScenePlan:
    """Draw every random decision of one video of class `class_index` of `vocab`."""
    if not 0 <= class_index < len(vocab.classes):
        raise ValueError(f"class_index must be in [0, {len(vocab.classes)}), got {class_index}")
    action = vocab.classes[class_index]
    height, width = frame_size
    if num_frames is None:
        num_frames = int(rng.integers(FRAMES_RANGE[0], FRAMES_RANGE[1] + 1))
    start, end = _action_span(rng, num_frames, untrimmed_probability)
    outside = "absent" if rng.random() < 0.5 else "idle"
    camera = Camera(
        canvas=background(rng, (2 * height, 2 * width), action.scene),
        start=rng.uniform([0, 0], [width, height]),
        velocity=rng.uniform(-1.0, 1.0, 2) * (width / 64),
    )
    actors = _plan_actors(rng, action, frame_size, end - start)
    distractors = _plan_distractors(rng, vocab, frame_size, action.style)
    return ScenePlan(
        action=action, class_index=class_index, num_frames=num_frames, frame_size=frame_size,
        start=start, end=end, outside=outside, camera=camera, actors=actors,
        distractors=distractors, noise_level=float(rng.uniform(2, 8)),
    )
