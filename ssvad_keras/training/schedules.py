"""Learning-rate schedules with resumable state (SPEC 4).

The paper multiplies the learning rate by 0.1 when the training loss has not improved for five
epochs (`PlateauSchedule`, `train.lr_schedule = "plateau"`). `CosineSchedule` (`"cosine"`) decays
it along a half cosine over the run's epochs instead: on short fine-tuning budgets a plateau rarely
fires, so the whole run trains at the initial rate and the last epochs are as noisy as the first.
Both keep their state in a plain dict so a resumed run continues exactly where the killed one
stopped (Keras's `ReduceLROnPlateau` keeps it only in memory). `build_schedule` picks one from the
config and restores it from a run's `state.json`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class PlateauSchedule:
    """Reduce the learning rate by `factor` after `patience` epochs without improvement.

    Args:
        learning_rate: current learning rate.
        factor: multiplier applied on a plateau (paper: 0.1).
        patience: epochs without improvement before reducing (paper: 5).
        min_learning_rate: floor (SPEC: 1e-7).
        min_delta: relative improvement that counts (1e-4, as Keras's default mode "rel").
        best: best monitored value so far.
        wait: epochs since the last improvement.
    """

    learning_rate: float
    factor: float = 0.1
    patience: int = 5
    min_learning_rate: float = 1e-7
    min_delta: float = 1e-4
    best: float = math.inf
    wait: int = 0

    def update(self, value: float) -> float:
        """Record this epoch's monitored value; return the learning rate for the next epoch."""
        if value < self.best * (1.0 - self.min_delta) if self.best > 0 else value < self.best:
            self.best = value
            self.wait = 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.learning_rate = max(self.learning_rate * self.factor, self.min_learning_rate)
                self.wait = 0
        return self.learning_rate

    def state_dict(self) -> dict:
        state = asdict(self)
        state["best"] = None if math.isinf(self.best) else self.best
        return state

    @classmethod
    def from_state(cls, state: dict) -> PlateauSchedule:
        state = dict(state)
        state.pop("kind", None)
        state["best"] = math.inf if state.get("best") is None else state["best"]
        return cls(**state)


@dataclass
class CosineSchedule:
    """Half-cosine decay per epoch from `base_learning_rate` to `min_learning_rate`, after an
    optional linear warm-up.

    Epoch `e` of `epochs` (0-based, after `warmup_epochs` warm-up epochs at
    `base * (e + 1) / (warmup + 1)`) trains at
    `min + (base - min) * (1 + cos(pi * (e - warmup) / (epochs - warmup))) / 2`: the first epoch at
    the base rate, the last one close to the floor. The rate depends only on the epoch, so a
    resumed run continues exactly; a run extended to more epochs on resume (`train.epochs`)
    follows the longer cosine from its current epoch on.

    Args:
        base_learning_rate: the rate of the first epoch after warm-up.
        epochs: the run's epochs.
        min_learning_rate: the floor the cosine ends at.
        warmup_epochs: epochs of linear warm-up before the cosine.
        epoch: the epoch whose rate `learning_rate` gives (advanced by `update`).

    Example:

    >>> s = CosineSchedule(1e-3, epochs=4, min_learning_rate=0.0)
    >>> [round(s.update(0.0), 6) for _ in range(3)]
    [0.000854, 0.0005, 0.000146]
    """

    base_learning_rate: float
    epochs: int
    min_learning_rate: float = 0.0
    warmup_epochs: int = 0
    epoch: int = 0

    @property
    def learning_rate(self) -> float:
        e, warm = self.epoch, self.warmup_epochs
        if e < warm:
            return self.base_learning_rate * (e + 1) / (warm + 1)
        span = max(self.epochs - warm, 1)
        progress = min((e - warm) / span, 1.0)
        return self.min_learning_rate + (self.base_learning_rate - self.min_learning_rate) * 0.5 * (
            1.0 + math.cos(math.pi * progress)
        )

    def update(self, value: float) -> float:
        """Finish an epoch (its loss `value` is not used); return the next epoch's rate."""
        del value
        self.epoch += 1
        return self.learning_rate

    def state_dict(self) -> dict:
        return {"kind": "cosine", **asdict(self)}

    @classmethod
    def from_state(cls, state: dict) -> CosineSchedule:
        state = dict(state)
        state.pop("kind", None)
        return cls(**state)


Schedule = PlateauSchedule | CosineSchedule


def build_schedule(train_config, state: dict | None = None) -> Schedule:
    """The schedule `train_config.lr_schedule` names, restored from a run's saved `state` if any.

    A resumed run keeps its schedule's position; `epochs` always comes from `train_config`, so a
    run extended on resume decays over its new length.

    Args:
        train_config: the run's `TrainConfig`.
        state: `state_dict()` of the schedule saved in `state.json`, or None for a new run.
    """
    cfg = train_config
    if cfg.lr_schedule == "cosine":
        if state and state.get("kind") == "cosine":
            restored = CosineSchedule.from_state(state)
            restored.epochs = cfg.epochs
            return restored
        return CosineSchedule(cfg.learning_rate, cfg.epochs, cfg.min_learning_rate, cfg.warmup_epochs)
    if state and state.get("kind", "plateau") == "plateau":
        return PlateauSchedule.from_state(state)
    return PlateauSchedule(cfg.learning_rate, cfg.lr_factor, cfg.lr_patience, cfg.min_learning_rate)
