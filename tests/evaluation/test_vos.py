"""VOS J and F (SPEC 5.3) against hand-computed masks."""

from __future__ import annotations

import numpy as np
import pytest

from ssvad_keras.evaluation.vos import (
    boundary_f,
    boundary_tolerance,
    jaccard,
    jf_metrics,
    mask_boundary,
    youtube_vos_overall,
)


def _left(columns: int, shape=(3, 8)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[:, :columns] = True
    return mask


def test_jaccard_and_empty_masks():
    assert jaccard(_left(5), _left(4)) == pytest.approx(12 / 15)
    assert jaccard(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert jaccard(np.ones((3, 3)), np.zeros((3, 3))) == 0.0


def test_mask_boundary_by_hand():
    square = np.zeros((4, 4), bool)
    square[1:3, 1:3] = True
    expected = [
        [1, 1, 1, 0],
        [1, 0, 1, 0],
        [1, 1, 1, 0],
        [0, 0, 0, 0],
    ]
    np.testing.assert_array_equal(mask_boundary(square).astype(int), expected)
    # A mask filling the image has no boundary: the border creates none.
    assert not mask_boundary(np.ones((4, 4))).any()


def test_boundary_f_tolerance_and_edge_cases():
    assert boundary_tolerance(3, 8) == 1  # ceil(0.008 * 8.54)
    assert boundary_tolerance(480, 854) == 8  # ceil(0.008 * 979.7)
    assert boundary_f(_left(5), _left(4)) == 1.0   # one column apart, within the disk
    assert boundary_f(_left(6), _left(4)) == 0.0   # two columns apart
    assert boundary_f(np.zeros((3, 8)), np.zeros((3, 8))) == 1.0
    assert boundary_f(_left(4), np.zeros((3, 8))) == 0.0
    assert boundary_f(np.ones((3, 8)), _left(4)) == 0.0  # full mask: no boundary, the other has one


def test_jf_metrics_per_object_then_mean():
    gt = np.zeros((2, 3, 8), int)
    gt[:, :, :4] = 1
    gt[:, :, 6:] = 2
    pred = np.zeros_like(gt)
    pred[0, :, :4] = 1         # object 1: exact on frame 0
    pred[1, :, :5] = 1         # frame 1: J 12/15, F 1
    pred[:, :, 7:] = 2         # object 2: J 3/6 on both frames; boundary 1 column off: F 1
    m = jf_metrics(pred, gt)
    assert m.object_ids == (1, 2)
    np.testing.assert_allclose(m.j, [(1 + 0.8) / 2, 0.5])
    np.testing.assert_allclose(m.f, [1.0, 1.0])
    assert m.jf == pytest.approx(((0.9 + 0.5) / 2 + 1.0) / 2)
    assert youtube_vos_overall(0.6, 0.7, 0.4, 0.5) == pytest.approx(0.55)
