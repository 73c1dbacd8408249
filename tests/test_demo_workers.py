"""The demo's runs trained side by side in spawned worker processes (`ssvad demo --jobs`)."""

import os
import time
from pathlib import Path

import pytest

from ssvad_keras.demo import HEADLINE_RUNS, DemoRun, _train_in_workers


def _fake_run(spec, data_dir, runs_dir, seed, epochs, messages):
    """Stands in for a training: reports its epochs and says where and when it ran."""
    start = time.time()
    for epoch in range(epochs):
        time.sleep(0.4)
        messages.put((spec.name, epoch + 1))
    test = {"v@0.5": 0.1, "pid": os.getpid(), "start": start, "end": time.time(), "seed": seed}
    return DemoRun(spec.name, spec.labeled_fraction, Path(runs_dir) / spec.name, time.time() - start, {}, test)


def _failing_run(spec, data_dir, runs_dir, seed, epochs, messages):
    if spec.name == "supervised-100":
        raise ValueError(f"{spec.name} failed")
    return _fake_run(spec, data_dir, runs_dir, seed, epochs, messages)


def test_runs_train_in_parallel_worker_processes_and_come_back_by_name(tmp_path):
    runs = _train_in_workers(list(HEADLINE_RUNS), tmp_path / "data", tmp_path, 3, 3, jobs=2, worker=_fake_run)
    assert set(runs) == {s.name for s in HEADLINE_RUNS}
    assert all(r.run_dir == tmp_path / r.name and r.test["seed"] == 3 for r in runs.values())
    pids = {r.test["pid"] for r in runs.values()}
    assert os.getpid() not in pids and len(pids) == 2  # two workers, none of them this process
    # The semi-supervised run (the longest) starts first, beside a supervised one.
    semi, sup20 = runs["semi-supervised-20"], runs["supervised-20"]
    assert semi.test["start"] < sup20.test["end"] and sup20.test["start"] < semi.test["end"]
    assert runs["supervised-100"].test["start"] >= min(semi.test["end"], sup20.test["end"]) - 0.05


def test_a_failing_run_raises_its_error_in_the_parent(tmp_path):
    with pytest.raises(ValueError, match="supervised-100 failed"):
        _train_in_workers(list(HEADLINE_RUNS), tmp_path / "data", tmp_path, 0, 1, jobs=2, worker=_failing_run)
