"""Consistency losses (Eq. 1-6), the ramp, and no gradient through the attention masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ssvad_keras.losses import (
    consistency_l2,
    gradient_smoothness_loss,
    gradient_smoothness_mask,
    jsd_loss,
    sigmoid_rampup,
    temporal_coherence_loss,
    temporal_variance_mask,
)

from .loss_reference import released_cyclic_variance, released_gradient_mask


def _value(x) -> float:
    return float(ops.convert_to_numpy(x))


def _views(seed: int, batch: int = 2, frames: int = 8):
    rng = np.random.default_rng(seed)
    loc = rng.normal(size=(batch, frames, 4, 3, 1)).astype(np.float32)
    aug = (loc + rng.normal(scale=0.5, size=loc.shape)).astype(np.float32)
    return loc, aug


def test_jsd_by_hand():
    # p = (.25, .75), q = (.75, .25), m = (.5, .5): JSD = .25 ln .5 + .75 ln 1.5 at each position.
    features = np.array([1.0, 3.0], np.float32).reshape(1, 1, 1, 2)
    aug = np.array([3.0, 1.0], np.float32).reshape(1, 1, 1, 2)
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert _value(jsd_loss(features, aug)) == pytest.approx(expected, rel=1e-5)


def test_jsd_bounds_and_mean_over_positions():
    one_hot_a = np.array([1.0, 0.0], np.float32).reshape(1, 1, 1, 2)
    one_hot_b = np.array([0.0, 1.0], np.float32).reshape(1, 1, 1, 2)
    # Disjoint distributions reach ln 2; equal distributions (at any scale) give 0.
    assert _value(jsd_loss(one_hot_a, one_hot_b)) == pytest.approx(math.log(2), rel=1e-5)
    assert _value(jsd_loss(one_hot_a * 0.3, one_hot_a * 0.9)) == pytest.approx(0.0, abs=1e-6)
    # A 1x2 grid with one disjoint and one equal position averages to ln 2 / 2.
    grid_a = np.concatenate([one_hot_a, one_hot_a], axis=2)
    grid_b = np.concatenate([one_hot_b, one_hot_a], axis=2)
    assert _value(jsd_loss(grid_a, grid_b)) == pytest.approx(math.log(2) / 2, rel=1e-5)


def test_jsd_of_all_zero_activations_is_zero_not_nan():
    zeros = np.zeros((2, 3, 3, 4), np.float32)
    assert _value(jsd_loss(zeros, zeros)) == pytest.approx(0.0, abs=1e-7)


def test_consistency_l2_by_hand():
    loc = np.array([0.0, 1.0, 2.0, 3.0], np.float32).reshape(1, 4, 1, 1, 1)
    aug = np.array([1.0, 1.0, 0.0, 3.0], np.float32).reshape(1, 4, 1, 1, 1)
    assert _value(consistency_l2(loc, aug)) == pytest.approx((1 + 0 + 4 + 0) / 4)
    sig = 1 / (1 + np.exp(-loc.astype(np.float64))) - 1 / (1 + np.exp(-aug.astype(np.float64)))
    assert _value(consistency_l2(loc, aug, on_probabilities=True)) == pytest.approx(
        float(np.mean(sig**2)), rel=1e-5
    )


@pytest.mark.parametrize("window", [3, 5])
def test_temporal_coherence_loss_against_reference(window):
    loc, aug = _views(window)
    mask = released_cyclic_variance(loc, aug, window)
    diff = (loc.astype(np.float64) - aug) ** 2
    w, gain = 0.3, 2.0
    expected = w * gain * np.mean(mask * diff) + (1 - w) * np.mean(diff)
    got = temporal_coherence_loss(loc, aug, w, window=window, cyclic=True, mask_gain=gain)
    assert _value(got) == pytest.approx(expected, rel=1e-5)
    without_l2 = temporal_coherence_loss(
        loc, aug, w, window=window, cyclic=True, plain_l2=False, mask_gain=gain
    )
    assert _value(without_l2) == pytest.approx(w * gain * np.mean(mask * diff), rel=1e-5)


def test_temporal_coherence_mask_on_probabilities():
    loc, aug = _views(7)
    sigmoid = lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))  # noqa: E731
    mask = released_cyclic_variance(sigmoid(loc), sigmoid(aug), 5)
    diff = (loc.astype(np.float64) - aug) ** 2  # the difference stays on logits
    got = temporal_coherence_loss(loc, aug, 1.0, on_probabilities=True, plain_l2=False)
    assert _value(got) == pytest.approx(np.mean(mask * diff), rel=1e-4)


def test_temporal_coherence_at_w_zero_is_plain_l2():
    loc, aug = _views(8)
    assert _value(temporal_coherence_loss(loc, aug, 0.0)) == pytest.approx(
        _value(consistency_l2(loc, aug)), rel=1e-6
    )


def test_gradient_smoothness_weights_each_sample_by_its_own_mask():
    loc, aug = _views(9, batch=3)
    probs = 1 / (1 + np.exp(-loc.astype(np.float64)))
    diff = (loc.astype(np.float64) - aug) ** 2
    per_sample = [
        np.mean(released_gradient_mask(probs[b : b + 1]) * diff[b : b + 1]) for b in range(3)
    ]
    got = gradient_smoothness_loss(loc, aug)
    assert _value(got) == pytest.approx(np.mean(per_sample), rel=1e-5)
    # The released broadcast (every sample weighted by every sample's mask) differs.
    released = np.mean(released_gradient_mask(probs)[None] * diff[:, None])
    assert abs(released - _value(got)) > 1e-4
    with_l2 = gradient_smoothness_loss(loc, aug, plain_l2=True)
    assert _value(with_l2) == pytest.approx(np.mean(per_sample) + np.mean(diff), rel=1e-5)


def test_gradient_smoothness_clamps():
    loc, aug = _views(10)
    probs = 1 / (1 + np.exp(-loc.astype(np.float64)))
    mask = released_gradient_mask(probs, 0.2, 0.8)
    diff = (loc.astype(np.float64) - aug) ** 2
    got = gradient_smoothness_loss(loc, aug, lower=0.2, upper=0.8)
    assert _value(got) == pytest.approx(np.mean(mask * diff), rel=1e-4)


def test_no_gradient_flows_through_the_attention_masks():
    loc, aug = _views(11)
    var_mask = tf.constant(
        ops.convert_to_numpy(temporal_variance_mask(loc, aug, window=5, cyclic=True))
    )
    grad_mask = tf.constant(ops.convert_to_numpy(gradient_smoothness_mask(ops.sigmoid(loc))))
    loc_var, aug_var = tf.Variable(loc), tf.Variable(aug)
    w = 0.6
    with tf.GradientTape(persistent=True) as tape:
        coherence = temporal_coherence_loss(loc_var, aug_var, w, mask_gain=2.0)
        smoothness = gradient_smoothness_loss(loc_var, aug_var)
        diff = tf.square(loc_var - aug_var)
        coherence_const = w * 2.0 * tf.reduce_mean(var_mask * diff) + (1 - w) * tf.reduce_mean(diff)
        smoothness_const = tf.reduce_mean(grad_mask * diff)
    for loss, reference in ((coherence, coherence_const), (smoothness, smoothness_const)):
        for var in (loc_var, aug_var):
            np.testing.assert_allclose(
                tape.gradient(loss, var).numpy(), tape.gradient(reference, var).numpy(), atol=1e-7
            )


def test_constant_predictions_give_finite_losses_and_gradients():
    constant = tf.Variable(np.full((2, 8, 3, 3, 1), 2.0, np.float32))
    with tf.GradientTape() as tape:
        total = (
            temporal_coherence_loss(constant, constant, 0.5)
            + temporal_coherence_loss(constant, constant, 0.5, cyclic=False)
            + gradient_smoothness_loss(constant, constant, lower=0.1, upper=0.9)
        )
    assert _value(total) == 0.0
    assert np.all(np.isfinite(tape.gradient(total, constant).numpy()))


def test_losses_run_in_float32_under_float16_inputs():
    loc, aug = _views(12)
    half, aug_half = loc.astype(np.float16), aug.astype(np.float16)
    for loss in (
        consistency_l2(half, aug_half),
        temporal_coherence_loss(half, aug_half, 0.5),
        gradient_smoothness_loss(half, aug_half),
        jsd_loss(np.abs(half[..., 0]), np.abs(aug_half[..., 0])),
    ):
        assert ops.convert_to_numpy(loss).dtype == np.float32


def test_sigmoid_rampup_start_middle_end():
    assert sigmoid_rampup(0, 100) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(50, 100) == pytest.approx(math.exp(-1.25))
    assert sigmoid_rampup(100, 100) == 1.0
    assert sigmoid_rampup(250, 100) == 1.0
    assert sigmoid_rampup(-3, 100) == pytest.approx(math.exp(-5))
    assert _value(sigmoid_rampup(tf.constant(25), 100)) == pytest.approx(math.exp(-5 * 0.75**2))
