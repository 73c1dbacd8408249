"""The built-in synthetic action-detection benchmarks (`ssvad prepare synthetic`).

A video is made in three steps, each its own module:

1. **Scene plan** (`scene.plan_video`): every random decision, drawn first: the action's span
   (untrimmed videos: the actors are absent or idle outside it, and those frames are not
   annotated), the camera's pan over a scene canvas (`appearance.background`), the actors (an
   articulated figure of the class's `ActorStyle`, its motion parameters, its prop, its path) and
   typed distractors (`Spectator` figures that idle and drift, `DriftingShape`s), some passing in
   front of the actors.
2. **Rendering** (`render.render_plan`): back distractors, actors with their props, front
   distractors, sensor noise; each actor's visible silhouette per frame.
3. **Annotation** (`annotate.annotate`): each visible actor's exact bounding box (one tube per
   actor) and, for "masks", its object-id mask.

Vocabularies (`vocabulary.VOCABULARIES`) say what the classes are. The default, `scenes`, is
UCF101-24-like: classes differ by actor, object and scene as well as by motion, one or two actors
are the main moving things, ground truth is boxes. `motion` is the original motion-only
benchmark (figures of random appearance, look-alike distractors). `pretrain` is the disjoint
vocabulary `ssvad pretrain` draws from.

Two annotation styles: "masks" stores silhouettes and boxes (JHMDB-21-like); "boxes" stores only
the boxes (UCF101-24-like), trained and evaluated as filled boxes. Generation uses NumPy and
OpenCV drawing only, no downloads, and is deterministic per seed: video i of a split is drawn from
its own generator seeded by (seed, split, i), so the bytes do not depend on the number of workers.
"""

from tfrecords_tools.synthetic.annotate import ANNOTATIONS, SOURCE, annotate
from tfrecords_tools.synthetic.dataset import (
    DEFAULT_COUNTS,
    DEFAULT_FRAME_SIZES,
    DEFAULT_TEST_VIDEOS,
    DEFAULT_TRAIN_VIDEOS,
    SyntheticVideoSource,
    generate_synthetic,
    render_synthetic_video,
    synthetic_sources,
)
from tfrecords_tools.synthetic.render import RenderedVideo, render_plan
from tfrecords_tools.synthetic.scene import (
    FRAMES_RANGE,
    UNTRIMMED_PROBABILITY,
    ScenePlan,
    plan_video,
)
from tfrecords_tools.synthetic.vocabulary import (
    DEFAULT_VOCABULARY,
    VOCABULARIES,
    ActionClass,
    Vocabulary,
    vocabulary,
)

# Class names of the default benchmark.
CLASSES = VOCABULARIES[DEFAULT_VOCABULARY].class_names

__all__ = [
    "ANNOTATIONS", "CLASSES", "DEFAULT_COUNTS", "DEFAULT_FRAME_SIZES", "DEFAULT_TEST_VIDEOS",
    "DEFAULT_TRAIN_VIDEOS", "DEFAULT_VOCABULARY", "FRAMES_RANGE", "SOURCE", "UNTRIMMED_PROBABILITY",
    "VOCABULARIES", "ActionClass", "RenderedVideo", "ScenePlan", "SyntheticVideoSource", "Vocabulary",
    "annotate", "generate_synthetic", "plan_video", "render_plan", "render_synthetic_video",
    "synthetic_sources", "vocabulary",
]
