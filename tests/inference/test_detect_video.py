"""`ssvad detect` end to end on generated mp4 files: outputs, box mapping, names, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.config import load_config
from ssvad_keras.errors import ConfigError, DataError
from ssvad_keras.evaluation import read_tubes_json
from ssvad_keras.inference import detect_video
from ssvad_keras.run_dir import RunDir

from .conftest import NUM_CLASSES, VIDEO_FPS, VIDEO_FRAMES, VIDEO_SIZE, read_video, write_mp4

runner = CliRunner()


def test_cli_end_to_end_on_an_mp4(moving_square_video, tiny_model_path, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["detect", str(moving_square_video), "--checkpoint", str(tiny_model_path),
                                 "--out", str(out), "--score-floor", "0", "--classes", "walk,run,jump", "--quiet"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["overlay.mp4", "tubes.json"]

    tubes = read_tubes_json(out / "tubes.json", num_classes=NUM_CLASSES)
    # Score floor 0: every class gets a tube, all over the same frames, scores summing to 1.
    assert sorted(t.label for t in tubes) == [0, 1, 2]
    assert sum(t.score for t in tubes) == pytest.approx(1.0)
    height, width = VIDEO_SIZE
    for tube in tubes:
        assert tube.video == "walk"
        frames, boxes = tube.boxes[:, 0], tube.boxes[:, 1:]
        assert frames.min() >= 1 and frames.max() <= VIDEO_FRAMES
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= width - 1) and np.all(boxes[:, 3] <= height - 1)
        assert np.all(boxes[:, 2:] >= boxes[:, :2])
    names = {e["label"]: e["class_name"] for e in json.loads((out / "tubes.json").read_text())["walk"]}
    assert names == {0: "walk", 1: "run", 2: "jump"}

    count, size, fps = read_video(out / "overlay.mp4")
    assert (count, size, fps) == (VIDEO_FRAMES, VIDEO_SIZE, VIDEO_FPS)
    for text in ("frames", "50 at 96x72", "predicted class", "top 3", "frames with a detection", "tubes.json"):
        assert text in result.output


class WhiteMaskDetector(keras.Model):
    """A stand-in detector at 4x8x8: mask logits +-10 where the red channel is above/below one
    half, and fixed class scores (0.1, 0.3, 0.1), i.e. probabilities (0.2, 0.6, 0.2)."""

    def __init__(self):
        super().__init__()
        self.clip_shape = (4, 8, 8, 3)
        self.num_classes = 3

    def call(self, clip, training=None):
        scores = keras.ops.ones((keras.ops.shape(clip)[0], 1)) * keras.ops.convert_to_tensor([[0.1, 0.3, 0.1]])
        return {"class_scores": scores, "loc_logits": 20.0 * (clip[..., :1] - 0.5)}


def _square_frames() -> tuple[np.ndarray, dict[int, list[float]]]:
    """50 frames at 96x72 (12 x 9 original pixels per model pixel): a white 3x3-cell square
    moving one cell right per frame, cycling, and absent every seventh frame; expected boxes by
    1-based frame number."""
    frames = np.zeros((VIDEO_FRAMES, *VIDEO_SIZE, 3), np.uint8)
    expected = {}
    for t in range(VIDEO_FRAMES):
        if t % 7 == 3:
            continue
        cell = t % 4
        frames[t, 9:36, 12 * cell : 12 * (cell + 3)] = 255
        expected[t + 1] = [12.0 * cell, 9.0, 12.0 * (cell + 3) - 1, 35.0]
    return frames, expected


def test_forced_mask_gives_boxes_at_the_original_resolution(tmp_path):
    frames, expected = _square_frames()
    video = write_mp4(tmp_path / "square.mp4", frames)
    result = detect_video(video, WhiteMaskDetector(), overlay=False, frame_skip=2, crop="resize")

    assert result.out_dir == tmp_path / "square_detections"
    assert sorted(p.name for p in result.out_dir.iterdir()) == ["tubes.json"]
    assert result.overlay_path is None
    assert result.num_frames == VIDEO_FRAMES
    np.testing.assert_allclose(result.class_probs, [0.2, 0.6, 0.2])
    # Windows of 4 x 2 = 8 frames: six full ones and one of 2 frames.
    assert result.window_probs.shape == (7, 3) and result.window_frames == 8
    assert result.predicted_class == 1
    assert result.frames_with_detection == len(expected)

    tubes = read_tubes_json(result.tubes_path, num_classes=3)
    assert [(t.label, round(t.score, 6)) for t in tubes] == [(0, 0.2), (1, 0.6), (2, 0.2)]
    for tube in tubes:
        got = {int(row[0]): row[1:].tolist() for row in tube.boxes}
        assert got == expected
    assert np.all(np.isnan(result.boxes[3])) and result.boxes[4].tolist() == expected[5]


def test_score_floor_keeps_only_probable_classes(tmp_path):
    frames, _ = _square_frames()
    video = write_mp4(tmp_path / "square.mp4", frames[:10])
    result = detect_video(video, WhiteMaskDetector(), tmp_path / "out", score_floor=0.3, overlay=False)
    assert [(t.label, t.score) for t in result.tubes] == [(1, pytest.approx(0.6))]
    # 10 frames at frame skip 1: windows of 4 frames, the last holding two.
    result = detect_video(video, WhiteMaskDetector(), tmp_path / "out", frame_skip=1, overlay=False)
    assert result.window_probs.shape == (3, 3) and result.num_frames == 10


def test_empty_masks_write_a_video_entry_without_tubes(tmp_path):
    video = write_mp4(tmp_path / "dark.mp4", np.zeros((5, 24, 32, 3), np.uint8))
    result = detect_video(video, WhiteMaskDetector(), overlay=False)
    assert result.tubes == [] and result.frames_with_detection == 0
    assert json.loads(result.tubes_path.read_text()) == {"dark": []}


def test_run_directory_supplies_class_names(tmp_path, tiny_model_path, moving_square_video):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "dataset.json").write_text(json.dumps({"classes": ["Fencing", "Diving", "Surfing"]}))
    run = RunDir.create(tmp_path / "run", load_config(), split={}, data={"data_dir": str(data_dir)})
    run.best_model_path.write_bytes(tiny_model_path.read_bytes())
    result = detect_video(moving_square_video, run.path, tmp_path / "out", overlay=False)
    assert result.class_names == ("Fencing", "Diving", "Surfing") and result.class_names_source == "dataset"
    # A bare .keras file has no names of its own.
    result = detect_video(moving_square_video, tiny_model_path, tmp_path / "out", overlay=False)
    assert result.class_names == ("class_0", "class_1", "class_2") and result.class_names_source == "generic"


def test_wrong_number_of_class_names_is_a_config_error(tmp_path, moving_square_video):
    with pytest.raises(ConfigError, match="2 class names given for a detector with 3 classes"):
        detect_video(moving_square_video, WhiteMaskDetector(), tmp_path / "out", class_names=["a", "b"])
    assert not (tmp_path / "out").exists()


def test_foreign_output_folder_is_not_replaced(tmp_path, moving_square_video):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="holds files detect did not write"):
        detect_video(moving_square_video, WhiteMaskDetector(), out, overlay=False)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("content", [b"not a video at all", b""], ids=["text", "empty"])
def test_undecodable_file_is_a_data_error_and_writes_nothing(tmp_path, content):
    video = tmp_path / "broken.mp4"
    video.write_bytes(content)
    with pytest.raises(DataError) as err:
        detect_video(video, WhiteMaskDetector())
    assert str(err.value).startswith(f"{video}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="video file not found"):
        detect_video(tmp_path / "nope.mp4", WhiteMaskDetector())


def test_cli_prints_one_error_line_for_an_undecodable_file(tmp_path, tiny_model_path):
    video = tmp_path / "clip.mp4"
    video.write_text("this is not a video\n")
    command = [sys.executable, "-m", "ssvad_cli.main", "detect", str(video), "--checkpoint", str(tiny_model_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines == [f"error: {video}: OpenCV cannot decode this file as a video"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
