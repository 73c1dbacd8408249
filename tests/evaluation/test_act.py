"""ACT protocol: box and tube IoU, tube NMS, AP integration, frame-AP and video-AP by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ssvad_keras.evaluation import (
    ActGroundTruth,
    FrameDetections,
    Tube,
    act_report,
    average_precision,
    box_iou,
    frame_ap,
    tube_iou,
    tube_nms,
    video_ap,
    video_ap_curve,
)
from tests.evaluation import eval_cases as cases


def _gt() -> ActGroundTruth:
    data = cases.annotation_dict()
    return ActGroundTruth(labels=data["labels"], videos=data["test_videos"][0], tubes=data["gttubes"])


def _frame_dets(rows=cases.FRAME_DETECTIONS) -> FrameDetections:
    videos, frames, labels, scores, boxes = zip(*rows, strict=True)
    return FrameDetections(np.array(videos, dtype=object), frames, labels, scores, boxes)


def _tubes(rows=cases.TUBES) -> list[Tube]:
    return [Tube(*row) for row in rows]


def test_box_iou_is_pixel_inclusive():
    # [0, 0, 9, 9] covers 10 x 10 pixels; boxes touching on one column share that column.
    assert box_iou(cases.FULL, cases.LEFT_HALF)[0, 0] == pytest.approx(0.5)
    assert box_iou([0, 0, 9, 9], [9, 0, 18, 9])[0, 0] == pytest.approx(10 / 190)
    assert box_iou([0, 0, 9, 9], [10, 0, 19, 9])[0, 0] == 0.0
    assert box_iou([3, 3, 3, 3], [3, 3, 3, 3])[0, 0] == 1.0  # a one-pixel box has area 1
    pairwise = box_iou([[0, 0, 9, 9], [0, 0, 4, 9]], [[0, 0, 9, 9], [5, 0, 9, 9], [50, 50, 60, 60]])
    np.testing.assert_allclose(pairwise, [[1, 0.5, 0], [0.5, 0, 0]])


def test_tube_iou_temporal_and_spatial_terms():
    gt = cases.tube_rows(range(1, 11))
    assert tube_iou(gt, cases.tube_rows(range(6, 16))) == pytest.approx(5 / 15)
    assert tube_iou(gt, cases.tube_rows(range(1, 6))) == pytest.approx(0.5)  # part of the GT span
    assert tube_iou(gt, cases.tube_rows(range(1, 11), cases.LEFT_HALF)) == pytest.approx(0.5)
    assert tube_iou(gt, cases.tube_rows(range(11, 15))) == 0.0
    # A gap inside the overlapping span counts as IoU 0 on that frame: 4 of 5 frames.
    assert tube_iou(cases.tube_rows(range(1, 6)), cases.tube_rows([1, 2, 4, 5])) == pytest.approx(0.8)


def test_tube_nms_keeps_best_and_separates_videos_and_classes():
    a = Tube("v", 0, 0.9, cases.tube_rows(range(1, 5)))
    overlapping = Tube("v", 0, 0.8, cases.tube_rows(range(1, 5), [0, 0, 9, 8]))
    disjoint = Tube("v", 0, 0.7, cases.tube_rows(range(10, 12)))
    other_class = Tube("v", 1, 0.6, cases.tube_rows(range(1, 5)))
    other_video = Tube("w", 0, 0.5, cases.tube_rows(range(1, 5)))
    kept = tube_nms([overlapping, a, disjoint, other_class, other_video])
    assert [t.score for t in kept] == [0.9, 0.7, 0.6, 0.5]
    # At 0.95 the 0.9-IoU tube survives.
    assert len(tube_nms([a, overlapping], iou_threshold=0.95)) == 2


def test_average_precision_trapezoid_without_envelope():
    assert average_precision(np.array([True, True]), 2) == pytest.approx(1.0)
    # FP first: (0, 1) -> (0, 0) -> (1, .5); an envelope would give 0.5.
    assert average_precision(np.array([False, True]), 1) == pytest.approx(0.25)
    assert average_precision(np.array([True]), 4) == pytest.approx(0.25)  # recall 1/4
    assert average_precision(np.zeros(0, bool), 3) == 0.0  # nothing detected
    assert average_precision(np.array([False]), 0) == 0.0  # class without ground truth


def test_frame_ap_by_hand():
    result = frame_ap(_gt(), _frame_dets(), 0.5)
    np.testing.assert_allclose(result.per_class, [cases.WALK_FRAME_AP, cases.JUMP_FRAME_AP, 0.0])
    assert result.mean == pytest.approx(cases.FRAME_MAP)
    # At 0.6 the half box no longer matches: walk is TP, FP, FP, FP.
    assert frame_ap(_gt(), _frame_dets(), 0.6).per_class[0] == pytest.approx(0.1)


def test_frame_ap_ignores_videos_outside_the_split():
    # Only the training-video detection: nothing counts, every class has AP 0.
    only_train = _frame_dets([cases.FRAME_DETECTIONS[0]])
    np.testing.assert_array_equal(frame_ap(_gt(), only_train).per_class, [0, 0, 0])
    # The training video's 10 ground-truth boxes are not positives: one perfect box = recall 1/10.
    one = _frame_dets([("W/v1", 1, 0, 0.9, cases.FULL)])
    assert frame_ap(_gt(), one).per_class[0] == pytest.approx(0.1)


def test_frame_ap_greedy_matching_within_a_frame():
    gt = ActGroundTruth(("a",), ("v",), {"v": {0: [cases.tube_rows([1]), cases.tube_rows([1], [20, 0, 29, 9])]}})
    dets = _frame_dets([
        ("v", 1, 0, 0.9, cases.FULL),           # takes the left box
        ("v", 1, 0, 0.8, cases.FULL),           # best unmatched is the right box, IoU 0: FP
        ("v", 1, 0, 0.7, [20, 0, 29, 9]),       # takes the right box
    ])
    # (r, p): (.5, 1) (.5, .5) (1, 2/3)
    assert frame_ap(gt, dets).mean == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)


def test_frame_ap_empty_detections_and_empty_ground_truth():
    assert frame_ap(_gt(), FrameDetections.empty()).mean == 0.0
    no_gt = ActGroundTruth(("a",), ("v",), {})
    assert frame_ap(no_gt, _frame_dets([("v", 1, 0, 0.9, cases.FULL)])).mean == 0.0


def test_video_ap_by_hand():
    results = video_ap_curve(_gt(), _tubes(), [0.2, 0.5, 0.75])
    for result in results:
        assert result.mean == pytest.approx(cases.VIDEO_MAP[result.iou_threshold])
    np.testing.assert_allclose(results[2].per_class, [1, 0, 0])


def test_video_ap_needs_tube_nms_for_duplicates():
    # A near-copy of the best tube in "v" ranks above the true positive in "w": NMS (0.3) must
    # remove it, or it costs precision.
    gt = ActGroundTruth(("a",), ("v", "w"), {"v": {0: [cases.tube_rows(range(1, 5))]},
                                             "w": {0: [cases.tube_rows(range(1, 5))]}})
    tubes = [
        Tube("v", 0, 0.9, cases.tube_rows(range(1, 5))),
        Tube("v", 0, 0.8, cases.tube_rows(range(1, 5), [0, 0, 9, 8])),
        Tube("w", 0, 0.7, cases.tube_rows(range(1, 5))),
    ]
    assert video_ap(gt, tubes, 0.5).mean == pytest.approx(1.0)
    # No suppression: TP, FP, TP -> (.5, 1) (.5, .5) (1, 2/3).
    assert video_ap(gt, tubes, 0.5, nms_threshold=1.0).mean == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)


def test_act_report_json_shape_and_sections():
    report = act_report(_gt(), _frame_dets(), _tubes())
    out = report.to_dict()
    assert set(out) == {"frame_ap", "video_ap"}
    assert set(out["frame_ap"]) == {"0.5"}
    assert set(out["video_ap"]) == {"0.2", "0.5", "0.75", "0.5:0.95"}
    assert out["frame_ap"]["0.5"]["map"] == pytest.approx(cases.FRAME_MAP)
    assert len(out["video_ap"]["0.5"]["per_class"]) == 3
    assert out["video_ap"]["0.5:0.95"] == pytest.approx(cases.VIDEO_MAP_50_95)
    assert set(act_report(_gt(), tubes=_tubes()).to_dict()) == {"video_ap"}
    assert set(act_report(_gt(), frame_detections=_frame_dets()).to_dict()) == {"frame_ap"}
