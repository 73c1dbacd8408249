"""Masks to ACT detections: largest-component boxes, coordinate mapping, tubes."""

from __future__ import annotations

import numpy as np
import pytest

from ssvad_keras.evaluation import box_scaler, detections_from_video, mask_to_box


def test_mask_to_box_takes_the_largest_component():
    mask = np.zeros((10, 12), bool)
    mask[0:2, 0:2] = True        # 4 pixels
    mask[4:7, 5:11] = True       # 18 pixels
    mask[9, 11] = True           # 1 pixel
    np.testing.assert_array_equal(mask_to_box(mask), [5, 4, 10, 6])


def test_mask_to_box_uses_eight_connectivity_and_single_pixels():
    diagonal = np.eye(4, dtype=bool)  # one 8-connected component of 4 pixels
    side = np.zeros((4, 4), bool)
    side[0, 3] = side[1, 3] = side[2, 3] = True
    np.testing.assert_array_equal(mask_to_box(diagonal | side), [0, 0, 3, 3])
    pixel = np.zeros((5, 5), np.uint8)
    pixel[2, 3] = 1
    np.testing.assert_array_equal(mask_to_box(pixel), [3, 2, 3, 2])
    assert mask_to_box(np.zeros((5, 5), bool)) is None


def test_box_scaler_maps_inclusive_pixel_spans():
    # 28-pixel mask over a 224 centre crop of 320 x 240 (offset 48, 8): pixel 0 covers 48..55.
    to_original = box_scaler(8, 8, 48, 8)
    np.testing.assert_array_equal(to_original(np.array([[0, 0, 0, 0], [27, 27, 27, 27]])),
                                  [[48, 8, 55, 15], [264, 224, 271, 231]])


def test_detections_from_video_rows_and_tubes():
    masks = np.zeros((4, 6, 6))
    masks[0, 1:3, 1:4] = 0.9
    masks[0, 5, 5] = 0.9           # smaller component, ignored by the box
    masks[2, 0:2, 0:2] = 0.6
    masks[3, 3, 3] = 0.4           # below the mask threshold: frame 4 is empty
    probs = np.array([0.6, 0.05, 0.35])
    dets, tubes = detections_from_video(masks, probs, "v", to_original=(2.0, 2.0), score_floor=0.1,
                                        frames=[11, 13, 15, 17])
    # Frames 11 and 15 have masks; classes 0 and 2 pass the floor: 2 x 2 rows, frame-major.
    assert dets.videos.tolist() == ["v"] * 4
    assert dets.frames.tolist() == [11, 11, 15, 15]
    assert dets.labels.tolist() == [0, 2, 0, 2]
    np.testing.assert_allclose(dets.scores, [0.6, 0.35, 0.6, 0.35])
    # Mask box [1, 1, 3, 2] at scale 2 -> [2, 2, 7, 5]; [0, 0, 1, 1] -> [0, 0, 3, 3].
    np.testing.assert_array_equal(dets.boxes, [[2, 2, 7, 5], [2, 2, 7, 5], [0, 0, 3, 3], [0, 0, 3, 3]])
    assert [(t.label, t.score) for t in tubes] == [(0, 0.6), (2, 0.35)]
    np.testing.assert_array_equal(tubes[0].boxes, [[11, 2, 2, 7, 5], [15, 0, 0, 3, 3]])


def test_detections_from_video_with_nothing_to_report():
    dets, tubes = detections_from_video(np.zeros((3, 4, 4)), np.array([0.9, 0.1]), "v")
    assert len(dets) == 0 and tubes == []
    dets, tubes = detections_from_video(np.ones((3, 4, 4)), np.array([0.05, 0.05]), "v", score_floor=0.1)
    assert len(dets) == 0 and tubes == []


def test_detections_from_video_accepts_a_callable_mapping():
    masks = np.zeros((1, 4, 4))
    masks[0, 1, 2] = 1.0
    dets, _ = detections_from_video(masks, np.array([1.0]), "v", to_original=lambda b: b + 100)
    np.testing.assert_array_equal(dets.boxes, [[102, 101, 102, 101]])
    with pytest.raises(ValueError):
        detections_from_video(np.zeros((4, 4)), np.array([1.0]), "v")
