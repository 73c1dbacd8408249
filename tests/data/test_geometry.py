"""Frame geometry for any frame size: the "auto" resize rule, the partial-crop refusal, the
geometry log line, exact box mapping, and ground truth kept by evaluation on 320x240 frames."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from ssvad_keras.config import DataConfig, load_config
from ssvad_keras.data import (
    check_geometry,
    describe_geometry,
    eval_clip_dataset,
    eval_geometry,
    rasterize_boxes,
    resolve_resize,
)
from ssvad_keras.data.geometry import PAPER_CROP_AREA_SHARE
from ssvad_keras.data.record_decoder import crop_window
from ssvad_keras.errors import ConfigError
from tests.tfrecords_tools.prepare_fixtures import UCF_CLASSES, make_ucf_root

UCF_HW = (240, 320)
# The paper's 224 centre crop of 240x320, in original pixels (inclusive).
PAPER_REGION = {"x1": 48, "x2": 272, "y1": 8, "y2": 232}

# --------------------------------------------------------------------------- the rule


def test_auto_resize_keeps_the_paper_share_of_the_frame():
    assert resolve_resize(UCF_HW, (64, 64), "auto") == (69, 91)  # the number
    assert resolve_resize(UCF_HW, (224, 224), "auto") == UCF_HW  # the paper, unchanged
    assert resolve_resize(UCF_HW, (112, 112), "auto") == (120, 160)
    # A square frame: the crop covers sqrt(0.653) of each side.
    h, w = resolve_resize((256, 256), (64, 64), "auto")
    assert h == w and abs(64 / h - np.sqrt(PAPER_CROP_AREA_SHARE)) < 0.01
    # Too wide to reach the share on both axes: grown until the crop fits, aspect ratio kept.
    h, w = resolve_resize((100, 1000), (64, 64), "auto")
    assert h == 64 and w == 640
    assert resolve_resize(UCF_HW, (64, 64), "stored") == UCF_HW
    assert resolve_resize(UCF_HW, (64, 64), None) == UCF_HW  # run configs from before "auto"
    assert resolve_resize(UCF_HW, (64, 64), (80, 100)) == (80, 100)


def test_config_accepts_auto_stored_sizes_and_old_none():
    assert DataConfig().resize_to == "auto"
    assert DataConfig(resize_to=None).resize_to == "stored"
    assert DataConfig(resize_to=[69, 91]).resize_to == (69, 91)
    with pytest.raises(ValueError):
        DataConfig(resize_to=[0, 91])
    with pytest.raises(ConfigError, match="data.resize_to"):
        load_config(overrides={"data.resize_to": "big"})


def test_a_crop_under_half_the_frame_is_refused_in_one_line_unless_allowed():
    stored = DataConfig(input_size=(64, 64), resize_to="stored")
    with pytest.raises(ConfigError) as err:
        check_geometry(UCF_HW, stored, "center", "data/ucf/dataset.json")
    message = str(err.value)
    assert "\n" not in message and message.startswith("data/ucf/dataset.json: ")
    assert "covers 5% of the 240x320 frame" in message
    assert "data.resize_to" in message and "data.allow_partial_crop = true" in message
    check_geometry(UCF_HW, stored.model_copy(update={"allow_partial_crop": True}), "center")
    check_geometry(UCF_HW, stored, "resize")  # the whole frame: nothing to refuse
    check_geometry(UCF_HW, DataConfig(input_size=(64, 64)), "random")  # auto: 65 %
    with pytest.raises(ConfigError, match="larger than the 60x80 frame"):
        check_geometry(UCF_HW, DataConfig(input_size=(64, 64), resize_to=(60, 80)), "center")
    with pytest.raises(ConfigError, match="no frame_size is recorded"):
        check_geometry(None, DataConfig(input_size=(64, 64)), "center")


def test_geometry_line():
    tiny = DataConfig(input_size=(64, 64))
    assert describe_geometry(UCF_HW, tiny) == (
        "geometry: stored 240x320 -> resized 69x91 -> crop 64x64 "
        "(train: random, eval: center; crop covers 93% x 70% of the frame)"
    )
    paper = DataConfig(input_size=(224, 224), resize_to="stored")
    assert describe_geometry(UCF_HW, paper) == (
        "geometry: stored 240x320 (not resized) -> crop 224x224 "
        "(train: random, eval: center; crop covers 93% x 70% of the frame)"
    )


def test_eval_geometry_maps_every_model_pixel_as_the_rasteriser_places_it():
    # An auto-resized 240x320 frame (69x91) and its centre 64x64 crop: a model pixel is on
    # exactly when its centre, mapped back with `eval_geometry`, lies in the original box.
    resized = resolve_resize(UCF_HW, (64, 64), "auto")
    window = crop_window(tf.constant(UCF_HW, tf.int32), (64, 64), "center", resized)
    geometry = eval_geometry(UCF_HW, UCF_HW, (64, 64), "center", "auto")
    assert geometry.offset == tuple(float(v) for v in window.offset.numpy())
    box = np.array([60.0, 20.0, 110.0, 90.0])  # inclusive pixels x1, y1, x2, y2
    normalised = box / np.array([320, 240, 320, 240])
    mask = rasterize_boxes(tf.constant(normalised[None, None], tf.float32), tf.constant(UCF_HW), window)
    mask = mask.numpy()[0, :, :, 0] > 0
    ys, xs = np.meshgrid(np.arange(64) + 0.5, np.arange(64) + 0.5, indexing="ij")
    centres = geometry.to_original(np.stack([xs, ys, xs, ys], axis=-1))
    inside = (
        (centres[..., 0] >= box[0]) & (centres[..., 0] < box[2] + 1)
        & (centres[..., 1] >= box[1]) & (centres[..., 1] < box[3] + 1)
    )
    assert mask.any() and np.array_equal(mask, inside)
    # The mask's pixel box maps back to the original box within one resized pixel.
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    mapped = geometry.to_original([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]) - [0, 0, 1, 1]
    np.testing.assert_allclose(mapped, box, atol=max(geometry.scale))


# --------------------------------------------------------------------------- 320x240 dataset

# Boxes are either well inside the paper-style crop region or wholly outside it.
INSIDE = {"left": [60, 20, 110, 90], "centre": [140, 100, 180, 140], "low_right": [200, 150, 265, 225]}
OUTSIDE = {"left": [0, 40, 40, 200], "right": [285, 60, 319, 180], "bottom": [100, 234, 200, 239]}
WIDE_VIDEOS = {
    "Basketball/v_Basketball_g01_c01": {"split": "train", "label": 0, "nframes": 8, "tubes": [(1, 8, [100, 60, 200, 180])]},
    "Basketball/v_Basketball_g02_c01": {"split": "train", "label": 0, "nframes": 8, "tubes": [(1, 8, [90, 50, 220, 200])]},
    "Diving/v_Diving_g01_c01": {"split": "train", "label": 1, "nframes": 8, "tubes": [(1, 8, [120, 40, 180, 120])]},
    "Diving/v_Diving_g02_c01": {"split": "train", "label": 1, "nframes": 8, "tubes": [(1, 8, [40, 30, 300, 220])]},
    "Basketball/v_Basketball_g05_c01": {
        "split": "test", "label": 0, "nframes": 8,
        "tubes": [(1, 8, INSIDE["left"]), (3, 6, OUTSIDE["left"])],
    },
    "Diving/v_Diving_g05_c01": {
        "split": "test", "label": 1, "nframes": 8,
        "tubes": [(1, 4, OUTSIDE["right"]), (5, 8, INSIDE["centre"])],
    },
    "Basketball/v_Basketball_g06_c01": {
        "split": "test", "label": 0, "nframes": 6,
        "tubes": [(2, 5, INSIDE["low_right"]), (1, 6, OUTSIDE["bottom"])],
    },
}


def _frames_with_a_box(region: dict) -> int:
    """Test frames with at least one box wholly inside `region` (inclusive original pixels)."""
    count = 0
    for spec in WIDE_VIDEOS.values():
        if spec["split"] != "test":
            continue
        for t in range(1, spec["nframes"] + 1):
            count += any(
                first <= t <= last
                and region["x1"] <= x1 and x2 <= region["x2"] and region["y1"] <= y1 and y2 <= region["y2"]
                for first, last, (x1, y1, x2, y2) in spec["tubes"]
            )
    return count


@pytest.fixture(scope="module")
def ucf_320x240(tmp_path_factory) -> Path:
    from tfrecords_tools.ucf101 import convert_ucf101_24

    root = make_ucf_root(tmp_path_factory.mktemp("ucf320") / "root", WIDE_VIDEOS, size=UCF_HW)
    out = root.parent / "data"
    convert_ucf101_24(root, out, frame_size=UCF_HW, progress=False)
    return out


def test_tiny_preset_evaluation_keeps_every_box_inside_the_paper_crop(ucf_320x240):
    from ssvad_keras.inference.evaluate import evaluate_model
    from ssvad_keras.models import build_detector

    config = load_config(preset="tiny")
    assert config.data.resize_to == "auto"
    keras.utils.set_random_seed(0)
    detector = build_detector(config=config, num_classes=len(UCF_CLASSES), seed=0)
    # Untrained weights are fine: which ground-truth frames are counted does not depend on them.
    metrics = evaluate_model(detector, ucf_320x240, "test", config)
    expected = _frames_with_a_box(PAPER_REGION)
    assert expected == 16  # 8 + 4 + 4 frames; the boxes outside the region add none
    assert metrics.num_frames == expected

    # The stored size is refused (a 64x64 crop covers 5 % of 240x320) unless opted in, and then
    # only the centre 64x64 pixels (x 128..191, y 88..151) are evaluated.
    stored = load_config(preset="tiny", overrides={"data.resize_to": "stored"})
    with pytest.raises(ConfigError, match="data.allow_partial_crop"):
        eval_clip_dataset(ucf_320x240, "test", stored.data, 4)
    partial = load_config(preset="tiny", overrides={"data.resize_to": "stored", "data.allow_partial_crop": True})
    smaller = evaluate_model(detector, ucf_320x240, "test", partial)
    assert smaller.num_frames == _frames_with_a_box({"x1": 128, "x2": 191, "y1": 88, "y2": 151}) == 4
    assert smaller.num_frames < metrics.num_frames


# --------------------------------------------------------------------------- detect


class RedMaskDetector(keras.Model):
    """A stand-in detector at 4x8x8: mask logits +-10 where the red channel is above/below one
    half, equal class scores."""

    def __init__(self):
        super().__init__()
        self.clip_shape = (4, 8, 8, 3)
        self.num_classes = 2

    def call(self, clip, training=None):
        return {"class_scores": keras.ops.ones((keras.ops.shape(clip)[0], 2)),
                "loc_logits": 20.0 * (clip[..., :1] - 0.5)}


def test_detect_sees_the_frame_as_evaluation_does(tmp_path):
    import cv2

    from ssvad_keras.inference import detect_video

    # 72x96 frames: auto resizes them to 9x11 for an 8x8 input and cuts the centre (offset y 0,
    # x 1); a white square near the middle and, on odd frames, a strip in the first 8 columns,
    # which lie in resized column 0, outside the crop.
    frames = np.zeros((8, 72, 96, 3), np.uint8)
    frames[:, 16:48, 40:64] = 255
    frames[1::2, :, 0:8] = 255
    path = tmp_path / "square.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 72))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    centre = detect_video(path, RedMaskDetector(), tmp_path / "centre", overlay=True)
    # One resized pixel is 8 x 8.7 original pixels: the box is found within one of them.
    sx = 96 / 11
    for box in centre.boxes:
        np.testing.assert_allclose(box, [40, 16, 63, 47], atol=sx)
    whole = detect_video(path, RedMaskDetector(), tmp_path / "whole", overlay=False, crop="resize")
    # Squeezed whole, the strip is seen: on odd frames it is the largest component.
    assert whole.boxes[1][0] == 0 and whole.boxes[0][0] > 30
    assert centre.overlay_path.is_file()
    with pytest.raises(ConfigError, match="crop must be 'center' or 'resize'"):
        detect_video(path, RedMaskDetector(), tmp_path / "bad", crop="random")
