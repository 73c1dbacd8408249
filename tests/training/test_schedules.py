"""The plateau learning-rate schedule and its resumable state."""

import math

from ssvad_keras.training import PlateauSchedule


def test_plateau_reduces_after_patience_epochs_without_improvement():
    schedule = PlateauSchedule(1e-4, factor=0.1, patience=2, min_learning_rate=1e-7)
    rates = [schedule.update(v) for v in (1.0, 0.9, 0.95, 0.92, 0.91, 0.93)]
    # 0.9 is the best; 0.95 and 0.92 make two epochs without improvement -> reduce.
    assert rates[:3] == [1e-4, 1e-4, 1e-4]
    assert math.isclose(rates[3], 1e-5)
    assert math.isclose(rates[5], 1e-6)  # 0.91 and 0.93 do not beat 0.9 either


def test_plateau_respects_the_floor():
    schedule = PlateauSchedule(1e-6, factor=0.1, patience=1, min_learning_rate=1e-7)
    for value in (1.0, 1.0, 1.0, 1.0):
        rate = schedule.update(value)
    assert rate == 1e-7


def test_plateau_state_round_trips_so_a_resumed_run_continues():
    a = PlateauSchedule(1e-4, patience=3)
    for v in (1.0, 1.1):
        a.update(v)
    b = PlateauSchedule.from_state(a.state_dict())
    assert (b.best, b.wait, b.learning_rate) == (a.best, a.wait, a.learning_rate)
    assert a.update(1.2) == b.update(1.2)
    assert PlateauSchedule.from_state(PlateauSchedule(1e-3).state_dict()).best == math.inf
