"""The synthetic benchmark: deterministic per seed, exact boxes and masks, untrimmed videos."""

import json

import numpy as np
import pytest

from tfrecords_tools.synthetic import (
    CLASSES,
    VOCABULARIES,
    generate_synthetic,
    plan_video,
    render_synthetic_video,
)
from tfrecords_tools.synthetic.clips import ClipSpec, clip_stream
from tfrecords_tools.synthetic.scene import DriftingShape, Spectator

from .prepare_fixtures import read_split_records

MOTION_CLASSES = VOCABULARIES["motion"].class_names


def _render(seed, class_index, **kwargs):
    kwargs.setdefault("frame_size", (64, 64))
    return render_synthetic_video(np.random.default_rng(seed), class_index, num_frames=20, **kwargs)


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    first, again, other = _render(11, 2), _render(11, 2), _render(12, 2)
    assert b"".join(f.tobytes() for f in first.frames) == b"".join(f.tobytes() for f in again.frames)
    assert first.annotated == again.annotated
    assert not np.array_equal(first.frames[0], other.frames[0])


@pytest.mark.parametrize("vocab", ["scenes", "motion", "pretrain"])
def test_boxes_are_the_bounding_boxes_of_each_actors_mask(vocab):
    # One tube per actor: box k is the bounding box of object id k + 1 (fencers come in pairs).
    for class_index in range(len(VOCABULARIES[vocab].classes)):
        video = _render(100 + class_index, class_index, untrimmed_probability=1.0, vocab=vocab)
        assert video.class_index == class_index and len(video.frames) == 20
        assert video.frames[0].shape == (64, 64, 3) and video.frames[0].dtype == np.uint8
        assert not all(video.annotated), "an untrimmed video has unannotated frames"
        for annotated, mask, boxes, tubes in zip(
            video.annotated, video.masks, video.boxes, video.box_tube_ids, strict=True
        ):
            if not annotated:
                assert mask is None and boxes.shape == (0, 4)
                continue
            assert len(boxes) == len(tubes) and set(np.unique(mask)) <= {0, 1, 2}
            for box, tube in zip(boxes, tubes, strict=True):
                ys, xs = np.nonzero(mask == tube + 1)
                np.testing.assert_array_equal(box, [xs.min(), ys.min(), xs.max(), ys.max()])


def test_motion_benchmark_classes_differ_by_motion_the_walker_moves():
    # Walking moves the actor's box across the frame; the other actions stay roughly in place.
    walk = _render(5, MOTION_CLASSES.index("walk"), untrimmed_probability=0.0, vocab="motion")
    centres = [(b[0, 0] + b[0, 2]) / 2 for b in walk.boxes if len(b)]
    assert abs(centres[-1] - centres[0]) > 4


def test_scene_classes_differ_by_scene_colour_not_only_by_motion():
    # UCF101-24-like: a pool is blue, a court brown. The mean colour of a class's first frames
    # separates pool (diving) from court (basketball) videos; in the motion-only benchmark the
    # canvas colour carries no class information.
    def mean_rgb(class_name, seed):
        index = CLASSES.index(class_name)
        return _render(seed, index, untrimmed_probability=0.0).frames[0].reshape(-1, 3).mean(0)

    for seed in range(3):
        pool, court = mean_rgb("diving", seed), mean_rgb("basketball", seed)
        assert pool[2] > pool[0] + 20 and court[0] > court[2] + 20


def test_vocabularies_are_disjoint_so_pretraining_never_sees_a_benchmark_class():
    scenes, motion, pretrain = (set(VOCABULARIES[v].class_names) for v in ("scenes", "motion", "pretrain"))
    assert not scenes & pretrain and not motion & pretrain and not scenes & motion
    assert CLASSES == VOCABULARIES["scenes"].class_names


def test_scene_plan_types_its_distractors_and_is_drawn_before_rendering():
    vocab = VOCABULARIES["motion"]
    plan = plan_video(np.random.default_rng(3), vocab, 0, num_frames=16, frame_size=(64, 64))
    kinds = {type(d) for d in plan.distractors}
    assert kinds <= {Spectator, DriftingShape} and Spectator in kinds
    assert 0 <= plan.start < plan.end <= 16 and len(plan.actors) == 1


def test_clip_stream_renders_new_reproducible_clips_with_filled_box_masks():
    spec = ClipSpec(clip_length=4, frame_skip=2, frame_size=(40, 52), input_size=(32, 32))
    first = [next(clip_stream("pretrain", spec, seed=5)) for _ in range(2)]
    stream = clip_stream("pretrain", spec, seed=5)
    a, b = next(stream), next(stream)
    assert a["clip"].shape == (4, 32, 32, 3) and a["mask"].shape == (4, 32, 32, 1)
    np.testing.assert_array_equal(a["clip"], first[0]["clip"])  # clip i is seeded by (seed, i)
    assert not np.array_equal(a["clip"], b["clip"])
    other = next(clip_stream("pretrain", spec, seed=6))
    assert not np.array_equal(a["clip"], other["clip"])
    assert 0 <= int(a["label"]) < len(VOCABULARIES["pretrain"].classes)
    assert set(np.unique(a["mask"])) <= {0, 1} and a["mask"].any()  # the actors' filled boxes


def test_generated_dataset_round_trips_and_reruns_are_no_ops(tmp_path):
    out = tmp_path / "synthetic"
    summary = generate_synthetic(
        out, seed=3, num_train=10, num_test=2, frame_size=(32, 32), vocab="motion", progress=False
    )
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["classes"] == list(MOTION_CLASSES) and manifest["frame_size"] == [32, 32]
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
    again = generate_synthetic(
        out, seed=3, num_train=10, num_test=2, frame_size=(32, 32), vocab="motion", progress=False
    )
    assert again.already_complete and shard.stat().st_mtime_ns == before[1]
    redone = generate_synthetic(
        out, seed=3, num_train=10, num_test=2, frame_size=(32, 32), vocab="motion", overwrite=True,
        progress=False,
    )
    assert not redone.already_complete and shard.stat().st_mtime_ns != before[1]
    assert shard.read_bytes() == before[0], "same seed -> identical shard bytes"
    assert json.loads((out / "dataset.json").read_text())["checksums"] == manifest["checksums"]


def test_rendering_in_two_worker_processes_writes_the_same_bytes(tmp_path):
    options = dict(seed=4, num_train=6, num_test=2, frame_size=(24, 32), annotation="boxes", progress=False)
    generate_synthetic(tmp_path / "one", **options)
    generate_synthetic(tmp_path / "two", workers=2, **options)
    one = json.loads((tmp_path / "one" / "dataset.json").read_text())
    two = json.loads((tmp_path / "two" / "dataset.json").read_text())
    assert one["checksums"] == two["checksums"] and one["splits"] == two["splits"]
    for name in one["checksums"]:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


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
    # One actor per video (the motion vocabulary): each frame's mask is one filled rectangle.
    generate_synthetic(
        out, seed=4, num_train=10, num_test=2, frame_size=(32, 32), annotation="boxes", vocab="motion",
        progress=False,
    )
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
    generate_synthetic(out, seed=5, num_train=6, num_test=1, frame_size=(32, 32), progress=False)
    before = (out / "dataset.json").read_bytes()
    with pytest.raises(DataError, match=r"dataset\.json.*annotation 'masks' \(asked 'boxes'\)"):
        generate_synthetic(out, seed=5, num_train=6, num_test=1, frame_size=(32, 32), annotation="boxes", progress=False)
    assert (out / "dataset.json").read_bytes() == before
    with pytest.raises(DataError, match=r"seed 5 \(asked 6\)"):
        generate_synthetic(out, seed=6, num_train=6, num_test=1, frame_size=(32, 32), progress=False)
    replaced = generate_synthetic(
        out, seed=5, num_train=6, num_test=1, frame_size=(32, 32), annotation="boxes", overwrite=True, progress=False
    )
    assert not replaced.already_complete
    assert json.loads((out / "dataset.json").read_text())["options"]["annotation"] == "boxes"
