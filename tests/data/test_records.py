"""Parsing a SequenceExample, rasterising boxes and decoding PNG masks."""

import numpy as np
import pytest
import tensorflow as tf

from ssvad_keras.data.record_decoder import (
    CropWindow,
    crop_window,
    decode_frames,
    decode_mask_pngs,
    decode_object_ids,
    gather_boxes,
    parse_video_record,
    rasterize_boxes,
    to_unit_range,
)
from tfrecords_tools.record_encoder import VideoRecord, encode_video_record

from .conftest import HEIGHT, WIDTH, frame_ids, make_video

ORIG = tf.constant([HEIGHT, WIDTH])


def _norm(box):
    x1, y1, x2, y2 = box
    return [x1 / WIDTH, y1 / HEIGHT, x2 / WIDTH, y2 / HEIGHT]


def _window(resized, offset, out):
    return CropWindow(tf.constant(resized), tf.constant(offset), out, False)


def test_rasterised_box_equals_hand_drawn_rectangle_at_full_resolution():
    mask = rasterize_boxes(tf.constant([[_norm((4, 2, 9, 5))]]), ORIG, _window([24, 32], [0, 0], (24, 32)))
    expected = np.zeros((24, 32), np.float32)
    expected[2:6, 4:10] = 1.0  # inclusive pixels x 4..9, y 2..5
    np.testing.assert_array_equal(mask.numpy()[0, :, :, 0], expected)


def test_rasterisation_at_half_resolution_and_inside_a_crop():
    boxes = tf.constant([[_norm((4, 2, 9, 5))]])
    # Half resolution: output pixel i has its centre at original 2 i + 1, inside [2, 6) for i = 1, 2.
    half = rasterize_boxes(boxes, ORIG, _window([12, 16], [0, 0], (12, 16))).numpy()[0, :, :, 0]
    expected = np.zeros((12, 16), np.float32)
    expected[1:3, 2:5] = 1.0
    np.testing.assert_array_equal(half, expected)
    # A 6x8 crop at offset (y 3, x 6) of the full frame sees rows 3..5 and columns 6..9 of the box.
    crop = rasterize_boxes(boxes, ORIG, _window([24, 32], [3, 6], (6, 8))).numpy()[0, :, :, 0]
    expected = np.zeros((6, 8), np.float32)
    expected[0:3, 0:4] = 1.0
    np.testing.assert_array_equal(crop, expected)


def test_union_of_boxes_and_empty_padding_slots():
    boxes = tf.constant([[_norm((0, 0, 1, 1)), _norm((30, 22, 31, 23))], [[-1.0] * 4, [-1.0] * 4]])
    mask = rasterize_boxes(boxes, ORIG, _window([24, 32], [0, 0], (24, 32))).numpy()[..., 0]
    assert mask[0].sum() == 8 and mask[0, 0, 0] == 1 and mask[0, 23, 31] == 1
    assert mask[1].sum() == 0


def _record(video: VideoRecord):
    return parse_video_record(tf.constant(encode_video_record(video)))


def test_parse_gives_counts_flags_and_padded_ragged_boxes():
    video = _record(make_video("v", 1, 6, span=(2, 3)))
    assert video["video_id"].numpy() == b"v" and int(video["class_index"]) == 1
    assert int(video["num_frames"]) == 6 and video["stored_hw"].numpy().tolist() == [24, 32]
    assert video["annotated"].numpy().tolist() == [False, False, True, True, False, False]
    assert bool(video["has_boxes"]) and not bool(video["has_masks"])
    assert video["masks"].numpy().tolist() == [b""] * 6  # box-only: empty mask strings
    dense = gather_boxes(video["boxes"], tf.constant([0, 2, 3])).numpy()
    assert dense.shape == (3, 1, 4)
    np.testing.assert_allclose(dense[1, 0], _norm((4, 2, 9, 5)), atol=1e-6)
    assert (dense[0] == -1.0).all()


def test_png_masks_decode_to_foreground_and_object_ids():
    video = _record(make_video("m", 0, 3, span=(1, 1), with_masks=True))
    assert bool(video["has_masks"]) and video["boxes"].nrows() == 3
    masks = decode_mask_pngs(video["masks"], _window([24, 32], [0, 0], (24, 32))).numpy()[..., 0]
    expected = np.zeros((24, 32), np.float32)
    expected[2:6, 4:10] = 1.0
    np.testing.assert_array_equal(masks[1], expected)
    assert masks[0].sum() == 0 and masks[2].sum() == 0  # empty strings: no ground truth
    ids = decode_object_ids(video["masks"][1]).numpy()
    assert set(np.unique(ids).tolist()) == {0, 2}


def test_resized_png_masks_stay_binary():
    video = _record(make_video("m", 0, 2, with_masks=True))
    window = CropWindow(tf.constant([12, 16]), tf.constant([0, 0]), (12, 16), True)
    masks = decode_mask_pngs(video["masks"], window).numpy()
    assert masks.shape == (2, 12, 16, 1) and set(np.unique(masks).tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("mode", ["random", "center", "resize"])
def test_decoded_frames_are_in_unit_range_with_the_requested_size(mode):
    video = _record(make_video("v", 0, 4))
    window = crop_window(video["stored_hw"], (16, 20), mode, None, tf.constant([1, 2], tf.int64))
    pixels = decode_frames(tf.gather(video["frames"], [3, 1]), window)
    assert pixels.dtype == tf.uint8
    frames = to_unit_range(pixels).numpy()
    assert frames.shape == (2, 16, 20, 3) and frames.dtype == np.float32
    assert frames.min() >= 0.0 and frames.max() <= 1.0
    assert frame_ids(frames).tolist() == [3, 1]


def test_center_crop_offsets_and_random_crop_bounds():
    stored = tf.constant([24, 32])
    center = crop_window(stored, (16, 16), "center")
    assert center.offset.numpy().tolist() == [4, 8]
    for k in range(20):
        offset = crop_window(stored, (16, 16), "random", None, tf.constant([k, 0], tf.int64)).offset
        assert 0 <= int(offset[0]) <= 8 and 0 <= int(offset[1]) <= 16
