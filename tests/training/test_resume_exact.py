"""A run killed with SIGKILL in the middle of an epoch, then resumed, equals the uninterrupted run:
every logged figure and every saved weight (detector, optimizer moments and step count)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from ssvad_keras.config import load_config
from ssvad_keras.training import RunDir, train
from ssvad_keras.training.loop import TIMING_KEYS

from .conftest import TINY_OVERRIDES

ROOT = Path(__file__).resolve().parents[2]
KILL_POINT = "step 1 of epoch 2 done"

# Trains like the test does, announces the end of the first step of epoch 2, and waits there
# to be killed (the kill then lands mid-epoch, after the epoch-1 checkpoint).
SCRIPT = f"""
import json, sys, time
import keras
from ssvad_keras.config import load_config
from ssvad_keras.training import train

class WaitForKill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == 1 and batch == 0:
            print({KILL_POINT!r}, flush=True)
            time.sleep(600)

overrides, data, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
train(load_config(overrides=overrides), data, 0.2, out, progress=False, callbacks=[WaitForKill()])
"""


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


def _weights(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_exactly(training_dataset, tmp_path):
    overrides = {**TINY_OVERRIDES, "train.epochs": 2, "train.steps_per_epoch": 3, "train.seed": 3}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(overrides), str(training_dataset), str(killed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # The uninterrupted run trains here while the other one runs up to its kill point.
        full = train(load_config(overrides=overrides), training_dataset, 0.2, tmp_path / "full", progress=False)
        _wait_for_line(proc, KILL_POINT, 600)  # generous: make test runs two test files at once
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    run = RunDir.open(killed)
    assert run.load_state().epochs_done == 1  # killed inside epoch 2, after its checkpoint
    resumed = train(None, resume=killed, progress=False)
    assert resumed.epochs_trained == 1 and resumed.epochs_done == 2

    def figures(history):
        return [{k: v for k, v in epoch.items() if k not in TIMING_KEYS} for epoch in history]

    # Exactly equal, not merely close: same data, dropout masks, optimizer state and schedule.
    assert figures(resumed.history) == figures(full.history)
    assert {"loss", "loc_consistency", "accuracy", "val_accuracy", "learning_rate"} <= set(resumed.history[1])
    ours, theirs = _weights(run.weights_path), _weights(RunDir(full.run_dir).weights_path)
    assert ours.keys() == theirs.keys() and any(k.startswith("optimizer/") for k in ours)
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)
