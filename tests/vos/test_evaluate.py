"""`ssvad evaluate --protocol vos`: the YouTube-VOS protocol on hand-made masks, and bad input."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from ssvad_cli.main import main
from ssvad_keras.evaluation.vos import (
    boundary_f,
    evaluate_youtube_vos,
    read_palette_png,
    write_palette_png,
)


def _write(folder, masks):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, ids in masks.items():
        write_palette_png(folder / f"{stem}.png", ids)


def _square(top, left, size=4, value=1, shape=(12, 12)):
    ids = np.zeros(shape, np.uint8)
    ids[top : top + size, left : left + size] = value
    return ids


@pytest.fixture()
def case(tmp_path):
    """Video v: object 1 (seen "disc") on frames 0-2; object 2 (unseen "star") from frame 1.

    Predictions are wrong on each object's first-appearance frame (skipped by the protocol),
    exact for object 1 on frame 1, half of it on frame 2, exact for object 2 on frame 2."""
    gt = {
        "00000": _square(0, 0),
        "00001": _square(0, 0) + _square(6, 6, value=2),
        "00002": _square(0, 0) + _square(6, 6, value=2),
    }
    pred = {
        "00000": np.zeros((12, 12), np.uint8),
        "00001": _square(0, 0),
        "00002": _square(6, 6, value=2),
    }
    pred["00002"][0:4, 0:2] = 1
    _write(tmp_path / "gt" / "Annotations" / "v", gt)
    _write(tmp_path / "pred" / "Annotations" / "v", pred)
    meta = {"videos": {"v": {"objects": {"1": {"category": "disc"}, "2": {"category": "star"}}}}}
    (tmp_path / "gt" / "meta.json").write_text(json.dumps(meta))
    train = {"videos": {"t": {"objects": {"1": {"category": "disc"}}}}}
    (tmp_path / "train_meta.json").write_text(json.dumps(train))
    return tmp_path, gt, pred


def _args(root, *extra):
    return ["ssvad", "evaluate", "--protocol", "vos", "--annotations", str(root / "gt" / "Annotations"),
            "--predictions", str(root / "pred" / "Annotations"), "--meta", str(root / "gt" / "meta.json"),
            "--train-meta", str(root / "train_meta.json"), *extra]


def _run(monkeypatch, capsys, args):
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_palette_png_round_trip_keeps_ids(tmp_path):
    ids = np.arange(48, dtype=np.uint8).reshape(6, 8) % 7
    write_palette_png(tmp_path / "m.png", ids)
    with Image.open(tmp_path / "m.png") as image:
        assert image.mode == "P"
        assert image.getpalette()[3:6] == [128, 0, 0]  # DAVIS colour of object 1
    np.testing.assert_array_equal(read_palette_png(tmp_path / "m.png"), ids)


def test_first_appearance_skipped_and_seen_unseen_split(case, monkeypatch, capsys):
    root, gt, pred = case
    code, out, _ = _run(monkeypatch, capsys, _args(root, "--json"))
    assert code == 0
    report = json.loads(out)
    half = 8 / 16  # object 1 on frame 2: 8 of its 16 pixels
    assert report["J"]["seen"] == pytest.approx((1.0 + half) / 2)
    assert report["J"]["unseen"] == pytest.approx(1.0)
    f_seen = (1.0 + boundary_f(pred["00002"] == 1, gt["00002"] == 1)) / 2
    assert report["F"]["seen"] == pytest.approx(f_seen)
    assert report["F"]["unseen"] == pytest.approx(1.0)
    assert report["overall"] == pytest.approx(((1 + half) / 2 + 1 + f_seen + 1) / 4)
    assert report["per_object"]["v/2"] == {"category": "star", "seen": False, "frames": 1, "J": 1.0, "F": 1.0}
    library = evaluate_youtube_vos(root / "gt" / "Annotations", root / "pred" / "Annotations",
                                   root / "gt" / "meta.json", root / "train_meta.json")
    assert library.to_dict() == report


def test_table_without_json(case, monkeypatch, capsys):
    root, _, _ = case
    code, out, _ = _run(monkeypatch, capsys, _args(root))
    assert code == 0
    assert "unseen" in out and "overall" in out


def _expect_one_line_error(monkeypatch, capsys, args, names):
    code, out, err = _run(monkeypatch, capsys, args)
    assert code != 0
    assert out == ""  # no partial report
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert names in lines[0], lines[0]


def test_cut_off_meta_is_one_line(case, monkeypatch, capsys):
    root, _, _ = case
    meta = root / "gt" / "meta.json"
    meta.write_text(meta.read_text()[:25])
    _expect_one_line_error(monkeypatch, capsys, _args(root, "--json"), "meta.json")


def test_annotation_that_is_not_a_palette_png(case, monkeypatch, capsys):
    root, _, _ = case
    path = root / "gt" / "Annotations" / "v" / "00001.png"
    Image.new("RGB", (12, 12)).save(path)
    _expect_one_line_error(monkeypatch, capsys, _args(root, "--json"), "00001.png")


def test_prediction_folder_missing_a_video(case, monkeypatch, capsys):
    root, _, _ = case
    meta = json.loads((root / "gt" / "meta.json").read_text())
    meta["videos"]["w"] = {"objects": {"1": {"category": "disc"}}}
    (root / "gt" / "meta.json").write_text(json.dumps(meta))
    _write(root / "gt" / "Annotations" / "w", {"00000": _square(0, 0), "00001": _square(1, 1)})
    _expect_one_line_error(monkeypatch, capsys, _args(root, "--json"), str(root / "pred" / "Annotations" / "w"))


def test_object_id_not_in_the_meta(case, monkeypatch, capsys):
    root, _, _ = case
    write_palette_png(root / "pred" / "Annotations" / "v" / "00002.png", _square(0, 0, value=7))
    _expect_one_line_error(monkeypatch, capsys, _args(root, "--json"), "00002.png")
