"""Mean-teacher and pseudo-label pieces: difference of pixels and pseudo-label targets."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ssvad_keras.losses import consistency_l2, difference_of_pixels_loss, pseudo_label_targets


def _clip(values) -> np.ndarray:
    """(1, T, 1, 1, 1) mask logits from T values."""
    return np.asarray(values, np.float32).reshape(1, -1, 1, 1, 1)


def test_difference_of_pixels_matches_a_hand_computed_example():
    # Student 0, 1, 3 moves by +1, +2; teacher 0, 2, 2 by +2, 0: differences -1 and +2.
    student, teacher = _clip([0.0, 1.0, 3.0]), _clip([0.0, 2.0, 2.0])
    assert float(difference_of_pixels_loss(student, teacher)) == pytest.approx((1.0 + 4.0) / 2)
    # A constant offset between the two is invisible to DoP (only motion counts), not to L2.
    assert float(difference_of_pixels_loss(student + 5.0, student)) == 0.0
    assert float(consistency_l2(student + 5.0, student)) == pytest.approx(25.0)


def test_difference_of_pixels_averages_over_pixels_and_clips_and_spares_the_teacher():
    rng = np.random.default_rng(0)
    student = rng.normal(size=(2, 4, 3, 5, 1)).astype(np.float32)
    teacher = rng.normal(size=(2, 4, 3, 5, 1)).astype(np.float32)
    expected = np.mean((np.diff(student, axis=1) - np.diff(teacher, axis=1)) ** 2)
    s, t = tf.Variable(student), tf.Variable(teacher)
    with tf.GradientTape(persistent=True) as tape:
        loss = difference_of_pixels_loss(s, t)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    assert tape.gradient(loss, t) is None  # the teacher is a target
    assert float(tf.reduce_max(tf.abs(tape.gradient(loss, s)))) > 0


def test_pseudo_label_targets_keep_confident_clips_and_binarise_masks():
    scores = np.array([[0.9, 0.5, 0.1], [0.5, 0.45, 0.1], [0.2, 0.3, 0.6]], np.float32)
    logits = np.zeros((3, 2, 1, 2, 1), np.float32)
    logits[:, :, :, 0] = 2.0  # p = 0.88: foreground
    logits[:, :, :, 1] = -0.1  # p = 0.475: background at threshold 0.5
    targets = pseudo_label_targets(scores, logits, class_margin=0.2, mask_threshold=0.5)
    assert np.asarray(targets["label"]).tolist() == [0, 0, 2]
    # Margins 0.4, 0.05 and 0.3 (float32: 0.3 >= 0.2 holds, 0.05 does not).
    assert np.asarray(targets["confident"]).tolist() == [1.0, 0.0, 1.0]
    mask = np.asarray(targets["mask"])
    assert mask[:, :, :, 0].min() == 1.0 and mask[:, :, :, 1].max() == 0.0
    lenient = pseudo_label_targets(scores, logits, class_margin=0.0, mask_threshold=0.4)
    assert np.asarray(lenient["confident"]).tolist() == [1.0, 1.0, 1.0]
    assert np.asarray(lenient["mask"]).min() == 1.0
