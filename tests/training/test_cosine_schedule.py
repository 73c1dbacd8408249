"""The cosine learning-rate schedule and `build_schedule` (train.lr_schedule)."""

import math

import pytest

from ssvad_keras.config import TrainConfig
from ssvad_keras.training import CosineSchedule, PlateauSchedule, build_schedule


def _rates(schedule, epochs):
    rates = [schedule.learning_rate]
    for _ in range(epochs - 1):
        rates.append(schedule.update(1.0))
    return rates


def test_cosine_decays_from_the_base_rate_to_near_the_floor():
    rates = _rates(CosineSchedule(1e-3, epochs=12, min_learning_rate=1e-5), 12)
    assert rates[0] == 1e-3
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))  # strictly decreasing
    # Epoch 6 of 12 is half-way along the cosine: the mean of base and floor.
    assert math.isclose(rates[6], (1e-3 + 1e-5) / 2)
    assert math.isclose(rates[11], 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 11 / 12)))


def test_cosine_warm_up_ramps_linearly_then_starts_the_cosine_at_the_base_rate():
    rates = _rates(CosineSchedule(1e-3, epochs=6, min_learning_rate=0.0, warmup_epochs=2), 6)
    assert [round(r, 9) for r in rates[:3]] == [round(1e-3 / 3, 9), round(2e-3 / 3, 9), 1e-3]
    assert rates[3] < rates[2]


def test_cosine_ignores_the_loss_and_resumes_exactly():
    a = CosineSchedule(2e-3, epochs=10)
    b = CosineSchedule(2e-3, epochs=10)
    assert [a.update(v) for v in (5.0, 0.1, 9.0)] == [b.update(0.0) for _ in range(3)]
    restored = CosineSchedule.from_state(a.state_dict())
    assert restored == a and a.update(1.0) == restored.update(1.0)


def test_build_schedule_follows_the_config_and_restores_saved_state():
    cosine = TrainConfig(lr_schedule="cosine", learning_rate=1e-3, epochs=8, min_learning_rate=0.0)
    schedule = build_schedule(cosine)
    assert isinstance(schedule, CosineSchedule) and schedule.learning_rate == 1e-3
    for _ in range(3):
        schedule.update(0.0)
    # A resumed run continues at its epoch; extended to 16 epochs it follows the longer cosine.
    resumed = build_schedule(cosine, schedule.state_dict())
    assert resumed.learning_rate == schedule.learning_rate
    extended = build_schedule(cosine.model_copy(update={"epochs": 16}), schedule.state_dict())
    assert extended.epoch == 3 and extended.learning_rate > schedule.learning_rate

    plateau = TrainConfig(learning_rate=1e-4, lr_patience=2)
    saved = PlateauSchedule(1e-4, patience=2)
    saved.update(1.0)
    restored = build_schedule(plateau, saved.state_dict())
    assert isinstance(restored, PlateauSchedule) and restored.best == 1.0 and restored.wait == 0
    assert isinstance(build_schedule(plateau), PlateauSchedule)


def test_unknown_schedule_is_refused_by_the_config():
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")
