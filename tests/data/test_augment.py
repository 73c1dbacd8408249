"""The augmented view's invertible transforms and photometric jitter (keras.ops)."""

import itertools

import numpy as np
import pytest

from ssvad_keras.data.augment import (
    apply_view,
    apply_view_to_clip,
    invert_view,
    invert_view_spatial,
    photometric_jitter,
)

RNG = np.random.default_rng(0)
CLIPS = RNG.random((4, 3, 2, 5, 2)).astype("float32")  # (B, T, H, W, C)


def test_hflip_of_hflip_is_identity():
    flags = np.array([True, False, True, True])
    never = np.zeros(4, bool)
    once = np.asarray(apply_view(CLIPS, flags, never))
    twice = np.asarray(apply_view(once, flags, never))
    np.testing.assert_array_equal(twice, CLIPS)


@pytest.mark.parametrize("hflip,reverse", list(itertools.product([False, True], repeat=2)))
def test_invert_undoes_apply_for_every_combination(hflip, reverse):
    flags = np.full(4, hflip)
    reverses = np.full(4, reverse)
    restored = np.asarray(invert_view(apply_view(CLIPS, flags, reverses), flags, reverses))
    np.testing.assert_array_equal(restored, CLIPS)


def test_apply_view_flips_width_and_reverses_time_per_sample():
    hflip = np.array([True, False, False, True])
    reverse = np.array([False, True, False, True])
    out = np.asarray(apply_view(CLIPS, hflip, reverse))
    np.testing.assert_array_equal(out[0], CLIPS[0, :, :, ::-1])
    np.testing.assert_array_equal(out[1], CLIPS[1, ::-1])
    np.testing.assert_array_equal(out[2], CLIPS[2])
    np.testing.assert_array_equal(out[3], CLIPS[3, ::-1, :, ::-1])


def test_mixed_per_sample_parameters_invert():
    hflip = np.array([True, False, False, True])
    reverse = np.array([False, True, False, True])
    restored = np.asarray(invert_view(apply_view(CLIPS, hflip, reverse), hflip, reverse))
    np.testing.assert_array_equal(restored, CLIPS)


def test_invert_view_spatial_flips_grid_width_back():
    grid = RNG.random((2, 3, 4, 5)).astype("float32")  # (B, H, W, C)
    hflip = np.array([True, False])
    flipped = grid.copy()
    flipped[0] = grid[0, :, ::-1]
    np.testing.assert_array_equal(np.asarray(invert_view_spatial(flipped, hflip)), grid)


def test_photometric_jitter_matches_hand_computation_and_stays_in_range():
    x = np.array([0.2, 0.4, 0.6, 0.8], "float32").reshape(1, 1, 1, 4, 1)
    out = np.asarray(photometric_jitter(x, np.array([0.1]), np.array([1.5]))).ravel()
    # mean 0.5: (x - 0.5) * 1.5 + 0.5 + 0.1
    np.testing.assert_allclose(out, [0.15, 0.45, 0.75, 1.0], atol=1e-6)  # 1.05 clipped to 1
    strong = np.asarray(photometric_jitter(CLIPS, np.full(4, 0.9), np.full(4, 3.0)))
    assert strong.min() >= 0.0 and strong.max() <= 1.0


@pytest.mark.parametrize("hflip,reverse", list(itertools.product([False, True], repeat=2)))
def test_single_clip_view_matches_the_batched_view(hflip, reverse):
    single = np.asarray(apply_view_to_clip(CLIPS[1], np.bool_(hflip), np.bool_(reverse)))
    batched = np.asarray(apply_view(CLIPS[1:2], np.array([hflip]), np.array([reverse])))[0]
    np.testing.assert_array_equal(single, batched)
