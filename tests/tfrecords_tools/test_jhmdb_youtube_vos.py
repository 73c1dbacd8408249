"""`prepare jhmdb-21` (boxes + puppet masks, three splits) and `prepare youtube-vos` (palette ids)."""

import json

import numpy as np

from tfrecords_tools.jhmdb import convert_jhmdb_21
from tfrecords_tools.youtube_vos import convert_youtube_vos

from .prepare_fixtures import (
    HEIGHT,
    JHMDB_CLASSES,
    VOS_FRAMES,
    WIDTH,
    frame_colour,
    jhmdb_mask,
    make_jhmdb_root,
    make_vos_root,
    read_split_records,
    vos_mask,
)


def test_jhmdb_records_carry_puppet_masks_and_tube_boxes(tmp_path):
    root = make_jhmdb_root(tmp_path / "root")
    convert_jhmdb_21(root, tmp_path / "out", split=1, frame_size=(HEIGHT, WIDTH), progress=False)
    manifest = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert manifest["source"] == "jhmdb-21" and manifest["classes"] == JHMDB_CLASSES
    assert manifest["splits"]["train"]["labels"] == [0, 1] and manifest["options"]["split"] == 1
    assert (tmp_path / "out" / "splits" / "labeled-0.30-seed0.json").is_file()
    video = read_split_records(tmp_path / "out", "train")["catch/v_catch_1"]
    assert video["has_masks"] and video["has_boxes"] and video["annotated"] == [True] * 5
    for t in range(5):
        np.testing.assert_array_equal(video["masks"][t], jhmdb_mask(t))
        ys, xs = np.nonzero(jhmdb_mask(t))
        expected = np.array([xs.min(), ys.min(), xs.max(), ys.max()]) / [WIDTH, HEIGHT, WIDTH, HEIGHT]
        np.testing.assert_allclose(video["boxes"][t], [expected], atol=1e-6)
        assert np.abs(video["frames"][t].astype(int) - frame_colour(1, t)).max() <= 4  # stored as JPEG


def test_jhmdb_split_selects_the_official_lists(tmp_path):
    root = make_jhmdb_root(tmp_path / "root")
    convert_jhmdb_21(root, tmp_path / "out", split=2, frame_size=(24, 32), progress=False)
    manifest = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert manifest["splits"]["train"]["video_ids"] == ["brush_hair/v_brush_2"]
    assert manifest["splits"]["test"]["num_videos"] == 2
    # Masks are resized with nearest neighbour: still only ids 0 and 1.
    video = read_split_records(tmp_path / "out", "test")["brush_hair/v_brush_1"]
    assert video["masks"][0].shape == (24, 32) and set(np.unique(video["masks"][0])) == {0, 1}


def test_youtube_vos_keeps_palette_ids_and_sparse_annotation(tmp_path):
    root = make_vos_root(tmp_path / "root")
    convert_youtube_vos(root, tmp_path / "out", frame_size=(HEIGHT, WIDTH), progress=False)
    manifest = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert manifest["source"] == "youtube-vos" and manifest["classes"] == ["cat", "dog", "person"]
    assert set(manifest["splits"]) == {"train", "valid"}
    assert manifest["splits"]["train"]["labels"] == [-1, -1]
    assert manifest["objects"]["a1b2c3"] == {"1": "person", "2": "dog"}
    assert manifest["objects"]["d4e5f6"] == {"1": "person", "2": "cat"}
    video = read_split_records(tmp_path / "out", "train")["a1b2c3"]
    assert video["num_frames"] == VOS_FRAMES and video["class_index"] == -1
    assert video["has_masks"] and not video["has_boxes"]
    assert video["annotated"] == [t % 5 == 0 for t in range(VOS_FRAMES)]
    for t in range(VOS_FRAMES):
        if t % 5:
            assert video["masks"][t] is None
        else:
            np.testing.assert_array_equal(video["masks"][t], vos_mask(t))  # ids 1 and 2, not colours
    valid = read_split_records(tmp_path / "out", "valid")["0a0b0c"]
    assert valid["annotated"] == [True] + [False] * (VOS_FRAMES - 1)
