"""Semi-supervised training: the train step, schedules, checkpoints and the training loop."""

from ssvad_keras.runtime import import_tensorflow

# TensorFlow's defaults (Keras backend, CPU allocator) and its quiet import, before this
# package's modules load Keras (ssvad_keras/runtime.py).
import_tensorflow()

from ssvad_keras.run_dir import RunDir, RunState
from ssvad_keras.training.loop import TrainResult, make_strategy, train
from ssvad_keras.training.schedules import CosineSchedule, PlateauSchedule, build_schedule
from ssvad_keras.training.trainer import SemiSupervisedTrainer

__all__ = [
    "CosineSchedule",
    "PlateauSchedule",
    "RunDir",
    "RunState",
    "SemiSupervisedTrainer",
    "TrainResult",
    "build_schedule",
    "make_strategy",
    "train",
]
