"""SavedModel export of a trained detector: clip -> class scores and mask probabilities."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import tensorflow as tf

from ssvad_keras.io import atomic_path
from ssvad_keras.models.detector import VideoCapsuleDetector, load_detector

SERVING_ENDPOINT = "serve"


def export_detector(model: VideoCapsuleDetector | str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a TensorFlow SavedModel with a serving signature, atomically.

    The signature `serve` (also `serving_default`) takes `clip` (batch, T, H, W, 3) float32 in
    [0, 1] and returns `class_scores` (batch, C) and `loc_probs` = sigmoid(mask logits)
    (batch, T, H, W, 1). The SavedModel needs only TensorFlow to run (no ssvad_keras import).

    Args:
        model: a detector, or the path of a `.keras` archive holding one.
        out: output folder; replaced only once the export is complete.

    Example:

    >>> export_detector("runs/demo/best.keras", "runs/demo/saved_model")  # doctest: +SKIP
    """
    if not isinstance(model, VideoCapsuleDetector):
        model = load_detector(model)
    detector = model
    spec = tf.TensorSpec((None, *detector.clip_shape), tf.float32, name="clip")

    def serve(clip):
        outputs = detector(clip, training=False)
        return {
            "class_scores": outputs["class_scores"],
            "loc_probs": keras.ops.sigmoid(outputs["loc_logits"]),
        }

    archive = keras.export.ExportArchive()
    archive.track(detector)
    archive.add_endpoint(SERVING_ENDPOINT, serve, input_signature=[spec])
    out = Path(out)
    with atomic_path(out, directory=True) as tmp:
        archive.write_out(str(tmp), verbose=False)
    return out
