"""The run directory: everything one training run writes, and what `--resume` reads back.

    RUN_DIR/
      config.toml            resolved experiment config
      split.json             the labeled/unlabeled/val split used
      data.json              data directory and labeled fraction
      state.json             epochs done, learning-rate schedule, best metric, history
      checkpoints/last.weights.h5   detector + optimizer + epoch counter (every epoch)
      best.keras             detector with the best validation metric (full Keras model)
      last.keras             detector after the last finished epoch
      logs/                  TensorBoard event files
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ssvad_keras.config import ConfigError, ExperimentConfig, load_config, save_config
from ssvad_keras.errors import CheckpointError
from ssvad_keras.io import read_json, write_json_atomic

STATE_VERSION = 1


@dataclass
class RunState:
    """Training progress that must survive a kill."""

    epochs_done: int = 0
    schedule: dict = field(default_factory=dict)
    best_metric: float | None = None
    best_epoch: int | None = None
    select_metric: str = ""
    history: list[dict] = field(default_factory=list)
    finished: bool = False
    version: int = STATE_VERSION


@dataclass
class RunDir:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def split_path(self) -> Path:
        return self.path / "split.json"

    @property
    def data_path(self) -> Path:
        return self.path / "data.json"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    @property
    def weights_path(self) -> Path:
        return self.path / "checkpoints" / "last.weights.h5"

    @property
    def best_model_path(self) -> Path:
        return self.path / "best.keras"

    @property
    def last_model_path(self) -> Path:
        return self.path / "last.keras"

    @property
    def log_dir(self) -> Path:
        return self.path / "logs"

    def is_run(self) -> bool:
        return self.config_path.is_file() and self.state_path.is_file()

    @classmethod
    def create(
        cls, path: Path, config: ExperimentConfig, split: dict, data: dict
    ) -> RunDir:
        """Start a new run in `path`; refuses a folder that already holds a run."""
        run = cls(Path(path))
        if run.is_run():
            raise CheckpointError(
                "already holds a training run (use --resume to continue it, or another --out)",
                run.path,
            )
        (run.path / "checkpoints").mkdir(parents=True, exist_ok=True)
        run.log_dir.mkdir(exist_ok=True)
        save_config(config, run.config_path)
        write_json_atomic(run.split_path, split)
        write_json_atomic(run.data_path, data)
        run.save_state(RunState())
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        run = cls(Path(path))
        if not run.path.is_dir():
            raise CheckpointError("run directory not found", run.path)
        if not run.is_run():
            raise CheckpointError("not a training run (no config.toml and state.json)", run.path)
        return run

    def load_config(self) -> ExperimentConfig:
        try:
            return load_config(self.config_path)
        except ConfigError as err:
            raise CheckpointError(f"incompatible run config: {err.detail}", self.config_path) from None

    def load_data(self) -> dict:
        data = read_json(self.data_path)
        if "data_dir" not in data:
            raise CheckpointError("no data_dir recorded", self.data_path)
        return data

    def load_state(self) -> RunState:
        raw = read_json(self.state_path)
        try:
            state = RunState(**raw)
        except TypeError as err:
            raise CheckpointError(f"unreadable run state ({err})", self.state_path) from None
        if state.version != STATE_VERSION:
            raise CheckpointError(f"run state version {state.version} is not supported", self.state_path)
        return state

    def save_state(self, state: RunState) -> None:
        write_json_atomic(self.state_path, json.loads(json.dumps(state.__dict__)))
