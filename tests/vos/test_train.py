"""`train_vos`'s checkpoint rule: `train.keep_checkpoint` chooses what becomes best.keras."""

from __future__ import annotations

import json

import pytest

from ssvad_keras.run_dir import RunState
from ssvad_keras.training.schedules import build_schedule
from ssvad_keras.vos.train import VosRunDir, _finish_epoch

from .conftest import tiny_vos_config


class _Saver:
    """Stands in for the trainer and the model: each save writes the epoch it was made in."""

    epoch = 0

    def save_weights(self, path):
        path.write_text(str(self.epoch))

    save = save_weights


@pytest.mark.parametrize(("keep", "kept_epoch"), [("best", 1), ("last", 2)])
def test_keep_checkpoint_best_or_last(tmp_path, keep, kept_epoch):
    config = tiny_vos_config(**{"train.keep_checkpoint": keep, "train.lr_schedule": "cosine", "train.epochs": 2})
    run = VosRunDir.create(tmp_path / "run", config, {"labeled": ["a"], "unlabeled": [], "val": []}, {})
    state, schedule, saver = RunState(select_metric="val_jf"), build_schedule(config.train), _Saver()
    for epoch, val_jf in enumerate((0.5, 0.3)):  # the second epoch validates worse
        saver.epoch = epoch + 1
        schedule.update(0.0)
        _finish_epoch(run, state, schedule, {"loss": 1.0, "val_jf": val_jf}, epoch, config.train, saver, saver)
    assert state.best_epoch == kept_epoch
    assert run.best_model_path.read_text() == str(kept_epoch)
    assert state.best_metric == (0.5 if keep == "best" else 0.3)
    saved = json.loads(run.state_path.read_text())
    assert saved["finished"] is True and saved["schedule"]["kind"] == "cosine"
