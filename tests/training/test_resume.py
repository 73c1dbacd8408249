"""`ssvad train --resume RUN`: the run's own config, training keys that may change (and are
recorded), everything else refused in one line, and nothing trained said out loud."""

from __future__ import annotations

import shutil

import keras
import pytest
import tensorflow as tf
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.config import load_config
from ssvad_keras.errors import CheckpointError, SsvadError
from ssvad_keras.training import RunDir, train

from .conftest import tiny_config


@pytest.fixture(scope="module")
def one_epoch_run(training_dataset, tmp_path_factory):
    """A finished 1-epoch run of the 32x32 test config (not a preset's defaults)."""
    out = tmp_path_factory.mktemp("resume") / "run"
    train(tiny_config(**{"train.epochs": 1}), training_dataset, 0.2, out, progress=False)
    return out


@pytest.fixture
def run_copy(one_epoch_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(one_epoch_run, out)
    return out


def _invoke(*args: str):
    result = CliRunner().invoke(app, ["train", *args])
    return result, result.output + (str(result.exception) if result.exception else "")


def _logged_epochs(log_dir, tag: str = "loss") -> list[int]:
    """Steps at which TensorBoard holds scalar `tag`, over every event file of the run."""
    from tensorflow.core.util import event_pb2

    steps = []
    for record in tf.data.TFRecordDataset([str(f) for f in sorted(log_dir.glob("events.out.tfevents.*"))]):
        event = event_pb2.Event.FromString(record.numpy())
        steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


@pytest.mark.slow
def test_cli_resume_extends_a_run_from_its_own_config(run_copy):
    result, output = _invoke("--resume", str(run_copy), "--epochs", "2", "--quiet")
    assert result.exit_code == 0, output
    assert "trained 1 epochs (2 in all)" in output
    run = RunDir.open(run_copy)
    state = run.load_state()
    assert state.epochs_done == 2 and state.finished and len(state.history) == 2
    assert state.changes == [{"at_epoch": 1, "changed": {"train.epochs": [1, 2]}}]
    config = load_config(run.config_path)
    assert config.train.epochs == 2 and config.data.input_size == (32, 32)
    assert _logged_epochs(run.log_dir) == [0, 1]
    # Asking again for what is done trains nothing and says so.
    result, output = _invoke("--resume", str(run_copy), "--epochs", "2", "--quiet")
    assert result.exit_code == 0, output
    assert f"nothing to train: {run_copy} has 2 of 2 epochs" in " ".join(output.split())
    assert RunDir.open(run_copy).load_state().history == state.history


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
def test_cli_resume_refuses_what_would_change_the_run_in_one_line(run_copy, args, message):
    before = RunDir.open(run_copy).config_path.read_text()
    result, output = _invoke("--resume", str(run_copy), *[a.format(run=run_copy) for a in args], "--quiet")
    assert result.exit_code != 0
    assert message in " ".join(output.split())
    assert RunDir.open(run_copy).config_path.read_text() == before


def test_resume_refuses_fewer_epochs_than_done(one_epoch_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(one_epoch_run, out)
    state = RunDir.open(out).load_state()
    state.epochs_done = 2  # as if a 2-epoch run: asking for 1 cannot shrink it
    RunDir.open(out).save_state(state)
    with pytest.raises(CheckpointError, match="train.epochs = 1 is fewer than the 2 epochs this run has done"):
        train(None, resume=out, progress=False, overrides={"train.epochs": 1})


def test_resume_refuses_what_is_not_a_run_or_does_not_match(run_copy, training_dataset, tmp_path):
    with pytest.raises(CheckpointError, match="not a training run"):
        train(None, resume=tmp_path, progress=False)
    before = (run_copy / "checkpoints" / "last.weights.h5").read_bytes()
    other = tiny_config(**{"model.primary_types": 6, "train.epochs": 2})
    with pytest.raises(CheckpointError, match="model.primary_types"):
        train(other, resume=run_copy, progress=False)
    with pytest.raises(CheckpointError, match="already holds a training run"):
        train(tiny_config(), training_dataset, 0.2, run_copy, progress=False)
    assert (run_copy / "checkpoints" / "last.weights.h5").read_bytes() == before


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(run_copy, monkeypatch):
    run = RunDir.open(run_copy)
    saved = run.weights_path.read_bytes()
    # Resume for a second epoch with a classification-consistency term that returns NaN.
    import ssvad_keras.losses.combined as combined

    monkeypatch.setattr(combined, "jsd_loss", lambda a, b: keras.ops.sum(a) * float("nan"))
    with pytest.raises(SsvadError, match=r"non-finite loss at epoch 2, step 1: component 'cls_consistency'"):
        train(None, resume=run_copy, progress=False, overrides={"train.epochs": 2})
    assert run.load_state().epochs_done == 1
    assert run.weights_path.read_bytes() == saved
