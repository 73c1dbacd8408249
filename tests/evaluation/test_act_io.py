"""ACT files: annotation pickle, dets.csv and tubes.json round trips and one-line errors."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from ssvad_keras.errors import DataError
from ssvad_keras.evaluation import (
    FrameDetections,
    Tube,
    evaluate_detection_files,
    load_act_ground_truth,
    read_frame_detections_csv,
    read_tubes_json,
    write_frame_detections_csv,
    write_tubes_json,
)
from tests.evaluation import eval_cases as cases

HEADER = "video,frame,label,score,x1,y1,x2,y2\n"


def test_load_act_ground_truth_keeps_the_split(tmp_path):
    gt = load_act_ground_truth(cases.write_annotation(tmp_path / "GT.pkl"), split=1)
    assert gt.labels == tuple(cases.LABELS)
    assert gt.videos == ("W/v1", "J/v2")
    assert set(gt.tubes) == {"W/v1", "J/v2"}  # the training video is dropped
    assert gt.tubes["J/v2"][1][0][:, 0].tolist() == [1, 2, 3, 4]
    assert gt.nframes == {"W/v1": 12, "J/v2": 6}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("gttubes"), "missing key 'gttubes'"),
        (lambda d: d.update(test_videos=[]), "'test_videos' must be a non-empty list"),
        (lambda d: d["gttubes"]["W/v1"].update({0: [np.zeros((3, 4))]}), "gttubes['W/v1'][0][0]"),
        (lambda d: d["gttubes"]["W/v1"].update({7: [cases.tube_rows([1])]}), "label 7 outside 0..2"),
    ],
)
def test_load_act_ground_truth_errors_name_the_file(tmp_path, mutate, message):
    data = cases.annotation_dict()
    mutate(data)
    path = tmp_path / "GT.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(DataError) as err:
        load_act_ground_truth(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_load_act_ground_truth_rejects_missing_split(tmp_path):
    with pytest.raises(DataError, match="split 3 does not exist; the file has splits 1..1"):
        load_act_ground_truth(cases.write_annotation(tmp_path / "GT.pkl"), split=3)


def test_frame_detections_csv_round_trip(tmp_path):
    dets = FrameDetections(np.array(["W/v1", "J/v2"], dtype=object), [1, 4], [0, 2], [0.123456789, 1e-9],
                           [[0.5, 1, 10.25, 20], [3, 4, 5, 6]])
    path = tmp_path / "out" / "dets.csv"
    write_frame_detections_csv(path, dets)
    back = read_frame_detections_csv(path, num_classes=3)
    assert back.videos.tolist() == ["W/v1", "J/v2"]
    np.testing.assert_array_equal(back.frames, dets.frames)
    np.testing.assert_array_equal(back.labels, dets.labels)
    np.testing.assert_array_equal(back.scores, dets.scores)  # full precision
    np.testing.assert_array_equal(back.boxes, dets.boxes)
    assert [p.name for p in path.parent.iterdir()] == ["dets.csv"]  # no temporary left


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("video,frame,label,score,x1,y1,x2\n", "line 1: header must be"),
        (HEADER + "v,1,0,0.9,0,0,9,9\nv,2,0,0.9,0,0,9\n", "line 3: expected 8 fields, got 7"),
        (HEADER + "v,one,0,0.9,0,0,9,9\n", "line 2: frame must be an integer, got 'one'"),
        (HEADER + "v,0,0,0.9,0,0,9,9\n", "line 2: frame must be >= 1, got '0'"),
        (HEADER + "v,1,3,0.9,0,0,9,9\n", "line 2: label must be < 3"),
        (HEADER + "v,1,0,nan,0,0,9,9\n", "line 2: score must be finite"),
        (HEADER + "\nv,1,0,0.9,9,0,0,9\n", "line 3: box needs x2 >= x1"),
        (HEADER + ",1,0,0.9,0,0,9,9\n", "line 2: video id is empty"),
    ],
)
def test_frame_detections_csv_errors_name_file_and_line(tmp_path, body, message):
    path = tmp_path / "dets.csv"
    path.write_text(body)
    with pytest.raises(DataError) as err:
        read_frame_detections_csv(path, num_classes=3)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_tubes_json_round_trip(tmp_path):
    tubes = [Tube("W/v1", 0, 0.9, cases.tube_rows([3, 1, 2])), Tube("W/v1", 2, 0.25, [[5, 1.5, 2, 3, 4]]),
             Tube("J/v2", 1, 0.5, cases.tube_rows([1]))]
    path = tmp_path / "tubes.json"
    write_tubes_json(path, tubes)
    assert json.loads(path.read_text())["W/v1"][0]["boxes"][0] == [1, 0.0, 0.0, 9.0, 9.0]
    back = read_tubes_json(path, num_classes=3)
    assert [(t.video, t.label, t.score) for t in back] == [(t.video, t.label, t.score) for t in tubes]
    for a, b in zip(back, tubes, strict=True):
        np.testing.assert_array_equal(a.boxes, b.boxes)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "top level must be an object"),
        ({"v": {}}, "video 'v': expected a list of tubes"),
        ({"v": [{"label": 0, "score": 1}]}, "video 'v', tube 0: expected an object with keys"),
        ({"v": [{"label": "0", "score": 1, "boxes": [[1, 0, 0, 9, 9]]}]}, "label must be an integer"),
        ({"v": [{"label": 5, "score": 1, "boxes": [[1, 0, 0, 9, 9]]}]}, "label must be < 3"),
        ({"v": [{"label": 0, "score": 1, "boxes": [[1, 0, 0, 9, 9], [2, 0, 0, 9]]}]}, "tube 0, boxes[1]: expected"),
        ({"v": [{"label": 0, "score": 1, "boxes": [[1, 0, 0, 9, 9], [1, 0, 0, 9, 9]]}]}, "a frame appears twice"),
        ({"v": [{"label": 0, "score": 1, "boxes": [[0, 0, 0, 9, 9]]}]}, "frame numbers must be integers >= 1"),
    ],
)
def test_tubes_json_errors_name_file_and_place(tmp_path, document, message):
    path = tmp_path / "tubes.json"
    path.write_text(json.dumps(document))
    with pytest.raises(DataError) as err:
        read_tubes_json(path, num_classes=3)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_tubes_json_invalid_json(tmp_path):
    path = tmp_path / "tubes.json"
    path.write_text('{"v": [')
    with pytest.raises(DataError, match="invalid JSON"):
        read_tubes_json(path)


def test_evaluate_detection_files_rejects_unknown_video_ids(tmp_path):
    annotation = cases.write_annotation(tmp_path / "GT.pkl")
    dets = tmp_path / "dets.csv"
    dets.write_text(HEADER + "v_Walk_g01,1,0,0.9,0,0,9,9\n")  # id without the class folder
    with pytest.raises(DataError, match=r"dets.csv: 1 video id\(s\) are not in .*GT.pkl, e.g. 'v_Walk_g01'"):
        evaluate_detection_files(annotation, 1, frame_detections=dets)
