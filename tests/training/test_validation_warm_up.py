"""The first validation's one-off work done in the background (`loop._Validation.start_warm_up`):
the same figures and TensorBoard masks as a validation that does it itself, and no trace left
for the validation."""

from __future__ import annotations

import math

import numpy as np

from ssvad_keras.data import read_manifest
from ssvad_keras.inference.evaluate import evaluate_model, validation_samples
from ssvad_keras.inference.forward import compiled_forward, predict_probabilities
from ssvad_keras.models import build_detector
from ssvad_keras.training.callbacks import mask_overlay_images
from ssvad_keras.training.loop import _Validation, resolve_split, validation_figures

from .conftest import tiny_config


class _Board:
    """What `_Validation.draw_images` asks of a `TensorBoardWriter`."""

    def __init__(self):
        self.logged = {}

    def images(self, epoch, tag, images):
        self.logged[(epoch, tag)] = images


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        for x, y in ((a[k], b[k]) for k in a)
    )


def test_a_warmed_up_validation_gives_a_cold_validations_figures_and_traces_nothing(training_dataset):
    config = tiny_config(**{"eval.batch_size": 3})  # a short last batch: two batch shapes
    ids = list(resolve_split(training_dataset, 0.2, 0)["val"])
    classes = read_manifest(training_dataset).num_classes
    cold = build_detector(config=config, num_classes=classes, seed=0)
    warm = build_detector(config=config, num_classes=classes, seed=1)
    warm.set_weights(cold.get_weights())
    # Without the warm-up: a fresh pipeline, the forward traced on the validation's own batches.
    expected = validation_figures(evaluate_model(cold, training_dataset, ids, config))
    clips, gt = validation_samples(training_dataset, ids, config, 2)
    expected_images = mask_overlay_images(clips, predict_probabilities(cold, clips), gt)

    validation = _Validation(training_dataset, ids, config)
    validation.start_warm_up(warm, 2)
    validation.start_warm_up(warm, 2)  # once only
    validation.close()
    forward = compiled_forward(warm)
    traced = forward.experimental_get_tracing_count()
    assert traced == 2 and validation._cached  # the full batches' shape, then the others'
    assert sum(int(b["clip"].shape[0]) for b in validation._cached) > 3
    board = _Board()
    for epoch in (0, 1):
        assert _same(validation(warm), expected)
        validation.draw_images(board, epoch, warm, 2)
    assert forward.experimental_get_tracing_count() == traced
    for epoch in (0, 1):
        np.testing.assert_array_equal(board.logged[(epoch, "val/masks_pred_red_gt_green")], expected_images)
