"""`prepare ucf101-24`: frames from JPEG folders or mp4 videos, tubes -> per-frame boxes, manifest."""

import json
import pickle

import numpy as np
import pytest

from ssvad_keras.data.splits import make_split
from tfrecords_tools.record_encoder import sha256_file
from tfrecords_tools.ucf101 import convert_ucf101_24

from .prepare_fixtures import (
    HEIGHT,
    UCF_CLASSES,
    UCF_VIDEOS,
    WIDTH,
    frame_colour,
    make_ucf_root,
    read_split_records,
    released_split_entries,
    ucf_videos,
)

TRAIN = [v for v, s in UCF_VIDEOS.items() if s["split"] == "train"]
TEST = [v for v, s in UCF_VIDEOS.items() if s["split"] == "test"]


@pytest.fixture(scope="module")
def ucf_frames_out(tmp_path_factory):
    root = make_ucf_root(tmp_path_factory.mktemp("ucf") / "root")
    out = root.parent / "out"
    summary = convert_ucf101_24(root, out, frame_size=(HEIGHT, WIDTH), shards=2, progress=False)
    return root, out, summary


def test_manifest_lists_classes_splits_counts_and_checksums(ucf_frames_out):
    root, out, summary = ucf_frames_out
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["format_version"] == 1 and manifest["source"] == "ucf101-24"
    assert manifest["classes"] == UCF_CLASSES and manifest["frame_size"] == [HEIGHT, WIDTH]
    train = manifest["splits"]["train"]
    assert train["video_ids"] == TRAIN and train["labels"] == [0, 0, 1, 1]
    assert train["num_videos"] == 4 and train["num_frames"] == 8 + 6 + 7 + 6
    assert train["shards"] == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    assert manifest["splits"]["test"]["video_ids"] == TEST
    assert manifest["checksums"] == {n: sha256_file(out / n) for n in manifest["checksums"]}
    assert set(manifest["checksums"]) == {*train["shards"], *manifest["splits"]["test"]["shards"]}
    assert manifest["options"]["frame_size"] == [HEIGHT, WIDTH] and manifest["options"]["strict"] is False
    assert manifest["created_by"].startswith("ssvad-keras ")
    # The partly-outside box of g02 is clipped on all its 6 frames, and reported.
    assert manifest["clipped_boxes"] == {"Basketball/v_Basketball_g02_c01": 6}
    assert summary.clipped_boxes == manifest["clipped_boxes"] and summary.num_videos == 6


def test_default_split_file_is_written_from_the_training_videos(ucf_frames_out):
    _, out, _ = ucf_frames_out
    split = json.loads((out / "splits" / "labeled-0.20-seed0.json").read_text())
    assert split == make_split(TRAIN, [0, 0, 1, 1], 0.2, seed=0, val_fraction=0.1)


def test_frames_boxes_tubes_and_annotated_flags_round_trip(ucf_frames_out):
    _, out, _ = ucf_frames_out
    records = read_split_records(out, "train")
    assert list(records) != [] and set(records) == set(TRAIN)
    video = records["Basketball/v_Basketball_g01_c01"]
    assert video["num_frames"] == 8 and video["class_index"] == 0 and video["source"] == "ucf101-24"
    assert video["orig_size"] == (HEIGHT, WIDTH) and video["has_boxes"] and not video["has_masks"]
    for t, frame in enumerate(video["frames"]):
        assert np.abs(frame.astype(int) - frame_colour(0, t)).mean() < 4
    # Tube A covers frames 2..6, tube B 4..8 (1-based): annotated = union.
    assert video["annotated"] == [False, True, True, True, True, True, True, True]
    scale = np.array([WIDTH, HEIGHT, WIDTH, HEIGHT], np.float32)
    assert video["boxes"][0].shape == (0, 4)
    np.testing.assert_allclose(video["boxes"][1] * scale, [[10, 5, 30, 40]], atol=1e-3)
    np.testing.assert_allclose(video["boxes"][4] * scale, [[10, 5, 30, 40], [35, 10, 60, 45]], atol=1e-3)
    assert video["tube_ids"][4].tolist() == [0, 1] and video["tube_ids"][7].tolist() == [1]
    clipped = records["Basketball/v_Basketball_g02_c01"]
    np.testing.assert_allclose(clipped["boxes"][0] * scale, [[0, 2, 20, 30]], atol=1e-3)


def test_mp4_videos_decode_to_the_same_frames(tmp_path):
    root = make_ucf_root(tmp_path / "root", layout="mp4")
    convert_ucf101_24(root, tmp_path / "out", frame_size=(24, 32), progress=False)
    records = read_split_records(tmp_path / "out", "test")
    video = records["Diving/v_Diving_g03_c01"]
    assert video["size"] == (24, 32) and video["orig_size"] == (HEIGHT, WIDTH)
    assert len(video["frames"]) == 6 and video["frames"][0].shape == (24, 32, 3)
    for t, frame in enumerate(video["frames"]):
        # RGB order survives (BGR -> RGB on decoding); mp4v is lossy, flat frames nearly exact.
        assert np.abs(frame.astype(int) - frame_colour(5, t)).mean() < 8
    assert video["annotated"] == [False, False, True, True, True, True]
    np.testing.assert_allclose(video["boxes"][2], [[0, 0, 63 / 64, 1 - 1 / 48]], atol=1e-6)


def test_released_split_pickles_keep_their_labeled_videos(tmp_path):
    root = make_ucf_root(tmp_path / "root")
    labeled = {"Basketball/v_Basketball_g01_c01", "Diving/v_Diving_g02_c01"}
    split_pkl = tmp_path / "train_annots_20_labeled.pkl"
    split_pkl.write_bytes(pickle.dumps(released_split_entries(UCF_VIDEOS, labeled), protocol=2))
    summary = convert_ucf101_24(
        root, tmp_path / "out", split_files=[split_pkl], val_fraction=0.0, progress=False
    )
    path = tmp_path / "out" / "splits" / "labeled-from-file.json"
    assert path in summary.split_files
    split = json.loads(path.read_text())
    assert split["labeled"] == sorted(labeled) and split["val"] == []
    assert split["unlabeled"] == ["Basketball/v_Basketball_g02_c01", "Diving/v_Diving_g01_c01"]
    assert split["labeled_fraction"] == 0.5 and split["source_files"] == [split_pkl.name]


def test_workers_write_the_same_bytes_as_one_process(tmp_path):
    root = make_ucf_root(tmp_path / "root", ucf_videos())
    convert_ucf101_24(root, tmp_path / "one", frame_size=(24, 32), progress=False)
    convert_ucf101_24(root, tmp_path / "two", frame_size=(24, 32), workers=2, progress=False)
    for name in ("train-00000-of-00001.tfrecord", "test-00000-of-00001.tfrecord"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
