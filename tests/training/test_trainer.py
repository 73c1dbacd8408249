"""The semi-supervised train step: losses, class masks, updates, supervised-only mode."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from ssvad_keras.errors import SsvadError
from ssvad_keras.models import build_detector
from ssvad_keras.training import SemiSupervisedTrainer
from ssvad_keras.training.callbacks import NonFiniteGuard, mask_overlay_images

from .conftest import NUM_CLASSES, make_batch, tiny_config


def make_trainer(config, epochs: int = 4):
    keras.utils.set_random_seed(0)
    detector = build_detector(config=config, num_classes=NUM_CLASSES)
    trainer = SemiSupervisedTrainer(detector, NUM_CLASSES, config.loss, config.train, epochs)
    # Eager steps: tracing the step costs ~65 CPU s on 2 cores, an eager step ~5 s; the traced
    # step runs in every `train()` of test_loop.py.
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False, run_eagerly=True)
    return trainer


def _numpy(components):
    return {k: float(v) for k, v in components.items() if not k.startswith("_")}


def test_step_reports_every_component_and_they_are_finite(config):
    trainer = make_trainer(config)
    parts = _numpy(trainer.compute_losses(make_batch(), training=False))
    for key in ("loss", "margin", "bce", "dice", "cls_consistency", "loc_consistency", "ramp_weight"):
        assert np.isfinite(parts[key]), key
    expected = parts["labeled"] + 0.1 * (0.3 * parts["cls_consistency"] + 0.7 * parts["loc_consistency"])
    assert parts["loss"] == pytest.approx(expected, rel=1e-5)  # Eq. 9 with the paper's weights
    assert parts["loc_consistency"] > 0  # the views disagree before training


def test_supervised_terms_see_labeled_clips_only(config):
    trainer = make_trainer(config)
    mixed = make_batch(4, labeled=(1, 0, 1, 0))
    only_labeled = {k: v[[0, 2]] for k, v in mixed.items()}
    a = _numpy(trainer.compute_losses(mixed, training=False))
    b = _numpy(trainer.compute_losses(only_labeled, training=False))
    for key in ("margin", "bce", "dice"):
        assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    # Unlabeled clips carry nothing: changing their pixels changes only the consistency terms.
    other = dict(mixed, clip=mixed["clip"].copy())
    other["clip"][[1, 3]] = 0.5
    c = _numpy(trainer.compute_losses(other, training=False))
    assert c["margin"] == pytest.approx(a["margin"], rel=1e-5)


def test_class_masks_follow_the_pseudo_label_schedule(config):
    trainer = make_trainer(config)  # pseudo_label_epoch = 1
    batch = make_batch(4, labeled=(1, 0, 1, 0))
    mask, use_predicted = (np.asarray(x) for x in trainer._class_masks(batch))
    onehot = np.eye(NUM_CLASSES)[batch["label"]]
    np.testing.assert_array_equal(mask[[0, 2]], onehot[[0, 2]])  # ground truth
    np.testing.assert_array_equal(mask[[1, 3]], np.ones((2, NUM_CLASSES)))  # all ones
    np.testing.assert_array_equal(use_predicted, [0, 0, 0, 0])
    trainer.epoch.assign(1.0)
    _, use_predicted = (np.asarray(x) for x in trainer._class_masks(batch))
    np.testing.assert_array_equal(use_predicted, [0, 1, 0, 1])  # own prediction from now on


def test_fit_updates_the_detector_and_tracks_losses(config):
    trainer = make_trainer(config)
    before = [w.copy() for w in trainer.detector.get_weights()]
    data = tf.data.Dataset.from_tensors(make_batch()).repeat(2)
    history = trainer.fit(data, epochs=1, verbose=0, shuffle=False)
    after = trainer.detector.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    for key in ("loss", "margin", "dice", "loc_consistency", "accuracy"):
        assert np.isfinite(history.history[key][-1]), key


def test_supervised_only_runs_one_view_and_no_consistency():
    config = tiny_config(**{"train.semi_supervised": False})
    trainer = make_trainer(config)
    parts = _numpy(trainer.compute_losses(make_batch(), training=False))
    assert parts["cls_consistency"] == 0.0 and parts["loc_consistency"] == 0.0
    assert parts["loss"] == pytest.approx(parts["labeled"], rel=1e-6)


def test_non_finite_guard_names_the_step_and_the_component():
    guard = NonFiniteGuard(epoch=2, components=("loss", "margin", "dice"))
    guard.set_model(keras.Sequential())
    guard.on_train_batch_end(0, {"loss": 1.0, "margin": 0.5, "dice": 0.5})
    assert guard.error is None
    guard.on_train_batch_end(4, {"loss": float("nan"), "margin": 0.5, "dice": float("inf")})
    assert isinstance(guard.error, SsvadError)
    assert "epoch 3, step 5" in str(guard.error) and "'dice'" in str(guard.error)
    assert guard.model.stop_training


def test_mask_overlay_tiles_frames_with_prediction_red_and_truth_green():
    clips = np.zeros((1, 2, 4, 4, 3), np.float32)
    probs = np.zeros((1, 2, 4, 4, 1), np.float32)
    gt = np.zeros((1, 2, 4, 4, 1), np.float32)
    probs[0, 1, 0, 0] = 1.0
    gt[0, 0, 3, 3] = 1.0
    image = mask_overlay_images(clips, probs, gt)
    assert image.shape == (1, 4, 8, 3)
    assert image[0, 0, 4, 0] > 0 and image[0, 0, 4, 1] == 0  # frame 1 drawn at x = 4..7
    assert image[0, 3, 3, 1] > 0 and image[0, 3, 3, 0] == 0
