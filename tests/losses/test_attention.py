"""Attention masks: temporal variance (Eq. 4, cyclic and not) and gradient smoothness (Eq. 6)."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from ssvad_keras.losses import (
    cyclic_variance,
    gradient_smoothness_mask,
    temporal_gradient,
    temporal_variance_mask,
)

from .loss_reference import clip_from_frames, released_cyclic_variance, released_gradient_mask


def _frames(mask) -> np.ndarray:
    """Per-frame values of a (1, T, 1, 1, 1) mask."""
    return ops.convert_to_numpy(mask).reshape(-1)


def _minmax(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return (values - values.min()) / (values.max() - values.min())


def test_cyclic_variance_edge_frames_by_hand():
    # T = 4: cycle = clip 0..3, then augmented frames 2, 1 (frames 1..T-2 reversed) -> 6 positions.
    loc = clip_from_frames([0.0, 1.0, 2.0, 3.0])
    aug = clip_from_frames([10.0, 20.0, 30.0, 40.0])
    cycle = [0.0, 1.0, 2.0, 3.0, 30.0, 20.0]
    # Window 3 wraps: position 0 sees the last position (aug frame 1) and position 5 sees clip 0.
    per_position = [
        np.var([20.0, 0.0, 1.0]),
        np.var([0.0, 1.0, 2.0]),
        np.var([1.0, 2.0, 3.0]),
        np.var([2.0, 3.0, 30.0]),
        np.var([3.0, 30.0, 20.0]),
        np.var([30.0, 20.0, 0.0]),
    ]
    assert cycle[4] == 30.0 and cycle[5] == 20.0
    # Fold: frames 0 and 3 doubled; frame 1 + position 5 (aug frame 1); frame 2 + position 4.
    folded = [
        2 * per_position[0],
        per_position[1] + per_position[5],
        per_position[2] + per_position[4],
        2 * per_position[3],
    ]
    raw = _frames(cyclic_variance(loc, aug, window=3))
    np.testing.assert_allclose(raw, folded, rtol=1e-5)
    mask = _frames(temporal_variance_mask(loc, aug, window=3, cyclic=True))
    np.testing.assert_allclose(mask, _minmax(folded), rtol=1e-5, atol=1e-6)


def test_cyclic_variance_window_five_wraps_twice_at_the_ends():
    loc = clip_from_frames([0.0, 1.0, 2.0, 3.0])
    aug = clip_from_frames([10.0, 20.0, 30.0, 40.0])
    cycle = np.array([0.0, 1.0, 2.0, 3.0, 30.0, 20.0])
    per_position = [np.var(cycle[[(p + k) % 6 for k in range(-2, 3)]]) for p in range(6)]
    # Position 0 sees positions 4, 5, 0, 1, 2 = [30, 20, 0, 1, 2].
    assert per_position[0] == pytest.approx(np.var([30.0, 20.0, 0.0, 1.0, 2.0]))
    folded = [
        2 * per_position[0],
        per_position[1] + per_position[5],
        per_position[2] + per_position[4],
        2 * per_position[3],
    ]
    raw = _frames(cyclic_variance(loc, aug, window=5))
    np.testing.assert_allclose(raw, folded, rtol=1e-5)


@pytest.mark.parametrize("window", [3, 5])
@pytest.mark.parametrize("frames", [8, 3, 2])
def test_cyclic_mask_matches_released_numpy_loops(window, frames):
    # T = 8 is the released code's only length; 2 and 3 check the cycle for short clips.
    rng = np.random.default_rng(window)
    loc = rng.normal(size=(3, frames, 5, 4, 1)).astype(np.float32)
    aug = rng.normal(size=(3, frames, 5, 4, 1)).astype(np.float32)
    expected = released_cyclic_variance(loc, aug, window)
    got = ops.convert_to_numpy(temporal_variance_mask(loc, aug, window=window, cyclic=True))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_anticlockwise_cyclic_mask_equals_clockwise():
    # The released code adds a second mask from the time-reversed clip and the un-reversed view,
    # flipped back; it is the same cycle run the other way, hence a gain of 2 and not a new mask.
    rng = np.random.default_rng(1)
    loc = rng.normal(size=(2, 8, 3, 3, 1)).astype(np.float32)
    aug = rng.normal(size=(2, 8, 3, 3, 1)).astype(np.float32)
    clockwise = temporal_variance_mask(loc, aug, window=5, cyclic=True)
    anticlockwise = ops.flip(
        temporal_variance_mask(loc[:, ::-1], aug[:, ::-1], window=5, cyclic=True), axis=1
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(clockwise), ops.convert_to_numpy(anticlockwise), atol=1e-6
    )


def test_non_cyclic_variance_truncates_the_window_at_clip_ends():
    loc = clip_from_frames([0.0, 0.0, 1.0, 3.0])
    aug = clip_from_frames([5.0, -5.0, 7.0, 9.0])  # unused without the cycle
    window3 = [np.var([0.0, 0.0]), np.var([0.0, 0.0, 1.0]), np.var([0.0, 1.0, 3.0]), np.var([1.0, 3.0])]
    mask = _frames(temporal_variance_mask(loc, aug, window=3, cyclic=False))
    np.testing.assert_allclose(mask, _minmax(window3), atol=1e-6)
    assert mask[0] == 0.0 and mask[2] == pytest.approx(1.0)
    window5 = [
        np.var([0.0, 0.0, 1.0]),
        np.var([0.0, 0.0, 1.0, 3.0]),
        np.var([0.0, 0.0, 1.0, 3.0]),
        np.var([0.0, 1.0, 3.0]),
    ]
    mask = _frames(temporal_variance_mask(loc, aug, window=5, cyclic=False))
    np.testing.assert_allclose(mask, _minmax(window5), atol=1e-6)


def test_variance_mask_is_normalised_per_clip():
    rng = np.random.default_rng(2)
    loc = rng.normal(size=(2, 8, 4, 4, 1)).astype(np.float32)
    loc[1] *= 100.0  # a clip with a far larger variance must not squash the other clip
    aug = rng.normal(size=(2, 8, 4, 4, 1)).astype(np.float32)
    for cyclic in (True, False):
        mask = ops.convert_to_numpy(temporal_variance_mask(loc, aug, window=5, cyclic=cyclic))
        np.testing.assert_allclose(mask.min(axis=(1, 2, 3, 4)), [0.0, 0.0], atol=1e-6)
        np.testing.assert_allclose(mask.max(axis=(1, 2, 3, 4)), [1.0, 1.0], atol=1e-6)
        alone = ops.convert_to_numpy(
            temporal_variance_mask(loc[:1], aug[:1], window=5, cyclic=cyclic)
        )
        np.testing.assert_allclose(mask[:1], alone, atol=1e-6)


def test_temporal_gradient_matches_numpy_gradient_including_two_frames():
    rng = np.random.default_rng(3)
    for frames in (2, 3, 8):
        x = rng.normal(size=(2, frames, 3, 2, 1)).astype(np.float32)
        np.testing.assert_allclose(
            ops.convert_to_numpy(temporal_gradient(x)), np.gradient(x, axis=1), atol=1e-6
        )


def test_gradient_mask_edge_frames_by_hand():
    # x = t^2: first gradient [1, 2, 4, 6, 7] (one-sided ends), second [1, 1.5, 2, 1.5, 1].
    probs = clip_from_frames([0.0, 1.0, 4.0, 9.0, 16.0])
    np.testing.assert_allclose(
        _frames(temporal_gradient(temporal_gradient(probs))), [1.0, 1.5, 2.0, 1.5, 1.0]
    )
    np.testing.assert_allclose(
        _frames(gradient_smoothness_mask(probs)), [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-6
    )


def test_gradient_mask_keeps_the_sign():
    # A one-frame spike: the second derivative is most negative at the spike, so the signed,
    # normalised mask gives it 0 and the clip ends (one-sided differences) 1.
    probs = clip_from_frames([0.0, 0.0, 1.0, 0.0, 0.0])
    first = [0.0, 0.5, 0.0, -0.5, 0.0]
    second = [0.5, 0.0, -0.5, 0.0, 0.5]
    np.testing.assert_allclose(np.gradient([0.0, 0.0, 1.0, 0.0, 0.0]), first)
    np.testing.assert_allclose(np.gradient(first), second)
    np.testing.assert_allclose(_frames(gradient_smoothness_mask(probs)), [1.0, 0.5, 0.0, 0.5, 1.0])


@pytest.mark.parametrize(("lower", "upper"), [(None, None), (0.3, None), (None, 0.7), (0.3, 0.7)])
def test_gradient_mask_matches_released_numpy_loops(lower, upper):
    rng = np.random.default_rng(4)
    probs = rng.uniform(size=(3, 8, 4, 3, 1)).astype(np.float32)
    expected = released_gradient_mask(probs, lower, upper)
    got = ops.convert_to_numpy(gradient_smoothness_mask(probs, lower=lower, upper=upper))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_constant_clips_give_zero_masks_not_nan():
    constant = np.full((2, 8, 3, 3, 1), 0.7, dtype=np.float32)
    for mask in (
        temporal_variance_mask(constant, constant, window=5, cyclic=True),
        temporal_variance_mask(constant, constant, window=3, cyclic=False),
        gradient_smoothness_mask(constant),
        gradient_smoothness_mask(constant, lower=0.8),  # clamped to all zeros
    ):
        values = ops.convert_to_numpy(mask)
        assert np.all(values == 0.0)
