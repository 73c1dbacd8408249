"""Manifest and split files: typed views and one-line errors naming the file."""

import json

import pytest

from ssvad_keras.data import read_manifest, read_split, resolve_split_path
from ssvad_keras.errors import DataError


def test_manifest_exposes_classes_splits_and_shards(semi_dataset):
    manifest = read_manifest(semi_dataset)
    assert manifest.classes == ("a", "b") and manifest.num_classes == 2
    assert manifest.frame_size == (24, 32)
    train = manifest.split("train")
    assert train.num_videos == 8 and train.video_ids[0] == "lab0"
    assert all(p.is_file() for p in train.shards)
    assert manifest.shard_paths("test")[0].endswith("test-00000-of-00002.tfrecord")
    assert manifest.locate(["lab1", "test0"]) == ["test", "train"]


def test_unknown_split_and_video_ids_are_named(semi_dataset):
    manifest = read_manifest(semi_dataset)
    with pytest.raises(DataError, match="no split 'val'"):
        manifest.split("val")
    with pytest.raises(DataError, match="unknown video id 'nope'"):
        manifest.locate(["lab0", "nope"])


def test_missing_folder_and_manifest(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        read_manifest(tmp_path / "absent")
    with pytest.raises(DataError, match="dataset.json: file not found"):
        read_manifest(tmp_path)


def _manifest_with(tmp_path, text):
    (tmp_path / "dataset.json").write_text(text)
    return tmp_path


def test_invalid_json_missing_key_and_missing_shard(tmp_path):
    with pytest.raises(DataError, match="invalid JSON"):
        read_manifest(_manifest_with(tmp_path, "{not json"))
    with pytest.raises(DataError, match="missing key 'classes'"):
        read_manifest(_manifest_with(tmp_path, json.dumps({"format_version": 1, "splits": {}})))
    entry = {"shards": ["train-0.tfrecord"], "num_videos": 0, "video_ids": []}
    payload = {"format_version": 1, "classes": ["a"], "splits": {"train": entry}}
    with pytest.raises(DataError, match="shard train-0.tfrecord not found") as err:
        read_manifest(_manifest_with(tmp_path, json.dumps(payload)))
    assert str(err.value).startswith(str(tmp_path / "dataset.json"))


def test_split_file_round_trip_and_name_resolution(semi_dataset):
    path = resolve_split_path(semi_dataset, "labeled-test")
    assert path == semi_dataset / "splits" / "labeled-test.json"
    split = read_split(path, read_manifest(semi_dataset))
    assert split["labeled"] == ["lab0", "lab1", "lab2", "lab3"]
    assert split["unlabeled"] == ["unl0", "unl1", "unl2"] and split["val"] == ["val0"]
    assert split["labeled_fraction"] == 0.5 and split["seed"] == 0


def test_split_errors(semi_dataset, tmp_path):
    manifest = read_manifest(semi_dataset)
    with pytest.raises(DataError, match="file not found"):
        read_split(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"labeled": ["lab0"], "unlabeled": []}))
    with pytest.raises(DataError, match="missing key 'val'"):
        read_split(bad)
    bad.write_text(json.dumps({"labeled": ["lab0"], "unlabeled": [], "val": ["test0"]}))
    with pytest.raises(DataError, match="val: unknown training video id 'test0'"):
        read_split(bad, manifest)
    bad.write_text(json.dumps({"labeled": ["lab0"], "unlabeled": ["unl0"], "val": ["unl0"]}))
    with pytest.raises(DataError, match="val overlaps"):
        read_split(bad)
