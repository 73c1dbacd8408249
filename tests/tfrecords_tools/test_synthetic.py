"""The synthetic benchmark: deterministic per seed, exact boxes and masks, untrimmed videos."""

import json

import numpy as np
import pytest
from prepare_fixtures import read_split_records

from tfrecords_tools.synthetic import CLASSES, generate_synthetic, render_synthetic_video


def _render(seed, class_index, **kwargs):
    return render_synthetic_video(np.random.default_rng(seed), class_index, num_frames=20, **kwargs)


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    first, again, other = _render(11, 2), _render(11, 2), _render(12, 2)
    assert b"".join(f.tobytes() for f in first.frames) == b"".join(f.tobytes() for f in again.frames)
    assert first.annotated == again.annotated
    assert not np.array_equal(first.frames[0], other.frames[0])


def test_boxes_are_the_bounding_boxes_of_the_masks():
    for class_index in range(len(CLASSES)):
        video = _render(100 + class_index, class_index, untrimmed_probability=1.0)
        assert video.class_index == class_index and len(video.frames) == 20
        assert video.frames[0].shape == (64, 64, 3) and video.frames[0].dtype == np.uint8
        assert not all(video.annotated), "an untrimmed video has unannotated frames"
        for annotated, mask, boxes in zip(video.annotated, video.masks, video.boxes, strict=True):
            if not annotated:
                assert mask is None and boxes.shape == (0, 4)
                continue
            ys, xs = np.nonzero(mask)
            assert set(np.unique(mask)) <= {0, 1} and len(xs) > 0
            np.testing.assert_array_equal(boxes, [[xs.min(), ys.min(), xs.max(), ys.max()]])


def test_actions_differ_by_motion_the_actor_moves():
    # Walking moves the actor's box across the frame; the other actions stay roughly in place.
    walk = _render(5, CLASSES.index("walk"), untrimmed_probability=0.0)
    centres = [(b[0, 0] + b[0, 2]) / 2 for b in walk.boxes if len(b)]
    assert abs(centres[-1] - centres[0]) > 4


def test_generated_dataset_round_trips_and_reruns_are_no_ops(tmp_path):
    out = tmp_path / "synthetic"
    summary = generate_synthetic(out, seed=3, num_train=10, num_test=2, frame_size=(32, 32), progress=False)
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["classes"] == list(CLASSES) and manifest["frame_size"] == [32, 32]
    train = manifest["splits"]["train"]
    assert sorted(train["labels"]) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert summary.splits["test"].videos == 2 and not summary.already_complete
    records = read_split_records(out, "train")
    for video_id, label in zip(train["video_ids"], train["labels"], strict=True):
        record = records[video_id]
        assert record["class_index"] == label and record["has_boxes"] and record["has_masks"]
        assert 32 <= record["num_frames"] <= 48 and record["frames"][0].shape == (32, 32, 3)
        t = record["annotated"].index(True)
        ys, xs = np.nonzero(record["masks"][t])
        box = record["boxes"][t][0] * 32  # rendered at 32x32: normalised box x 32 = pixels
        np.testing.assert_allclose(box, [xs.min(), ys.min(), xs.max(), ys.max()], atol=1e-4)
    split = json.loads((out / "splits" / "labeled-0.20-seed3.json").read_text())
    assert {train["labels"][train["video_ids"].index(v)] for v in split["labeled"]} == set(range(5))

    shard = out / train["shards"][0]
    before = shard.read_bytes(), shard.stat().st_mtime_ns
    again = generate_synthetic(out, seed=3, num_train=10, num_test=2, frame_size=(32, 32), progress=False)
    assert again.already_complete and shard.stat().st_mtime_ns == before[1]
    redone = generate_synthetic(
        out, seed=3, num_train=10, num_test=2, frame_size=(32, 32), overwrite=True, progress=False
    )
    assert not redone.already_complete and shard.stat().st_mtime_ns != before[1]
    assert shard.read_bytes() == before[0], "same seed -> identical shard bytes"
    assert json.loads((out / "dataset.json").read_text())["checksums"] == manifest["checksums"]


def test_shared_tiny_dataset_fixture_has_a_default_split(tiny_synthetic_dataset):
    manifest = json.loads((tiny_synthetic_dataset / "dataset.json").read_text())
    assert manifest["splits"]["train"]["num_videos"] == 10 and manifest["frame_size"] == [32, 32]
    split = json.loads((tiny_synthetic_dataset / "splits" / "labeled-0.20-seed0.json").read_text())
    assert len(split["labeled"]) + len(split["unlabeled"]) + len(split["val"]) == 10


def test_box_annotation_keeps_pixels_and_boxes_and_drops_the_masks():
    masks, boxes = _render(21, 3, untrimmed_probability=1.0), _render(21, 3, untrimmed_probability=1.0, annotation="boxes")
    assert boxes.masks is None and masks.masks is not None
    assert all(np.array_equal(a, b) for a, b in zip(masks.frames, boxes.frames, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(masks.boxes, boxes.boxes, strict=True))
    assert masks.annotated == boxes.annotated


def test_box_benchmark_records_have_no_masks_and_trains_on_filled_boxes(tmp_path):
    from ssvad_keras.config import DataConfig
    from ssvad_keras.data import train_dataset

    out = tmp_path / "boxes"
    generate_synthetic(out, seed=4, num_train=10, num_test=2, frame_size=(32, 32), annotation="boxes", progress=False)
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["options"]["annotation"] == "boxes"
    records = read_split_records(out, "train")
    assert all(r["has_boxes"] and not r["has_masks"] for r in records.values())
    cfg = DataConfig(input_size=(32, 32), labeled_per_batch=2, unlabeled_per_batch=0)
    batch = next(iter(train_dataset(out, "labeled-0.20-seed4", cfg, seed=0)))
    for clip_mask, valid in zip(batch["mask"].numpy()[..., 0], batch["frame_valid"].numpy(), strict=True):
        for frame, annotated in zip(clip_mask, valid, strict=True):
            if not annotated or not frame.any():
                continue
            ys, xs = np.nonzero(frame)
            # A filled rectangle: every pixel of its bounding box is on.
            assert frame[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all()


def test_a_benchmark_generated_with_other_settings_is_not_silently_reused(tmp_path):
    from ssvad_keras.errors import DataError

    out = tmp_path / "synthetic"
    generate_synthetic(out, seed=5, num_train=5, num_test=1, frame_size=(32, 32), progress=False)
    before = (out / "dataset.json").read_bytes()
    with pytest.raises(DataError, match=r"dataset\.json.*annotation 'masks' \(asked 'boxes'\)"):
        generate_synthetic(out, seed=5, num_train=5, num_test=1, frame_size=(32, 32), annotation="boxes", progress=False)
    assert (out / "dataset.json").read_bytes() == before
    with pytest.raises(DataError, match=r"seed 5 \(asked 6\)"):
        generate_synthetic(out, seed=6, num_train=5, num_test=1, frame_size=(32, 32), progress=False)
    replaced = generate_synthetic(
        out, seed=5, num_train=5, num_test=1, frame_size=(32, 32), annotation="boxes", overwrite=True, progress=False
    )
    assert not replaced.already_complete
    assert json.loads((out / "dataset.json").read_text())["options"]["annotation"] == "boxes"
