"""The training run: run directory, checkpoints, validation schedule, TensorBoard, resume (exact
after SIGKILL, `ssvad train --resume`, what it refuses), a non-finite loss, and bad input.

Tracing the train step is most of a tiny `train()`'s cost, so the tests share two runs of one
config (`runs`): a finished 3-epoch run and the same run killed inside epoch 3. Tests that
resume or change a run work on copies.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.config import VALIDATION_METRICS, load_config
from ssvad_keras.errors import CheckpointError, SsvadError
from ssvad_keras.inference.evaluate import validation_samples
from ssvad_keras.inference.forward import predict_probabilities
from ssvad_keras.training import RunDir, TrainResult, train
from ssvad_keras.training.callbacks import mask_overlay_images
from ssvad_keras.training.loop import TIMING_KEYS

from .conftest import TINY_OVERRIDES, tiny_config

ROOT = Path(__file__).resolve().parents[2]
# 3 epochs of 2 steps, validation after epochs 2 and 3 (the last always validates): the killed
# run has validated once in its own process before the epoch it is killed in, the resumed one
# has not, and both must give the uninterrupted run's figures.
RUN = {**TINY_OVERRIDES, "train.epochs": 3, "train.validate_every": 2}
KILL_POINT = "step 1 of epoch 3 done"

# Trains like the uninterrupted run, announces the end of the first step of epoch 3, and waits
# there to be killed (the kill then lands mid-epoch, after the epoch-2 checkpoint).
SCRIPT = f"""
import json, sys, time
import keras
from ssvad_keras.config import load_config
from ssvad_keras.training import train

class WaitForKill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == 2 and batch == 0:
            print({KILL_POINT!r}, flush=True)
            time.sleep(600)

overrides, data, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
train(load_config(overrides=overrides), data, 0.2, out, progress=False, callbacks=[WaitForKill()])
"""


@dataclass
class Runs:
    """The uninterrupted run and the killed one (never changed by a test: copy them)."""

    full: TrainResult
    killed: Path
    killed_returncode: int


def _wait_for_line(proc: subprocess.Popen, expected: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"training exited (code {proc.wait()}) before {expected!r}")
        if line.strip() == expected:
            return
    pytest.fail(f"no {expected!r} within {seconds} s")


@pytest.fixture(scope="module")
def runs(training_dataset, tmp_path_factory) -> Runs:
    """The uninterrupted run trains here while the other one, in a subprocess, runs up to its
    kill point inside epoch 3 and is killed with SIGKILL."""
    root = tmp_path_factory.mktemp("runs")
    killed = root / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(RUN), str(training_dataset), str(killed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        full = train(load_config(overrides=RUN), training_dataset, 0.2, root / "full", progress=False)
        _wait_for_line(proc, KILL_POINT, 900)  # generous: make test runs two test files at once
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    return Runs(full, killed, proc.returncode)


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


@pytest.fixture
def full_copy(runs, tmp_path) -> Path:
    return _copy(runs.full.run_dir, tmp_path)


@pytest.fixture
def killed_copy(runs, tmp_path) -> Path:
    return _copy(runs.killed, tmp_path)


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


def _logged_epochs(log_dir, tag: str = "loss") -> list[int]:
    """Steps at which TensorBoard holds scalar `tag`, over every event file of the run."""
    from tensorflow.core.util import event_pb2

    steps = []
    for record in tf.data.TFRecordDataset([str(f) for f in sorted(log_dir.glob("events.out.tfevents.*"))]):
        event = event_pb2.Event.FromString(record.numpy())
        steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


def _weights(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


@pytest.mark.slow
def test_train_writes_a_complete_run(runs, training_dataset):
    result = runs.full
    run = RunDir.open(result.run_dir)
    state = run.load_state()
    assert state.epochs_done == 3 and state.finished and result.epochs_trained == 3
    assert [round(h["learning_rate"], 12) for h in state.history] == [1e-4] * 3
    # Validation every 2 epochs: epoch 1 trains and checkpoints only, epochs 2 and 3 (the last) validate.
    assert not any(k.startswith("val_") for k in state.history[0]) and "validation_seconds" not in state.history[0]
    for logs in state.history[1:]:
        assert set(VALIDATION_METRICS) | {"loss", "margin", "dice", "validation_seconds"} <= set(logs)
    # best.keras: the later of the two validated epochs unless the earlier one scored higher
    # (or only the earlier one has a value).
    second, third = (state.history[i][state.select_metric] for i in (1, 2))
    best = 2 if second is not None and (third is None or second > third) else 3
    assert state.select_metric == "val_vmap@0.5" and state.best_epoch == best
    assert json.loads(run.split_path.read_text())["labeled"]
    environment = json.loads(run.environment_path.read_text())
    assert environment["tensorflow"] == tf.__version__ and environment["keras"] == keras.version()
    events = list(run.log_dir.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000  # scalars and mask images
    detector = keras.saving.load_model(run.best_model_path, safe_mode=True)
    assert detector.clip_shape == (8, 32, 32, 3)
    assert run.weights_path.is_file() and run.last_model_path.is_file()
    # One mask image per validated epoch; the last shows the final model's masks on the first validation clip.
    images = _logged_images(events, "val/masks_pred_red_gt_green")
    assert sorted(images) == [1, 2]
    clips, gt = validation_samples(training_dataset, json.loads(run.split_path.read_text())["val"], tiny_config(), 1)
    last = keras.saving.load_model(run.last_model_path, safe_mode=True)
    expected = tf.image.convert_image_dtype(
        mask_overlay_images(clips, predict_probabilities(last, clips), gt)[0], tf.uint8, saturate=True
    ).numpy()
    assert images[2].shape == expected.shape == (32, 8 * 32, 3)
    assert np.abs(images[2].astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_exactly(runs, killed_copy):
    """A run killed with SIGKILL in the middle of an epoch, then resumed, equals the uninterrupted
    run: every logged figure and every saved weight (detector, optimizer moments and step count)."""
    assert runs.killed_returncode == -signal.SIGKILL
    run = RunDir.open(killed_copy)
    assert run.load_state().epochs_done == 2  # killed inside epoch 3, after its checkpoint
    resumed = train(None, resume=killed_copy, progress=False)
    assert resumed.epochs_trained == 1 and resumed.epochs_done == 3

    def figures(history):
        return [{k: v for k, v in epoch.items() if k not in TIMING_KEYS} for epoch in history]

    # Exactly equal, not merely close: same data, dropout masks, optimizer state and schedule.
    full = runs.full
    assert figures(resumed.history) == figures(full.history)
    assert {"loss", "loc_consistency", "accuracy", "val_accuracy", "learning_rate"} <= set(resumed.history[2])
    assert _logged_epochs(run.log_dir) == [0, 1, 2]  # the killed process's event file and the resumed one's
    ours, theirs = _weights(run.weights_path), _weights(RunDir(full.run_dir).weights_path)
    assert ours.keys() == theirs.keys() and any(k.startswith("optimizer/") for k in ours)
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)


def _invoke(*args: str):
    result = CliRunner().invoke(app, ["train", *args])
    return result, result.output + (str(result.exception) if result.exception else "")


@pytest.fixture
def float32_afterwards():
    """`train` sets Keras's global dtype policy from the run's config: put back the default."""
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
def test_cli_resume_extends_a_run_from_its_own_config(full_copy, float32_afterwards):
    """One more epoch, switched to mixed precision on the way (the traced mixed-precision step:
    float16 compute, Adam moments carried into Keras's LossScaleOptimizer)."""
    result, output = _invoke("--resume", str(full_copy), "--epochs", "4", "--mixed-precision", "--quiet")
    assert result.exit_code == 0, output
    assert "trained 1 epochs (4 in all)" in output
    run = RunDir.open(full_copy)
    state = run.load_state()
    assert state.epochs_done == 4 and state.finished and len(state.history) == 4
    changed = {"train.epochs": [3, 4], "train.mixed_precision": [False, True]}
    assert state.changes == [{"at_epoch": 3, "changed": changed}]
    config = load_config(run.config_path)
    assert config.train.epochs == 4 and config.train.mixed_precision and config.data.input_size == (32, 32)
    for key in ("loss", "margin", "bce", "dice", "cls_consistency", "loc_consistency"):
        assert np.isfinite(state.history[3][key]), key
    with h5py.File(run.weights_path, "r") as f:
        assert "inner_optimizer" in f["optimizer"]  # the loss-scaling wrapper around Adam
    assert _logged_epochs(run.log_dir) == [0, 1, 2, 3]
    # Asking again for what is done trains nothing and says so.
    result, output = _invoke("--resume", str(full_copy), "--epochs", "4", "--quiet")
    assert result.exit_code == 0, output
    assert f"nothing to train: {full_copy} has 4 of 4 epochs" in " ".join(output.split())
    assert RunDir.open(full_copy).load_state().history == state.history


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "Invalid value"),
        (["--preset", "tiny"], "incompatible config: data.input_size is [32, 32] in the run but [64, 64] now"),
        (["--seed", "5"], "incompatible config: train.seed is 0 in the run but 5 now"),
        (["--supervised-only"], "train.semi_supervised"),
        (["--data", "{run}"], "drop --data, --labeled and --out"),
    ],
)
def test_cli_resume_refuses_what_would_change_the_run_in_one_line(full_copy, args, message):
    before = RunDir.open(full_copy).config_path.read_text()
    result, output = _invoke("--resume", str(full_copy), *[a.format(run=full_copy) for a in args], "--quiet")
    assert result.exit_code != 0
    assert message in " ".join(output.split())
    assert RunDir.open(full_copy).config_path.read_text() == before


def test_resume_refuses_fewer_epochs_than_done(full_copy):
    with pytest.raises(CheckpointError, match="train.epochs = 2 is fewer than the 3 epochs this run has done"):
        train(None, resume=full_copy, progress=False, overrides={"train.epochs": 2})


def test_resume_refuses_what_is_not_a_run_or_does_not_match(full_copy, training_dataset, tmp_path):
    with pytest.raises(CheckpointError, match="not a training run"):
        train(None, resume=tmp_path, progress=False)
    before = (full_copy / "checkpoints" / "last.weights.h5").read_bytes()
    other = load_config(overrides={**RUN, "model.primary_types": 6})
    with pytest.raises(CheckpointError, match="model.primary_types"):
        train(other, resume=full_copy, progress=False)
    with pytest.raises(CheckpointError, match="already holds a training run"):
        train(load_config(overrides=RUN), training_dataset, 0.2, full_copy, progress=False)
    assert (full_copy / "checkpoints" / "last.weights.h5").read_bytes() == before


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(killed_copy, monkeypatch):
    run = RunDir.open(killed_copy)
    saved = run.weights_path.read_bytes()
    # Resume for the third epoch with a classification-consistency term that returns NaN.
    import ssvad_keras.losses.combined as combined

    monkeypatch.setattr(combined, "jsd_loss", lambda a, b: keras.ops.sum(a) * float("nan"))
    with pytest.raises(SsvadError, match=r"non-finite loss at epoch 3, step 1: component 'cls_consistency'"):
        train(None, resume=killed_copy, progress=False)
    assert run.load_state().epochs_done == 2
    assert run.weights_path.read_bytes() == saved


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
