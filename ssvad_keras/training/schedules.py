"""Learning-rate schedule with resumable state (SPEC 4).

The paper multiplies the learning rate by 0.1 when the training loss has not improved for five
epochs. `PlateauSchedule` keeps that state in a plain dict so a resumed run continues exactly where
the killed one stopped (Keras's `ReduceLROnPlateau` keeps it only in memory).
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
        state["best"] = math.inf if state.get("best") is None else state["best"]
        return cls(**state)
