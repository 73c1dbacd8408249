"""Paper protocol (localization accuracy): f-AP/v-AP by hand, absent classes, streaming."""

from __future__ import annotations

import numpy as np
import pytest

from ssvad_keras.evaluation import PaperMetricAccumulator, frame_overlaps, paper_metrics

THRESHOLDS = [0.2, 0.5, 0.55, 0.7]


def _square(t: int, frames_with_gt) -> np.ndarray:
    """(t, 4, 4) ground truth: a 2 x 2 square (4 pixels) on the given frames."""
    gt = np.zeros((t, 4, 4), bool)
    for f in frames_with_gt:
        gt[f, :2, :2] = True
    return gt


def _videos():
    # Video A (class 0): frame 0 exact (IoU 1); frame 1 half, the kept half at exactly 0.5
    # probability (IoU 2/4); frame 2 has no ground truth and a full prediction (ignored).
    gt_a = _square(3, [0, 1])
    pred_a = np.zeros((3, 4, 4))
    pred_a[0, :2, :2] = 0.9
    pred_a[1, :1, :2] = 0.5
    pred_a[1, 1:2, :2] = 0.49
    pred_a[2] = 1.0
    # Video B (class 0): empty prediction, IoU 0.
    gt_b = _square(1, [0])
    pred_b = np.zeros((1, 4, 4))
    # Video C (class 1): frame 0 twice the square (I 4, U 8), frame 1 exact. Video IoU 8/12.
    gt_c = _square(2, [0, 1])
    pred_c = np.zeros((2, 4, 4))
    pred_c[0, :2, :] = 0.8
    pred_c[1, :2, :2] = 0.8
    return [pred_a, pred_b, pred_c], [gt_a, gt_b, gt_c], [0, 0, 1]


def test_frame_overlaps_counts_only_ground_truth_frames():
    preds, gts, _ = _videos()
    intersections, unions = frame_overlaps(preds[0], gts[0])
    np.testing.assert_array_equal(intersections, [4, 2])
    np.testing.assert_array_equal(unions, [4, 4])


def test_paper_metrics_by_hand():
    preds, gts, labels = _videos()
    scores = [np.array([0.9, 0.1, 0.0]), np.array([0.2, 0.7, 0.1]), np.array([0.1, 0.8, 0.1])]
    m = paper_metrics(preds, gts, labels, num_classes=3, class_scores=scores, thresholds=THRESHOLDS)
    # Class 0 frame IoUs 1, .5, 0; class 1 frame IoUs .5, 1.
    np.testing.assert_allclose(m.per_class_fap[0], [2 / 3, 2 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(m.per_class_fap[1], [1, 1, 0.5, 0.5])
    # Class 0 video IoUs 6/8 and 0; class 1 video IoU 8/12.
    np.testing.assert_allclose(m.per_class_vap[0], [0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(m.per_class_vap[1], [1, 1, 1, 0])
    # Class 2 is absent: NaN, and left out of the means.
    assert np.isnan(m.per_class_fap[2]).all() and np.isnan(m.per_class_vap[2]).all()
    np.testing.assert_allclose(m.fmap, [5 / 6, 5 / 6, 5 / 12, 5 / 12])
    np.testing.assert_allclose(m.vmap, [0.75, 0.75, 0.75, 0.25])
    assert m.f_at_02 == pytest.approx(5 / 6) and m.v_at_05 == pytest.approx(0.75)
    assert m.accuracy == pytest.approx(2 / 3)
    assert (m.num_videos, m.num_frames) == (3, 5)


def test_paper_metrics_defaults_and_json():
    preds, gts, labels = _videos()
    m = paper_metrics(preds, gts, labels, num_classes=3)
    np.testing.assert_allclose(m.thresholds, np.arange(20) / 20)
    assert m.accuracy is None
    assert m.fmap[0] == 1.0  # every ground-truth frame has IoU >= 0
    out = m.to_dict()
    assert out["protocol"].startswith("f-mAP/v-mAP (paper protocol, localization accuracy)")
    assert out["f@0.5"] == pytest.approx(5 / 6) and out["v@0.2"] == pytest.approx(0.75)
    assert out["per_class_fap"][2][0] is None  # NaN -> null in JSON
    with pytest.raises(KeyError):
        m.fmap_at(0.33)


def test_accumulator_streams_counts_like_whole_videos():
    preds, gts, labels = _videos()
    whole = paper_metrics(preds, gts, labels, num_classes=3, thresholds=THRESHOLDS)
    acc = PaperMetricAccumulator(3, THRESHOLDS)
    for pred, gt, label in zip(preds, gts, labels, strict=True):
        acc.add_counts(*frame_overlaps(pred, gt), label)
    streamed = acc.result()
    np.testing.assert_array_equal(streamed.per_class_fap, whole.per_class_fap)
    np.testing.assert_array_equal(streamed.vmap, whole.vmap)


def test_video_without_ground_truth_counts_only_for_accuracy():
    m = paper_metrics([np.ones((2, 4, 4))], [np.zeros((2, 4, 4), bool)], [1], num_classes=2,
                      class_scores=[np.array([0.3, 0.7])], thresholds=[0.5])
    assert np.isnan(m.fmap).all() and np.isnan(m.vmap).all()
    assert m.accuracy == 1.0 and m.num_frames == 0


def test_paper_metrics_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        paper_metrics([np.zeros((2, 4, 4))], [np.zeros((2, 4, 5), bool)], [0], num_classes=1)
    with pytest.raises(ValueError):
        paper_metrics([np.zeros((1, 4, 4))], [np.ones((1, 4, 4), bool)], [3], num_classes=2)
