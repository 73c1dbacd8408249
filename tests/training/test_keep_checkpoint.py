"""Which epoch becomes best.keras: the best validated one, or the last (train.keep_checkpoint)."""

import keras
import numpy as np
import pytest

from ssvad_keras.config import TrainConfig
from ssvad_keras.run_dir import RunDir, RunState
from ssvad_keras.training.loop import _save_checkpoints


class _Trainer:
    """What `_save_checkpoints` asks of a trainer: its resume weights and no second network."""

    def __init__(self, model):
        self.model = model

    def save_weights(self, path):
        self.model.save_weights(path)

    def alternate_detectors(self):
        return {}


def _epochs(tmp_path, values, keep_last):
    run = RunDir(tmp_path / ("last" if keep_last else "best"))
    run.weights_path.parent.mkdir(parents=True)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    state = RunState(select_metric="val_fmap@0.5")
    kept = []
    for epoch, value in enumerate(values):
        model.layers[0].kernel.assign(np.full((2, 1), float(epoch), np.float32))  # epoch-tagged weights
        logs = {"loss": 1.0, "val_fmap@0.5": value}
        _save_checkpoints(run, state, _Trainer(model), model, logs, "val_fmap@0.5", True, keep_last)
        state.history.append(logs)
        kept.append(float(keras.saving.load_model(run.best_model_path).layers[0].kernel.numpy()[0, 0]))
    return state, kept


@pytest.mark.parametrize("keep_last", [False, True])
def test_best_keras_follows_the_metric_or_the_last_epoch(tmp_path, keep_last):
    state, kept = _epochs(tmp_path, [0.2, 0.5, 0.3, float("nan")], keep_last)
    if keep_last:
        assert kept == [0.0, 1.0, 2.0, 3.0]  # every epoch replaces it
        assert state.best_epoch == 4 and state.best_metric is None  # the last value was not finite
    else:
        assert kept == [0.0, 1.0, 1.0, 1.0]  # epoch 2 (0.5) stays best
        assert state.best_epoch == 2 and state.best_metric == 0.5


def test_keep_checkpoint_accepts_best_or_last_only():
    assert TrainConfig().keep_checkpoint == "best"
    assert TrainConfig(keep_checkpoint="last").keep_checkpoint == "last"
    with pytest.raises(ValueError, match="keep_checkpoint"):
        TrainConfig(keep_checkpoint="final")
