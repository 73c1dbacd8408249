"""The training run: run directory, checkpoints, validation schedule, TensorBoard, bad input
(resume: test_resume.py and test_resume_exact.py)."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.config import VALIDATION_METRICS
from ssvad_keras.inference.evaluate import validation_samples
from ssvad_keras.inference.forward import predict_probabilities
from ssvad_keras.training import RunDir, train
from ssvad_keras.training.callbacks import mask_overlay_images

from .conftest import tiny_config

ROOT = Path(__file__).resolve().parents[2]


def test_train_writes_a_complete_run(training_dataset, tmp_path):
    result = train(tiny_config(**{"train.validate_every": 2}), training_dataset, 0.2, tmp_path / "run", progress=False)
    run = RunDir.open(result.run_dir)
    state = run.load_state()
    assert state.epochs_done == 2 and state.finished and result.epochs_trained == 2
    assert [round(h["learning_rate"], 12) for h in state.history] == [1e-4, 1e-4]
    # Validation every 2 epochs: epoch 1 trains and checkpoints only, epoch 2 validates.
    assert not any(k.startswith("val_") for k in state.history[0]) and "validation_seconds" not in state.history[0]
    assert set(VALIDATION_METRICS) | {"loss", "margin", "dice", "validation_seconds"} <= set(state.history[1])
    assert state.select_metric == "val_vmap@0.5" and state.best_epoch == 2
    assert json.loads(run.split_path.read_text())["labeled"]
    events = list(run.log_dir.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000  # scalars and mask images
    detector = keras.saving.load_model(run.best_model_path, safe_mode=True)
    assert detector.clip_shape == (8, 32, 32, 3)
    assert run.weights_path.is_file() and run.last_model_path.is_file()
    # One mask image per validated epoch, showing the final model's masks on the first validation clip.
    images = _logged_images(events, "val/masks_pred_red_gt_green")
    assert sorted(images) == [1]
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


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "{bad}"], "unknown key"),
        (
            ["--config", "{metric}"],
            "train.select_metric: Input should be 'val_fmap@0.5', 'val_vmap@0.2', 'val_vmap@0.5' or 'val_accuracy'",
        ),
        (["--epochs", "0"], "Invalid value"),
        (["--resume", "{tmp}"], "not a training run"),
        (["--data", "{tmp}", "--labeled", "0.2", "--out", "{tmp}/run"], "dataset.json"),
    ],
)
def test_cli_bad_input_is_one_line_and_nonzero(tmp_path, args, message):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochz = 3\n")
    metric = tmp_path / "metric.toml"
    metric.write_text('[train]\nselect_metric = "val_vmap@05"\n')  # a typo made every epoch "best"
    args = [a.format(bad=bad, metric=metric, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code != 0
    output = result.output + (str(result.exception) if result.exception else "")
    assert message in " ".join(output.split())
    assert not (tmp_path / "run").exists()
