"""Supervised losses: margin (spread), BCE with logits and Dice, with per-sample weights."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ssvad_keras.losses import (
    bce_with_logits_loss,
    dice_from_sums,
    dice_loss,
    dice_sums,
    margin_loss,
)


def _value(x) -> float:
    return float(ops.convert_to_numpy(x))


SCORES = np.array([[0.1, 0.5, 0.4], [0.3, 0.4, 0.0]], dtype=np.float32)
ONEHOT = np.array([[0, 1, 0], [1, 0, 0]], dtype=np.float32)


def test_margin_loss_by_hand():
    # Sample 0, target 1: i=0 max(0, .2 - .4) = 0; i=2 max(0, .2 - .1)^2 = .01.
    # Sample 1, target 0: i=1 max(0, .2 + .1)^2 = .09; i=2 max(0, .2 - .3) = 0.
    assert _value(margin_loss(ONEHOT, SCORES, margin=0.2)) == pytest.approx(0.05, abs=1e-6)
    assert _value(margin_loss(ONEHOT[:1], SCORES[:1], margin=0.2)) == pytest.approx(0.01, abs=1e-6)


def test_margin_loss_is_released_spread_loss_times_batch():
    # Released: (sum over all classes incl. target) / b - m^2, then / b again.
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=(4, 5)).astype(np.float32)
    target = np.array([0, 3, 1, 4])
    onehot = np.eye(5, dtype=np.float32)[target]
    at = scores[np.arange(4), target][:, None]
    released = ((np.maximum(0.2 - (at - scores), 0) ** 2).sum() / 4 - 0.2**2) / 4
    assert _value(margin_loss(onehot, scores)) == pytest.approx(4 * released, rel=1e-5)


def test_margin_loss_weighted_equals_labeled_subset_and_zero_when_none_labeled():
    weight = np.array([1.0, 0.0], dtype=np.float32)
    assert _value(margin_loss(ONEHOT, SCORES, sample_weight=weight)) == pytest.approx(0.01, abs=1e-6)
    none = margin_loss(ONEHOT, SCORES, sample_weight=np.zeros(2, np.float32))
    assert _value(none) == 0.0


def _bce_reference(mask, logits):
    probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    return float(np.mean(-(mask * np.log(probs) + (1 - mask) * np.log(1 - probs))))


def _random_masks(seed: int, batch: int = 3):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(batch, 4, 5, 5, 1)).astype(np.float32)
    mask = (rng.uniform(size=logits.shape) > 0.6).astype(np.float32)
    return mask, logits


def test_bce_matches_the_textbook_formula():
    mask, logits = _random_masks(1)
    assert _value(bce_with_logits_loss(mask, logits)) == pytest.approx(
        _bce_reference(mask, logits), rel=1e-5
    )


def test_bce_is_stable_for_large_logits():
    logits = np.array([100.0, -100.0], np.float32).reshape(1, 2, 1, 1, 1)
    mask = np.array([1.0, 0.0], np.float32).reshape(1, 2, 1, 1, 1)
    assert _value(bce_with_logits_loss(mask, logits)) == pytest.approx(0.0, abs=1e-6)
    assert _value(bce_with_logits_loss(1 - mask, logits)) == pytest.approx(100.0, rel=1e-6)


def test_supervised_loc_losses_weighted_equal_the_labeled_subset():
    mask, logits = _random_masks(2)
    labeled = np.array([1.0, 0.0, 1.0], np.float32)
    keep = labeled.astype(bool)
    assert _value(bce_with_logits_loss(mask, logits, sample_weight=labeled)) == pytest.approx(
        _value(bce_with_logits_loss(mask[keep], logits[keep])), rel=1e-6
    )
    assert _value(dice_loss(mask, logits, sample_weight=labeled)) == pytest.approx(
        _value(dice_loss(mask[keep], logits[keep])), rel=1e-6
    )


def test_frame_weight_counts_only_annotated_frames():
    mask, logits = _random_masks(3, batch=2)
    frame_valid = np.array([[1, 1, 0, 0], [0, 1, 1, 1]], np.float32)
    labeled = np.array([1.0, 1.0], np.float32)
    kept_mask = np.concatenate([mask[0, :2], mask[1, 1:]])[None]
    kept_logits = np.concatenate([logits[0, :2], logits[1, 1:]])[None]
    bce = bce_with_logits_loss(mask, logits, sample_weight=labeled, frame_weight=frame_valid)
    assert _value(bce) == pytest.approx(_bce_reference(kept_mask, kept_logits), rel=1e-5)
    dice = dice_loss(mask, logits, sample_weight=labeled, frame_weight=frame_valid)
    assert _value(dice) == pytest.approx(_value(dice_loss(kept_mask, kept_logits)), rel=1e-6)


def test_dice_by_hand():
    # Logits 0 -> p = 0.5 on 8 pixels, 3 of them foreground:
    # 1 - (2 * 1.5 + 1) / (4 + 3 + 1) = 0.5.
    logits = np.zeros((1, 2, 2, 2, 1), np.float32)
    mask = np.zeros_like(logits)
    mask[0, 0, 0, :, 0] = 1.0
    mask[0, 1, 1, 1, 0] = 1.0
    assert _value(dice_loss(mask, logits, smooth=1.0)) == pytest.approx(0.5, abs=1e-6)
    # Over the flattened batch, not a mean of per-clip Dice: a second, empty clip with p = 0.5
    # adds 4 to the denominator only: 1 - 4 / 12.
    both = dice_loss(np.concatenate([mask, np.zeros_like(mask)]), np.zeros((2, 2, 2, 2, 1), np.float32))
    assert _value(both) == pytest.approx(1 - 4 / 12, abs=1e-6)


def test_zero_labeled_clips_give_zero_losses_and_finite_gradients():
    mask, logits = _random_masks(4)
    onehot = np.eye(3, dtype=np.float32)[[0, 1, 2]]
    scores = tf.Variable(np.random.default_rng(5).uniform(size=(3, 3)).astype(np.float32))
    logits_var = tf.Variable(logits)
    unlabeled = np.zeros(3, np.float32)
    with tf.GradientTape() as tape:
        losses = [
            margin_loss(onehot, scores, sample_weight=unlabeled),
            bce_with_logits_loss(mask, logits_var, sample_weight=unlabeled),
            dice_loss(mask, logits_var, sample_weight=unlabeled),
        ]
        total = sum(losses)
    assert [_value(v) for v in losses] == [0.0, 0.0, 0.0]
    for grad in tape.gradient(total, [scores, logits_var]):
        assert np.all(np.isfinite(grad.numpy()))
        assert np.all(grad.numpy() == 0.0)


def test_float16_inputs_give_float32_losses():
    mask, logits = _random_masks(6)
    half = logits.astype(np.float16)
    for loss in (bce_with_logits_loss(mask, half), dice_loss(mask, half)):
        assert ops.convert_to_numpy(loss).dtype == np.float32
    assert _value(bce_with_logits_loss(mask, half)) == pytest.approx(
        _bce_reference(mask, half.astype(np.float32)), rel=1e-4
    )


def test_replica_shards_sum_to_the_global_loss_with_global_normalizers():
    # Two "replicas" with 2 and 0 labeled clips of the 2 + 2 global batch.
    mask, logits = _random_masks(7, batch=4)
    labeled = np.array([1.0, 1.0, 0.0, 0.0], np.float32)
    scores = np.random.default_rng(8).uniform(size=(4, 3)).astype(np.float32)
    onehot = np.eye(3, dtype=np.float32)[[2, 0, 1, 1]]
    shards = (slice(0, 2), slice(2, 4))
    frames = mask.shape[1]
    margin = sum(
        _value(margin_loss(onehot[s], scores[s], sample_weight=labeled[s], normalizer=labeled.sum()))
        for s in shards
    )
    assert margin == pytest.approx(_value(margin_loss(onehot, scores, sample_weight=labeled)), rel=1e-6)
    bce = sum(
        _value(
            bce_with_logits_loss(
                mask[s], logits[s], sample_weight=labeled[s], normalizer=labeled.sum() * frames
            )
        )
        for s in shards
    )
    assert bce == pytest.approx(_value(bce_with_logits_loss(mask, logits, sample_weight=labeled)), rel=1e-6)
    sums = [dice_sums(mask[s], logits[s], sample_weight=labeled[s]) for s in shards]
    dice = dice_from_sums(sum(i for i, _ in sums), sum(t for _, t in sums))
    assert _value(dice) == pytest.approx(_value(dice_loss(mask, logits, sample_weight=labeled)), rel=1e-6)
