"""The detector as inference uses it: loaded from a run (or a `.keras` file), the config that
goes with it, and its compiled forward pass.

Evaluation (`evaluate.py`), validation during training (`predict_probabilities`) and `ssvad
detect` (`detect.py`) all run the detector through `compiled_forward`.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import keras
import numpy as np

from ssvad_keras.config import ExperimentConfig, load_config
from ssvad_keras.errors import CheckpointError
from ssvad_keras.layers.capsule_masking import class_mask_inputs
from ssvad_keras.models import load_detector
from ssvad_keras.run_dir import checkpoint_model_path

_FORWARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_forward(detector: keras.Model, class_mask: str = "predicted", flip_average: bool = False):
    """The detector's inference function, traced once per detector, class-mask mode and flip
    setting (validation runs every epoch): the one forward pass of evaluation, validation and
    detection.

    Returns `{"class_scores": (B, C), "loc_probs": (B, T, H, W, 1)}` (sigmoid of the logits).

    `"predicted"` (SPEC 2): `forward(clip)`. `"ground_truth"`: `forward(clip, label)` decodes
    the clip's labelled class capsule (clips without a label, -1, their predicted one). `"all"`:
    `forward(clip, label)` decodes every class capsule, whatever the label.

    `flip_average` (`eval.flip_average`): each clip and its horizontal mirror go through the
    network in one batch of 2B; the mirror's masks are flipped back, and masks and class scores
    are the mean of the two. Each view picks its own predicted class capsule.
    """
    import tensorflow as tf

    forwards = _FORWARDS.setdefault(detector, {})
    key = (class_mask, bool(flip_average))
    forward = forwards.get(key)
    if forward is not None:
        return forward
    num_classes = detector.num_classes

    def single(clip, label):
        if class_mask == "predicted":
            return _inference_outputs(detector(clip, training=False))
        label = tf.cast(label, tf.int32)
        # "ground_truth": clips with a label decode it, the others their predicted class;
        # "all": no clip counts as labeled and none predicts, so every capsule is decoded.
        known = label >= 0 if class_mask == "ground_truth" else tf.zeros_like(label, tf.bool)
        mask, use_predicted = class_mask_inputs(label, known, num_classes, class_mask == "ground_truth")
        inputs = {"clip": clip, "class_mask": mask, "use_predicted_mask": use_predicted}
        return _inference_outputs(detector(inputs, training=False))

    def run(clip, label):
        if not flip_average:
            return single(clip, label)
        both = single(tf.concat([clip, tf.reverse(clip, axis=[3])], axis=0),
                      None if label is None else tf.concat([label, label], axis=0))
        plain_scores, mirror_scores = tf.split(both["class_scores"], 2, axis=0)
        plain_probs, mirror_probs = tf.split(both["loc_probs"], 2, axis=0)
        return {"class_scores": (plain_scores + mirror_scores) / 2.0,
                "loc_probs": (plain_probs + tf.reverse(mirror_probs, axis=[3])) / 2.0}

    if class_mask == "predicted":

        @tf.function(reduce_retracing=True)
        def forward(clip):
            return run(clip, None)

    else:

        @tf.function(reduce_retracing=True)
        def forward(clip, label):
            return run(clip, label)

    forwards[key] = forward
    return forward


def _inference_outputs(out: dict) -> dict:
    import tensorflow as tf

    return {"class_scores": out["class_scores"], "loc_probs": tf.sigmoid(out["loc_logits"])}


def predict_probabilities(detector: keras.Model, clips: np.ndarray) -> np.ndarray:
    """(B, T, H, W, 1) mask probabilities of `clips`, decoded from the predicted class as in
    evaluation."""
    return keras.ops.convert_to_numpy(compiled_forward(detector)(clips)["loc_probs"])


def load_checkpoint(
    checkpoint: str | Path, weights: str | None = None
) -> tuple[keras.Model, ExperimentConfig | None, Path]:
    """A detector from a run directory (its `best.keras`, or with `weights` = "teacher" or
    "student" that network of a mean-teacher run) or a `.keras` file, with safe_mode.

    Returns:
        (detector, the run's config or None for a bare file, the model file's path).

    Raises:
        CheckpointError: missing, not a run directory or `.keras` file, or not a detector.
    """
    path, run = checkpoint_model_path(checkpoint, weights)
    config = None if run is None else run.load_config()
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path)
    if path.suffix != ".keras":
        raise CheckpointError("expected a run directory or a .keras model file", path)
    return load_detector(path), config, path


def config_for_detector(detector: keras.Model) -> ExperimentConfig:
    """Defaults with the detector's own clip geometry (for a bare `.keras` file)."""
    t, h, w = detector.clip_shape[:3]
    return load_config(overrides={"data.clip_length": t, "data.input_size": [h, w]})
