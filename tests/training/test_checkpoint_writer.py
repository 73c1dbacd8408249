"""The per-epoch resume checkpoint written in the background (`loop._CheckpointWriter`): the file
`save_weights` would write, taken at snapshot time, and never a torn checkpoint or a state.json
ahead of its weights."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from ssvad_keras.run_dir import RunDir, RunState
from ssvad_keras.training.loop import _CheckpointWriter, _prime_keras_saving_cache, _WeightsSnapshot


def _model() -> keras.Model:
    """Conv, a variable-less dropout and a dense head, with Adam moments after one step."""
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = keras.layers.Dropout(0.5)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.random((4, 6, 6, 2), dtype=np.float32), rng.random((4, 2), dtype=np.float32))
    return model


def _contents(path) -> dict:
    """{name: ("group", attrs) or ("dataset", dtype, values)} of every object in an HDF5 file."""
    items = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            items[name] = ("dataset", str(obj.dtype), obj[()].tolist(), dict(obj.attrs))
        else:
            items[name] = ("group", {k: str(v) for k, v in obj.attrs.items()})

    with h5py.File(path, "r") as f:
        f.visititems(visit)
        items[""] = ("root", {k: str(v) for k, v in f.attrs.items()})
    return items


def test_a_snapshot_writes_the_file_save_weights_wrote_at_snapshot_time(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "keras.weights.h5")
    snapshot = _WeightsSnapshot.take(model)
    before = [v.numpy().copy() for v in model.variables]
    for variable in model.trainable_variables:  # the next epoch changes the weights
        variable.assign(variable + 1.0)
    model.optimizer.variables[1].assign(model.optimizer.variables[1] + 1.0)
    snapshot.write(tmp_path / "snapshot.weights.h5")
    expected = _contents(tmp_path / "keras.weights.h5")
    assert any(name.startswith("optimizer/vars") for name in expected)
    assert any(kind == "group" and "dropout" in name for name, (kind, *_) in expected.items())
    assert _contents(tmp_path / "snapshot.weights.h5") == expected
    model.load_weights(tmp_path / "snapshot.weights.h5")
    for variable, value in zip(model.variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)


def test_keras_saving_skipset_cache_is_hit_after_priming():
    from keras.src.backend.common import global_state
    from keras.src.saving.saving_lib import get_attr_skipset

    _prime_keras_saving_cache()
    cached = global_state.get_global_attribute("saving_attr_skiplist_Layer")
    assert cached is not None and get_attr_skipset("Layer") is cached  # no new reference Layer()


def _state(run: RunDir) -> int:
    return run.load_state().epochs_done


def test_the_writer_keeps_the_previous_pair_when_a_write_fails(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run")
    run.weights_path.parent.mkdir(parents=True)
    model = _model()
    writer = _CheckpointWriter(run, model)
    writer.snapshot()
    writer.commit(RunState(epochs_done=1))
    writer.wait()
    assert _state(run) == 1
    saved = run.weights_path.read_bytes()
    reference = _contents(run.weights_path)

    def torn(self, path):  # a crash half-way through the file
        with h5py.File(path, "w") as f:
            f["partial"] = np.zeros(3)
        raise OSError("disk full")

    monkeypatch.setattr(_WeightsSnapshot, "write", torn)
    for variable in model.trainable_variables:
        variable.assign(variable + 1.0)
    writer.snapshot()
    writer.commit(RunState(epochs_done=2))
    with pytest.raises(OSError, match="disk full"):
        writer.wait()
    writer.close()
    assert run.weights_path.read_bytes() == saved and _contents(run.weights_path) == reference
    assert _state(run) == 1  # state.json never names an epoch whose checkpoint is missing
    assert sorted(p.name for p in run.weights_path.parent.iterdir()) == ["last.weights.h5"]


def test_the_writer_writes_weights_then_state_in_the_background(tmp_path):
    run = RunDir(tmp_path / "run")
    run.weights_path.parent.mkdir(parents=True)
    model = _model()
    writer = _CheckpointWriter(run, model)
    for epoch in (1, 2):
        for variable in model.trainable_variables:
            variable.assign(variable + 1.0)
        expected = [v.numpy().copy() for v in model.trainable_variables]
        writer.snapshot()
        writer.commit(RunState(epochs_done=epoch, history=[{"loss": 1.0}] * epoch))
    writer.close()
    assert _state(run) == 2 and len(run.load_state().history) == 2
    fresh = _model()
    fresh.load_weights(run.weights_path)
    for variable, value in zip(fresh.trainable_variables, expected, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)
