"""Action vocabularies: what each class of a synthetic benchmark looks like and does.

- `scenes` (the default benchmark, UCF101-24-like): classes differ by actor, object and scene as
  well as by motion (basketball players dribble a ball on a court, bikers ride on a road, ...);
  one or two actors are the main moving things; spectators and drifting objects are the
  distractors.
- `motion`: the original motion-only benchmark (walk, jump, wave, spin, crouch by figures of
  random appearance on cluttered canvases, with look-alike distractors): a detector must read
  motion, not appearance.
- `pretrain`: the corpus `ssvad pretrain` draws clips from. Its classes are disjoint from both
  benchmarks' (other sports in other combinations of motion, object and scene), as Charades is
  not UCF101.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfrecords_tools.synthetic.figures import ActorStyle


@dataclass(frozen=True)
class ActionClass:
    """One class: its motion, its actors' look, the object they handle and the scene.

    Attributes:
        name: class name (stored in `dataset.json`).
        motion: one of `motions.MOTIONS`.
        scene: one of `appearance.SCENES`.
        prop: one of `figures.PROPS`.
        style: the actors' `ActorStyle`.
        actors: (min, max) number of actors performing (each its own tube).
        speed: horizontal speed range of travelling motions, in frame widths per 64 frames.
    """

    name: str
    motion: str
    scene: str = "clutter"
    prop: str = "none"
    style: ActorStyle = ActorStyle()
    actors: tuple[int, int] = (1, 1)
    speed: tuple[float, float] = (0.5, 1.0)


@dataclass(frozen=True)
class Vocabulary:
    """A benchmark's classes and its distractor mix.

    Attributes:
        name: vocabulary name.
        classes: the `ActionClass`es, in label order.
        spectators: (min, max) idle figures per video (not annotated).
        spectator_scale: their size relative to an actor (1.0 = the actors' size distribution).
        shapes: (min, max) drifting textured shapes per video.
        front_probability: chance that a distractor passes in front of the actors.
    """

    name: str
    classes: tuple[ActionClass, ...]
    spectators: tuple[int, int] = (1, 2)
    spectator_scale: float = 1.0
    shapes: tuple[int, int] = (1, 3)
    front_probability: float = 0.3

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)


_BIG = (0.45, 0.75)  # UCF101-24 actors fill much of the frame's height

SCENES_VOCABULARY = Vocabulary(
    name="scenes",
    classes=(
        ActionClass("basketball", "dribble", "court", "ball", ActorStyle(hue=(0, 15), height=_BIG)),
        ActionClass("biking", "ride", "road", "bike", ActorStyle(height=(0.4, 0.6)), speed=(0.8, 1.4)),
        ActionClass("diving", "jump", "pool", "none", ActorStyle(hue=(100, 130), height=_BIG)),
        ActionClass("fencing", "lunge", "stage", "sword",
                    ActorStyle(saturation=(0, 30), height=_BIG, build=(0.14, 0.2)), actors=(1, 2)),
        ActionClass("golf_swing", "swing", "field", "club", ActorStyle(hue=(20, 40), height=_BIG)),
        ActionClass("walking_with_dog", "walk", "field", "dog", ActorStyle(hue=(140, 175), height=_BIG),
                    speed=(0.4, 0.8)),
    ),
    spectators=(0, 2),
    spectator_scale=0.6,
    shapes=(0, 2),
    front_probability=0.2,
)

MOTION_VOCABULARY = Vocabulary(
    name="motion",
    classes=tuple(ActionClass(name, name) for name in ("walk", "jump", "wave", "spin", "crouch")),
)

PRETRAIN_VOCABULARY = Vocabulary(
    name="pretrain",
    classes=(
        ActionClass("skiing", "glide", "snow", "none", ActorStyle(saturation=(150, 256), height=_BIG),
                    speed=(0.8, 1.4)),
        ActionClass("skateboarding", "glide", "road", "board", ActorStyle(height=_BIG), speed=(0.6, 1.2)),
        ActionClass("rope_climbing", "climb", "wall", "none", ActorStyle(height=_BIG)),
        ActionClass("tennis_swing", "swing", "court", "club", ActorStyle(saturation=(0, 40), height=_BIG)),
        ActionClass("salsa_spin", "spin", "stage", "none", ActorStyle(hue=(160, 180), height=_BIG),
                    actors=(1, 2)),
        ActionClass("trampoline", "jump", "field", "none", ActorStyle(height=_BIG)),
        ActionClass("juggling", "wave", "wall", "ball", ActorStyle(height=_BIG)),
        ActionClass("running", "walk", "road", "none", ActorStyle(hue=(40, 90), height=_BIG), speed=(1.0, 1.6)),
    ),
    spectators=(0, 2),
    spectator_scale=0.6,
    shapes=(0, 2),
    front_probability=0.2,
)

VOCABULARIES = {v.name: v for v in (SCENES_VOCABULARY, MOTION_VOCABULARY, PRETRAIN_VOCABULARY)}
# The vocabularies a benchmark can be generated from (`pretrain` is for `ssvad pretrain`, but may
# be generated too, e.g. to evaluate a pretrained model on held-out clips).
DEFAULT_VOCABULARY = "scenes"


def vocabulary(name: str) -> Vocabulary:
    """The vocabulary called `name` (ValueError naming the known ones otherwise)."""
    try:
        return VOCABULARIES[name]
    except KeyError:
        raise ValueError(f"unknown vocabulary {name!r} (known: {', '.join(VOCABULARIES)})") from None
