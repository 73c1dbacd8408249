"""The run directory: everything one training run writes, and what `--resume` reads back.

The one place that names a run folder's files: training writes them, evaluation, detection,
the demo and VOS read them, all through `RunDir` (it lives below `training` and `inference`,
which both use it).

    RUN_DIR/
      config.toml            resolved experiment config (rewritten when a resume changes a
                             training key)
      split.json             the labeled/unlabeled/val split used
      data.json              data directory and labeled fraction
      environment.json       software versions and platform the run started on
      state.json             epochs done, learning-rate schedule, best metric, history, changes
      checkpoints/last.weights.h5   detector + optimizer (Adam moments, step count) + epoch
                             counter, after every epoch: what `--resume` continues from
      best.keras             detector with the best validation metric (full Keras model),
                             written on validation epochs
      last.keras             detector after the latest validation epoch and after the last one
      best.student.keras     mean-teacher runs: the other network of the same epochs
      last.student.keras     (`.teacher.` instead when `eval.weights = "student"`)
      logs/                  TensorBoard event files
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ssvad_keras.config import ConfigError, ExperimentConfig, load_config, save_config
from ssvad_keras.errors import CheckpointError
from ssvad_keras.io import read_json, write_json_atomic
from ssvad_keras.runtime import software_environment

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
    # One note per resume that changed training keys: {"at_epoch": n, "changed": {key: [was, now]}}.
    changes: list[dict] = field(default_factory=list)
    version: int = STATE_VERSION


@dataclass
class RunDir:
    """A run folder and the paths of its files (the module docstring lists them).

    Args:
        path: the run folder.

    Example:
    >>> RunDir(Path("runs/demo")).best_model_path.as_posix()
    'runs/demo/best.keras'
    """

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
    def environment_path(self) -> Path:
        return self.path / "environment.json"

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

    def model_path(self, which: str = "best", weights: str | None = None) -> Path:
        """`best.keras` / `last.keras` (`which`), the run's inference detector; with `weights`
        ("teacher" or "student") the file of that network of a mean-teacher run,
        `best.<weights>.keras`. A path only: see `resolve_model` for what a run holds."""
        return self.path / (f"{which}.keras" if weights is None else f"{which}.{weights}.keras")

    def resolve_model(self, which: str = "best", weights: str | None = None) -> Path:
        """The model file of `--weights teacher|student` (None: the run's own choice).

        `best.keras` holds the network the run's `eval.weights` names (the teacher by default);
        the other one of a mean-teacher run is `best.<weights>.keras`. Runs of one network
        (`train.method` "pi" or "pseudo_label") have no teacher/student to choose from.

        Raises:
            CheckpointError: `weights` given for a run of one network.
        """
        if weights is None:
            return self.model_path(which)
        config = self.load_config()
        if config.train.method != "mean_teacher":
            raise CheckpointError(
                f"--weights {weights}: this run trained one network (train.method = "
                f"{config.train.method!r}); teacher and student exist in mean-teacher runs",
                self.path,
            )
        return self.model_path(which, None if weights == config.eval.weights else weights)

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
        write_json_atomic(run.environment_path, software_environment())
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

    def save_config(self, config: ExperimentConfig) -> None:
        """Rewrite `config.toml` (a resume that changed training keys)."""
        save_config(config, self.config_path)

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


def checkpoint_model_path(checkpoint: str | Path, weights: str | None = None) -> tuple[Path, RunDir | None]:
    """The `.keras` file a `--checkpoint` (run directory or model file) and `--weights` name.

    Returns:
        (model path, the run when `checkpoint` is a run directory, else None).

    Raises:
        CheckpointError: not a run directory, or `weights` with a single model file (a file
            holds one network; give the run directory to choose).
    """
    path = Path(checkpoint)
    if path.is_dir():
        run = RunDir.open(path)
        return run.resolve_model("best", weights), run
    if weights is not None:
        raise CheckpointError(
            f"--weights {weights} picks a network of a run directory; give the run directory", path
        )
    return path, None
