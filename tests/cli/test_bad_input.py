"""Bad input through the CLI: one line naming the file, non-zero exit, no output left behind."""

import json
import os
import pickle
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.errors import DataError
from tests.tfrecords_tools.prepare_fixtures import (
    make_jhmdb_root,
    make_ucf_root,
    make_vos_root,
    ucf_videos,
    vos_mask,
    write_palette_png,
)

VIDEO = "Basketball/v_Basketball_g01_c01"  # 8 frames


def _ucf_args(root, out, *extra):
    return ["ucf101-24", "--root", str(root), "--out", str(out), "--frame-size", "24", "32", *extra]


def _with_tube(tmp_path, first, last, box, nframes=8, layout="frames"):
    videos = ucf_videos()
    videos[VIDEO]["tubes"] = [(first, last, box)]
    videos[VIDEO]["nframes"] = nframes
    return make_ucf_root(tmp_path / "root", videos, layout)


class Malicious:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def case_missing_root(tmp_path):
    return _ucf_args(tmp_path / "nope", tmp_path / "out"), "nope: dataset root not found"


def case_missing_annotation(tmp_path):
    (tmp_path / "root").mkdir()
    return _ucf_args(tmp_path / "root", tmp_path / "out"), "UCF101v2-GT.pkl: annotation file not found"


def _mp4_root(tmp_path):
    root = make_ucf_root(tmp_path / "root", layout="mp4")
    return root, root / "videos" / f"{VIDEO}.mp4"


def case_undecodable_video(tmp_path):
    root, video = _mp4_root(tmp_path)
    video.write_bytes(b"this is not an mp4 file" * 50)
    return _ucf_args(root, tmp_path / "out"), "v_Basketball_g01_c01.mp4: cannot decode video"


def case_empty_video(tmp_path):
    root, video = _mp4_root(tmp_path)
    video.write_bytes(b"")
    return _ucf_args(root, tmp_path / "out"), "v_Basketball_g01_c01.mp4: video file is empty"


def case_truncated_video(tmp_path):
    root, video = _mp4_root(tmp_path)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    return _ucf_args(root, tmp_path / "out"), "v_Basketball_g01_c01.mp4: "


def case_video_shorter_than_nframes(tmp_path):
    videos = ucf_videos()
    root = make_ucf_root(tmp_path / "root", videos, layout="mp4")
    videos[VIDEO]["nframes"] = 12  # the file holds 8
    from tests.tfrecords_tools.prepare_fixtures import UCF_CLASSES, write_act_pickle

    write_act_pickle(root / "UCF101v2-GT.pkl", UCF_CLASSES, videos)
    return _ucf_args(root, tmp_path / "out"), "video has 8 decodable frames but the annotation says 12"


def case_missing_frame_image(tmp_path):
    root = make_ucf_root(tmp_path / "root")
    (root / "rgb-images" / VIDEO / "00003.jpg").unlink()
    return _ucf_args(root, tmp_path / "out"), "00003.jpg: missing frame image"


def case_degenerate_box(tmp_path):
    root = _with_tube(tmp_path, 1, 8, [30, 5, 10, 40])
    return _ucf_args(root, tmp_path / "out"), "UCF101v2-GT.pkl: video Basketball/v_Basketball_g01_c01 tube 0 frame 1: degenerate box"


def case_box_outside_image(tmp_path):
    root = _with_tube(tmp_path, 1, 8, [70, 5, 90, 40])
    return _ucf_args(root, tmp_path / "out"), "lies entirely outside the 64x48 image"


def case_tube_frame_beyond_nframes(tmp_path):
    root = _with_tube(tmp_path, 3, 9, [10, 5, 30, 40])
    return _ucf_args(root, tmp_path / "out"), "UCF101v2-GT.pkl: video Basketball/v_Basketball_g01_c01 tube 0 frame 9: tube frame beyond nframes (8)"


def case_strict_refuses_partly_outside_box(tmp_path):
    root = make_ucf_root(tmp_path / "root")
    return _ucf_args(root, tmp_path / "out", "--strict"), "UCF101v2-GT.pkl: video Basketball/v_Basketball_g02_c01 tube 0 frame 1: box"


def case_malicious_pickle(tmp_path):
    root = make_ucf_root(tmp_path / "root")
    (root / "UCF101v2-GT.pkl").write_bytes(pickle.dumps({"labels": Malicious(tmp_path / "pwned")}, protocol=2))
    return _ucf_args(root, tmp_path / "out"), "UCF101v2-GT.pkl: unsafe or invalid pickle: refusing to construct posix.system"


def case_malicious_split_file(tmp_path):
    root = make_ucf_root(tmp_path / "root")
    split = tmp_path / "train_annots_20_labeled.pkl"
    split.write_bytes(pickle.dumps([Malicious(tmp_path / "pwned")], protocol=2))
    return _ucf_args(root, tmp_path / "out", "--split-file", str(split)), "train_annots_20_labeled.pkl: unsafe"


def case_jhmdb_mask_frame_count(tmp_path):
    root = make_jhmdb_root(tmp_path / "root", mask_frames=4)
    args = ["jhmdb-21", "--root", str(root), "--out", str(tmp_path / "out"), "--split", "1"]
    return args, "puppet_mask.mat: mask has 4 frames but the video has 5 (nframes)"


def case_invalid_meta_json(tmp_path):
    root = make_vos_root(tmp_path / "root")
    (root / "train" / "meta.json").write_text('{"videos": {')
    return ["youtube-vos", "--root", str(root), "--out", str(tmp_path / "out")], "meta.json: invalid JSON"


def case_vos_mask_without_frame(tmp_path):
    root = make_vos_root(tmp_path / "root")
    write_palette_png(root / "train" / "Annotations" / "a1b2c3" / "00099.png", vos_mask(0))
    args = ["youtube-vos", "--root", str(root), "--out", str(tmp_path / "out")]
    return args, "1 annotation(s) have no frame image (first: 00099.png)"


CASES = [value for name, value in sorted(globals().items()) if name.startswith("case_")]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_bad_input_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, case):
    args, expected = case(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["prepare", *args, "--quiet"])
    assert result.exit_code != 0
    assert isinstance(result.exception, DataError), result.output
    message = str(result.exception)
    assert "\n" not in message and expected in message, message
    assert message.split(": ")[0].startswith("/"), "the line starts with the offending file"
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    assert not (tmp_path / "pwned").exists()


def test_failed_overwrite_keeps_the_previous_complete_output(tmp_path):
    root = make_ucf_root(tmp_path / "root")
    out = tmp_path / "out"
    assert CliRunner().invoke(app, ["prepare", *_ucf_args(root, out), "--quiet"]).exit_code == 0
    manifest = (out / "dataset.json").read_text()
    (root / "rgb-images" / VIDEO / "00002.jpg").write_bytes(b"corrupt")
    result = CliRunner().invoke(app, ["prepare", *_ucf_args(root, out, "--overwrite"), "--quiet"])
    assert isinstance(result.exception, DataError) and "00002.jpg: cannot decode frame image" in str(result.exception)
    assert (out / "dataset.json").read_text() == manifest


def test_rerun_over_complete_output_is_a_no_op(tmp_path):
    root = make_ucf_root(tmp_path / "root")
    out = tmp_path / "out"
    CliRunner().invoke(app, ["prepare", *_ucf_args(root, out), "--quiet"])
    stamp = (out / "dataset.json").stat().st_mtime_ns
    result = CliRunner().invoke(app, ["prepare", *_ucf_args(root, out, "--labeled", "0.5"), "--quiet"])
    assert result.exit_code == 0 and "already complete" in result.output
    assert (out / "dataset.json").stat().st_mtime_ns == stamp
    assert (out / "splits" / "labeled-0.50-seed0.json").is_file(), "a newly asked split is still written"
    assert json.loads((out / "dataset.json").read_text())["splits"]["train"]["num_videos"] == 4


def test_rerun_asking_for_another_frame_size_is_refused_not_reused(tmp_path):
    root = make_ucf_root(tmp_path / "root")
    out = tmp_path / "out"
    assert CliRunner().invoke(app, ["prepare", *_ucf_args(root, out), "--quiet"]).exit_code == 0
    manifest = (out / "dataset.json").read_bytes()
    args = ["ucf101-24", "--root", str(root), "--out", str(out), "--frame-size", "48", "64", "--quiet"]
    result = CliRunner().invoke(app, ["prepare", *args])
    assert result.exit_code != 0 and isinstance(result.exception, DataError)
    assert "frame_size [24, 32] (asked [48, 64])" in str(result.exception)
    assert (out / "dataset.json").read_bytes() == manifest


def test_console_script_prints_one_error_line_without_traceback(tmp_path):
    command = [sys.executable, "-m", "ssvad_cli.main", "prepare", "synthetic", "--out", str(tmp_path / "o"),
               "--frame-size", "0", "8"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: frame size must be two positive integers (H W), got [0, 8]"]
    assert not (tmp_path / "o").exists()


def test_foreign_non_empty_output_folder_is_not_replaced(tmp_path):
    root = make_ucf_root(tmp_path / "root")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["prepare", *_ucf_args(root, out), "--quiet"])
    assert isinstance(result.exception, DataError)
    assert "out: output exists but is not a complete converted dataset" in str(result.exception)
    assert (out / "notes.txt").read_text() == "mine"


def test_synthetic_rerun_with_another_annotation_is_refused_in_one_line(tmp_path):
    out = tmp_path / "synthetic"
    args = ["prepare", "synthetic", "--out", str(out), "--videos", "6", "--test-videos", "1",
            "--frame-size", "32", "32", "--quiet"]
    assert CliRunner().invoke(app, [*args, "--annotation", "boxes"]).exit_code == 0
    manifest = (out / "dataset.json").read_bytes()
    result = CliRunner().invoke(app, [*args, "--annotation", "masks"])
    assert result.exit_code != 0 and isinstance(result.exception, DataError)
    message = str(result.exception)
    assert "\n" not in message and message.startswith(str(out / "dataset.json"))
    assert "annotation 'boxes' (asked 'masks')" in message
    assert (out / "dataset.json").read_bytes() == manifest
