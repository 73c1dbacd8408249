"""Training and evaluation pipelines on small real TFRecords (see conftest.semi_dataset)."""

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ssvad_keras.config import AugmentConfig, DataConfig
from ssvad_keras.data import (
    eval_clip_dataset,
    eval_geometry,
    invert_view,
    read_annotations,
    train_dataset,
    train_steps_per_epoch,
)
from ssvad_keras.errors import ConfigError, DataError

from .conftest import frame_ids, make_video, write_dataset

# The stored 24x32 frames, not resized: these tests pin crop offsets and box pixels at the
# stored size, so they opt in to a crop that covers a third of the frame.
CFG = DataConfig(
    clip_length=4, frame_skip=2, input_size=(16, 16), labeled_per_batch=2,
    unlabeled_per_batch=2, shuffle_buffer=16, resize_to="stored", allow_partial_crop=True,
)
SPLIT = "labeled-test"


def _batches(ds):
    return [{k: v.numpy() for k, v in batch.items()} for batch in ds]


def test_train_batch_shapes_dtypes_and_ranges(semi_dataset):
    (batch,) = _batches(train_dataset(semi_dataset, SPLIT, CFG, seed=0))  # 3 unlabeled // 2
    shapes = {k: (v.shape, v.dtype.name) for k, v in batch.items()}
    assert shapes == {
        "clip": ((4, 4, 16, 16, 3), "float32"),
        "aug_clip": ((4, 4, 16, 16, 3), "float32"),
        "hflip": ((4,), "float32"),
        "time_reverse": ((4,), "float32"),
        "labeled": ((4,), "float32"),
        "label": ((4,), "int32"),
        "mask": ((4, 4, 16, 16, 1), "float32"),
        "frame_valid": ((4, 4), "float32"),
    }
    for key in ("clip", "aug_clip"):
        assert batch[key].min() >= 0.0 and batch[key].max() <= 1.0
    assert set(np.unique(batch["mask"]).tolist()) <= {0.0, 1.0}
    assert batch["clip"].max() > 0.1  # real pixels, not an all-zero clip


def test_batches_mix_at_the_ratio_and_unlabeled_clips_carry_no_ground_truth(semi_dataset):
    cfg = CFG.model_copy(update={"labeled_per_batch": 3, "unlabeled_per_batch": 1})
    batches = _batches(train_dataset(semi_dataset, SPLIT, cfg, seed=3))
    assert len(batches) == 3 == train_steps_per_epoch(semi_dataset, SPLIT, cfg)
    for batch in batches:
        labeled = batch["labeled"] == 1.0
        assert labeled.sum() == 3 and set(batch["labeled"].tolist()) <= {0.0, 1.0}
        # The unlabeled videos have boxes on every frame, yet nothing of them is exposed.
        assert batch["label"][~labeled].tolist() == [0]
        assert batch["mask"][~labeled].sum() == 0 and batch["frame_valid"][~labeled].sum() == 0
        np.testing.assert_array_equal(batch["frame_valid"][labeled], 1.0)
    many = _batches(train_dataset(semi_dataset, SPLIT, cfg, seed=4).repeat(6))
    spots = {int(np.flatnonzero(b["labeled"] == 0.0)[0]) for b in many}
    assert len(spots) > 1  # the unlabeled clip is not always in the same slot


def test_labeled_clips_start_inside_the_annotated_span(semi_dataset):
    cfg = CFG.model_copy(update={"augment": AugmentConfig(hflip=False)})
    starts = []
    for batch in _batches(train_dataset(semi_dataset, SPLIT, cfg, seed=1, labeled_only=True).repeat(8)):
        ids = frame_ids(batch["clip"])
        assert (np.diff(ids, axis=1) == 2).all()  # frame skip 2, no clamping needed here
        starts.extend(ids[:, 0].tolist())
        np.testing.assert_array_equal(batch["frame_valid"], 1.0)  # 10 <= start <= 23: all GT
    assert min(starts) >= 10 and max(starts) <= 23 and len(set(starts)) > 3


def test_labeled_only_epoch_is_one_pass_over_labeled_videos(semi_dataset):
    cfg = CFG.model_copy(update={"labeled_per_batch": 2, "unlabeled_per_batch": 1})  # B = 3
    batches = _batches(train_dataset(semi_dataset, SPLIT, cfg, labeled_only=True))
    assert len(batches) == 2 == train_steps_per_epoch(semi_dataset, SPLIT, cfg, labeled_only=True)
    assert all(b["labeled"].tolist() == [1.0] * 3 for b in batches)


def test_every_pass_over_the_labeled_videos_is_a_permutation(tmp_path):
    # Video i carries a box in stored columns 2i..2i+1, i.e. column i of the 16x16 'resize' crop.
    videos = [make_video(f"v{i}", i % 2, 12, box=(2 * i, 2, 2 * i + 1, 5)) for i in range(6)]
    split = {"labeled": [v.video_id for v in videos], "unlabeled": [], "val": []}
    root = write_dataset(tmp_path, {"train": videos}, split)
    cfg = CFG.model_copy(update={"train_crop": "resize", "labeled_per_batch": 3, "unlabeled_per_batch": 0})
    dataset = train_dataset(root, SPLIT, cfg, seed=0, labeled_only=True)
    orders = []
    for _ in range(3):  # three epochs of two batches: each one pass over the six videos
        masks = np.concatenate([b["mask"] for b in _batches(dataset)])
        orders.append([int(np.flatnonzero(m.any(axis=(0, 1, 3)))[0]) for m in masks])
    assert all(sorted(order) == list(range(6)) for order in orders)
    assert len({tuple(order) for order in orders}) > 1  # reshuffled between passes


def test_augmented_view_inverts_to_the_clip_without_jitter(semi_dataset):
    aug = AugmentConfig(hflip=True, time_reverse=True, probability=0.5)
    cfg = CFG.model_copy(update={"augment": aug})
    batches = _batches(train_dataset(semi_dataset, SPLIT, cfg, seed=2).repeat(4))
    flips = np.concatenate([b["hflip"] for b in batches])
    assert flips.any() and not flips.all()  # drawn per clip
    for b in batches:
        back = np.asarray(invert_view(b["aug_clip"], b["hflip"], b["time_reverse"]))
        np.testing.assert_allclose(back, b["clip"], atol=1e-6)


def test_photometric_jitter_changes_only_the_augmented_view(semi_dataset):
    aug = AugmentConfig(hflip=False, brightness=0.2, contrast=0.3)
    (batch,) = _batches(train_dataset(semi_dataset, SPLIT, CFG.model_copy(update={"augment": aug})))
    assert np.abs(batch["aug_clip"] - batch["clip"]).max() > 1e-3
    assert batch["aug_clip"].min() >= 0.0 and batch["aug_clip"].max() <= 1.0


@pytest.mark.parametrize("labeled_only", [True, False])
def test_same_seed_same_batches_other_seed_other_batches(semi_dataset, labeled_only):
    cfg = CFG.model_copy(update={"unlabeled_per_batch": 1})

    def take(seed):
        ds = train_dataset(semi_dataset, SPLIT, cfg, seed=seed, labeled_only=labeled_only)
        return _batches(ds)

    first, again, other = take(5), take(5), take(6)
    for a, b in zip(first, again, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a["clip"], b["clip"]) for a, b in zip(first, other, strict=True))


def test_pixel_masks_are_used_when_the_video_has_them(tmp_path):
    videos = [make_video(f"m{i}", 0, 12, with_masks=True) for i in range(2)]
    split = {"labeled": ["m0", "m1"], "unlabeled": [], "val": []}
    root = write_dataset(tmp_path, {"train": videos}, split)
    cfg = CFG.model_copy(update={"train_crop": "center", "augment": AugmentConfig(hflip=False)})
    (batch,) = _batches(train_dataset(root, SPLIT, cfg, labeled_only=True).take(1))
    # Center crop (offset y 4, x 8) of the 24x32 mask with foreground rows 2..5, cols 4..9.
    expected = np.zeros((16, 16), np.float32)
    expected[0:2, 0:2] = 1.0
    np.testing.assert_array_equal(batch["mask"][0, 0, :, :, 0], expected)


def test_train_dataset_rejects_bad_arguments(semi_dataset):
    with pytest.raises(ConfigError, match="larger than the 24x32 frame"):
        train_dataset(semi_dataset, SPLIT, CFG.model_copy(update={"input_size": (32, 32)}))
    with pytest.raises(ConfigError, match="model has 5 classes but the dataset has 2"):
        train_dataset(semi_dataset, SPLIT, CFG, num_classes=5)
    with pytest.raises(DataError, match="file not found"):
        train_dataset(semi_dataset, "labeled-0.99-seed9", CFG)
    with pytest.raises(DataError, match="unknown training video id"):
        train_dataset(semi_dataset, {"labeled": ["x"], "unlabeled": [], "val": []}, CFG)


def test_eval_clips_cover_every_frame_of_every_video_exactly_once(semi_dataset):
    batches = _batches(eval_clip_dataset(semi_dataset, "test", CFG, batch_size=4))
    seen = Counter()
    for b in batches:
        assert b["clip"].shape[1:] == (4, 16, 16, 3) and b["mask"].shape[1:] == (4, 16, 16, 1)
        for video, frames, clip in zip(b["video_index"], b["frame_index"], b["clip"], strict=True):
            valid = frames >= 0
            seen.update((int(video), int(f)) for f in frames[valid])
            assert (clip[~valid] == 0).all()  # zero padding past the end
            assert (b["frame_valid"][b["frame_index"] < 0] == 0).all()
            np.testing.assert_array_equal(frame_ids(clip[valid]), frames[valid])
    # test0 has 19 frames (not a multiple of T s = 8), test1 has 16.
    expected = {(0, f) for f in range(19)} | {(1, f) for f in range(16)}
    assert set(seen) == expected and set(seen.values()) == {1}
    clips = sum(len(b["label"]) for b in batches)
    assert clips == 6 + 4  # ceil(19/8) * 2 + 2 * 2, clips without ground truth kept


def test_eval_padding_repeat_fills_the_last_window_with_the_last_frame(semi_dataset):
    """`data.eval_padding = "repeat"`: padded frames show the video's last frame, unscored."""
    repeat = CFG.model_copy(update={"eval_padding": "repeat"})
    last = {0: 18, 1: 15}  # test0 has 19 frames, test1 16
    padded = 0
    for zeros, repeated in zip(_batches(eval_clip_dataset(semi_dataset, "test", CFG, batch_size=4)),
                               _batches(eval_clip_dataset(semi_dataset, "test", repeat, batch_size=4)), strict=True):
        np.testing.assert_array_equal(zeros["frame_index"], repeated["frame_index"])
        np.testing.assert_array_equal(zeros["mask"], repeated["mask"])
        np.testing.assert_array_equal(zeros["frame_valid"], repeated["frame_valid"])
        real = zeros["frame_index"] >= 0
        np.testing.assert_array_equal(zeros["clip"][real], repeated["clip"][real])
        for video, frames, clip in zip(repeated["video_index"], repeated["frame_index"], repeated["clip"], strict=True):
            pad = frames < 0
            padded += int(pad.sum())
            assert (frame_ids(clip[pad]) == last[int(video)]).all()
    assert padded == 5  # test0 ends in frames 16-18: phase 0 (16, 18, -, -) pads 2, phase 1 (17, -, -, -) 3


def test_eval_clips_phase_layout_and_ground_truth(semi_dataset):
    (first, *_rest) = _batches(eval_clip_dataset(semi_dataset, "test", CFG, batch_size=3))
    assert first["frame_index"][:2].tolist() == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert first["video_index"].tolist() == [0, 0, 0] and first["label"].tolist() == [1, 1, 1]
    # test0 is annotated on frames 3..15.
    assert first["frame_valid"][0].tolist() == [0.0, 0.0, 1.0, 1.0]
    masks = first["mask"][0].sum(axis=(1, 2, 3))
    assert masks.tolist() == [0.0, 0.0, 4.0, 4.0]  # 2x2 of the box inside the center crop


def test_eval_by_ids_indexes_in_the_given_order(semi_dataset):
    batches = _batches(eval_clip_dataset(semi_dataset, ["val0", "lab2"], CFG, batch_size=64))
    indices = np.concatenate([b["video_index"] for b in batches])
    assert Counter(indices.tolist()) == {0: 6, 1: 10}  # val0: 20 frames -> 3 windows, lab2: 40 -> 5
    with pytest.raises(DataError, match="unknown video id 'nope'"):
        eval_clip_dataset(semi_dataset, ["nope"], CFG, 4)


def test_eval_geometry_maps_model_pixels_to_original_pixels():
    center = eval_geometry((240, 320), (240, 320), (224, 224), "center")
    assert center.offset == (8.0, 48.0) and center.scale == (1.0, 1.0)
    resized = eval_geometry((120, 160), (240, 320), (112, 112), "center", resize_to=(128, 160))
    # Resized to 128x160, crop offset (8, 24); original pixels per resized pixel: 1.875, 2.
    np.testing.assert_allclose(resized.to_original([0, 0, 112, 112]), [48, 15, 272, 225])
    whole = eval_geometry((240, 320), (240, 320), (120, 160), "resize")
    np.testing.assert_allclose(whole.to_original([10, 10, 20, 20]), [20, 20, 40, 40])


def test_read_annotations_returns_original_pixel_boxes_without_frames(semi_dataset):
    annotations = {a.video_id: a for a in read_annotations(semi_dataset, "test")}
    test0 = annotations["test0"]
    assert (test0.num_frames, test0.label, test0.video_index, test0.orig_hw) == (19, 1, 0, (24, 32))
    assert np.flatnonzero(test0.annotated).tolist() == list(range(3, 16))
    assert len(test0.boxes) == 19 and test0.boxes[0].shape == (0, 4)
    np.testing.assert_allclose(test0.boxes[5], [[4, 2, 9, 5]], atol=1e-4)
    assert test0.tube_ids[5].tolist() == [0]


def test_train_dataset_runs_under_mirrored_strategy(semi_dataset):
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from ssvad_keras.config import DataConfig
        from ssvad_keras.data import train_dataset
        cfg = DataConfig.model_validate({CFG.model_dump(mode="json")!r})
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        ds = train_dataset({str(semi_dataset)!r}, "{SPLIT}", cfg, seed=0)
        batch = next(iter(strategy.experimental_distribute_dataset(ds)))
        sizes = strategy.run(lambda b: tf.shape(b["clip"])[0], args=(batch,))
        labeled = strategy.run(lambda b: tf.reduce_sum(b["labeled"]), args=(batch,))
        total = strategy.reduce(tf.distribute.ReduceOp.SUM, labeled, axis=None)
        print("sizes", [int(s) for s in strategy.experimental_local_results(sizes)], "labeled", float(total))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sizes [2, 2] labeled 2.0" in result.stdout
