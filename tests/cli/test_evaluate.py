"""`ssvad evaluate` file mode: JSON shape and values, sections, table, and mode errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.errors import ConfigError, SsvadError
from ssvad_keras.evaluation import (
    FrameDetections,
    Tube,
    write_frame_detections_csv,
    write_tubes_json,
)
from tests.evaluation import eval_cases as cases

runner = CliRunner()


@pytest.fixture()
def files(tmp_path):
    annotation = cases.write_annotation(tmp_path / "UCF101v2-GT.pkl")
    videos, frames, labels, scores, boxes = zip(*cases.FRAME_DETECTIONS, strict=True)
    dets = tmp_path / "dets.csv"
    write_frame_detections_csv(dets, FrameDetections(list(videos), frames, labels, scores, boxes))
    tubes = tmp_path / "tubes.json"
    write_tubes_json(tubes, [Tube(*row) for row in cases.TUBES])
    return annotation, dets, tubes


def _args(annotation, dets=None, tubes=None, *extra):
    args = ["evaluate", "--protocol", "act", "--annotations", str(annotation), "--split", "1"]
    if dets is not None:
        args += ["--frame-detections", str(dets)]
    if tubes is not None:
        args += ["--tube-detections", str(tubes)]
    return args + list(extra)


def test_json_output_shape_and_values(files):
    result = runner.invoke(app, _args(*files, "--json"))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert list(out) == ["frame_ap", "video_ap"]
    assert list(out["frame_ap"]) == ["0.5"]
    assert list(out["video_ap"]) == ["0.2", "0.5", "0.75", "0.5:0.95"]
    assert out["frame_ap"]["0.5"]["map"] == pytest.approx(cases.FRAME_MAP)
    assert out["frame_ap"]["0.5"]["per_class"] == pytest.approx([cases.WALK_FRAME_AP, cases.JUMP_FRAME_AP, 0.0])
    for key in ("0.2", "0.5", "0.75"):
        assert out["video_ap"][key]["map"] == pytest.approx(cases.VIDEO_MAP[float(key)])
        assert len(out["video_ap"][key]["per_class"]) == 3
    assert out["video_ap"]["0.5:0.95"] == pytest.approx(cases.VIDEO_MAP_50_95)


def test_omitted_file_drops_its_section_and_metric_filters(files, tmp_path):
    annotation, dets, tubes = files
    out = json.loads(runner.invoke(app, _args(annotation, None, tubes, "--json")).stdout)
    assert list(out) == ["video_ap"]
    out = json.loads(runner.invoke(app, _args(annotation, dets, None, "--json")).stdout)
    assert list(out) == ["frame_ap"]
    out = json.loads(runner.invoke(app, _args(annotation, dets, tubes, "--metric", "vmap", "--json")).stdout)
    assert list(out) == ["video_ap"]
    report = tmp_path / "report.json"
    result = runner.invoke(app, _args(annotation, dets, tubes, "--json-out", str(report)))
    assert result.exit_code == 0
    assert json.loads(report.read_text())["frame_ap"]["0.5"]["map"] == pytest.approx(cases.FRAME_MAP)


def test_table_output_names_the_protocol(files):
    result = runner.invoke(app, _args(*files), env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "ACT standard protocol" in result.stdout
    assert "walk" in result.stdout and "mAP (all classes)" in result.stdout
    assert "14.2" in result.stdout  # walk frame-AP, in percent


def test_mode_errors(files, monkeypatch):
    annotation, dets, _ = files
    result = runner.invoke(app, ["evaluate", "--frame-detections", str(dets)])
    assert isinstance(result.exception, ConfigError) and "--annotations" in str(result.exception)
    result = runner.invoke(app, _args(annotation, dets, None, "--protocol", "paper"))
    assert isinstance(result.exception, ConfigError) and "--checkpoint" in str(result.exception)
    result = runner.invoke(app, _args(annotation, dets, None, "--split", "test"))
    assert isinstance(result.exception, ConfigError) and "split number" in str(result.exception)
    result = runner.invoke(app, ["evaluate", "--checkpoint", "run", "--annotations", str(annotation)])
    assert isinstance(result.exception, ConfigError)
    # Model mode with a checkpoint that does not exist: one clear error, never file mode.
    result = runner.invoke(app, ["evaluate", "--checkpoint", "run", "--data", "prepared"])
    assert isinstance(result.exception, SsvadError) and "not found" in str(result.exception)
