"""The training run: run directory, checkpoints, TensorBoard, resume after a kill, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_OVERRIDES, tiny_config
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.errors import CheckpointError, SsvadError
from ssvad_keras.inference.evaluate import predict_probabilities, validation_samples
from ssvad_keras.training import RunDir, train
from ssvad_keras.training.callbacks import mask_overlay_images

ROOT = Path(__file__).resolve().parents[2]


def test_train_writes_a_complete_run(training_dataset, tmp_path):
    result = train(tiny_config(), training_dataset, 0.2, tmp_path / "run", progress=False)
    run = RunDir.open(result.run_dir)
    state = run.load_state()
    assert state.epochs_done == 2 and state.finished
    assert [round(h["learning_rate"], 12) for h in state.history] == [1e-4, 1e-4]
    assert {"loss", "margin", "dice", "val_vmap@0.5", "val_fmap@0.5"} <= set(state.history[-1])
    assert state.select_metric == "val_vmap@0.5" and state.best_epoch in (1, 2)
    assert json.loads(run.split_path.read_text())["labeled"]
    events = list(run.log_dir.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000  # scalars and mask images
    detector = keras.saving.load_model(run.best_model_path, safe_mode=True)
    assert detector.clip_shape == (8, 32, 32, 3)
    assert run.weights_path.is_file() and run.last_model_path.is_file()
    # One mask image per epoch; the last shows the final model's masks on the first validation clip.
    images = _logged_images(events, "val/masks_pred_red_gt_green")
    assert sorted(images) == [0, 1]
    config = tiny_config()
    clips, gt = validation_samples(training_dataset, json.loads(run.split_path.read_text())["val"], config, 1)
    last = keras.saving.load_model(run.last_model_path, safe_mode=True)
    expected = tf.image.convert_image_dtype(
        mask_overlay_images(clips, predict_probabilities(last, clips), gt)[0], tf.uint8, saturate=True
    ).numpy()
    assert images[1].shape == expected.shape == (32, 8 * 32, 3)
    assert np.abs(images[1].astype(int) - expected.astype(int)).max() <= 1


def _logged_images(event_files, tag: str) -> dict[int, np.ndarray]:
    """{step: first image} of an image summary in TensorBoard event files."""
    from tensorflow.core.util import event_pb2

    images = {}
    for record in tf.data.TFRecordDataset([str(f) for f in event_files]):
        event = event_pb2.Event.FromString(record.numpy())
        for value in event.summary.value:
            if value.tag == tag:  # tensor: width, height, then one PNG per image
                images[event.step] = tf.io.decode_png(tf.make_ndarray(value.tensor)[2]).numpy()
    return images


def test_a_killed_run_resumes_from_its_last_checkpoint(training_dataset, tmp_path):
    out = tmp_path / "run"
    overrides = {**TINY_OVERRIDES, "train.epochs": 3, "train.steps_per_epoch": 6}
    script = textwrap.dedent(
        f"""
        from ssvad_keras.config import load_config
        from ssvad_keras.training import train
        cfg = load_config(overrides={overrides!r})
        train(cfg, {str(training_dataset)!r}, 0.2, {str(out)!r}, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    state_path = out / "state.json"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            if state_path.is_file() and json.loads(state_path.read_text())["epochs_done"] >= 1:
                break
            assert proc.poll() is None, "training exited before its first checkpoint"
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint within 240 s")
        time.sleep(1.0)  # well inside epoch 2 (six steps)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    run = RunDir.open(out)
    killed = run.load_state()
    assert 1 <= killed.epochs_done < 3, "the kill must land before the run finished"
    result = train(None, resume=out, progress=False)
    state = run.load_state()
    assert result.epochs_done == 3 and state.finished
    assert len(state.history) == 3  # every epoch exactly once
    trainer_weights = run.weights_path
    assert trainer_weights.is_file()


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    training_dataset, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), training_dataset, 0.2, out, progress=False)
    run = RunDir.open(out)
    saved = run.weights_path.read_bytes()
    # Resume for a second epoch with a classification-consistency term that returns NaN.
    text = run.config_path.read_text().replace("epochs = 1\n", "epochs = 2\n")
    run.config_path.write_text(text)
    import ssvad_keras.losses.combined as combined

    monkeypatch.setattr(combined, "jsd_loss", lambda a, b: keras.ops.sum(a) * float("nan"))
    with pytest.raises(SsvadError, match=r"non-finite loss at epoch 2, step 1: component 'cls_consistency'"):
        train(None, resume=out, progress=False)
    assert run.load_state().epochs_done == 1
    assert run.weights_path.read_bytes() == saved


def test_resume_refuses_what_is_not_a_run_or_does_not_match(training_dataset, tmp_path):
    with pytest.raises(CheckpointError, match="not a training run"):
        train(None, resume=tmp_path, progress=False)
    out = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), training_dataset, 0.2, out, progress=False)
    before = (out / "checkpoints" / "last.weights.h5").read_bytes()
    other = tiny_config(**{"model.primary_types": 6})
    with pytest.raises(CheckpointError, match="model.primary_types"):
        train(other, resume=out, progress=False)
    with pytest.raises(CheckpointError, match="already holds a training run"):
        train(tiny_config(), training_dataset, 0.2, out, progress=False)
    assert (out / "checkpoints" / "last.weights.h5").read_bytes() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "{bad}"], "unknown key"),
        (["--epochs", "0"], "Invalid value"),
        (["--resume", "{tmp}"], "not a training run"),
        (["--data", "{tmp}", "--labeled", "0.2", "--out", "{tmp}/run"], "dataset.json"),
    ],
)
def test_cli_bad_input_is_one_line_and_nonzero(tmp_path, args, message):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochz = 3\n")
    args = [a.format(bad=bad, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code != 0
    output = result.output + (str(result.exception) if result.exception else "")
    assert message in output
    assert not (tmp_path / "run").exists()
