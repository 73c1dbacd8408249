"""`build_trainer`: the training model of a config's `train.method`.

- "pi" (default): `SemiSupervisedTrainer`, the paper's two-view consistency in one network;
- "mean_teacher": `MeanTeacherTrainer`, an EMA teacher on the weak view, the student on the
  strong view, with the difference of pixels and error recovery as options;
- "pseudo_label": `PseudoLabelTrainer`, hard targets from confident predictions.

A supervised-only run (`train.semi_supervised = false`, `ssvad train --supervised-only`) has no
unlabeled clips for a method to use, so it trains the one network (`SemiSupervisedTrainer` on
labeled clips alone) whatever `train.method` says: a preset can name its semi-supervised method
(the tiny preset's is the mean teacher) and still train its supervised baselines.
"""

from __future__ import annotations

import keras

from ssvad_keras.config import ExperimentConfig
from ssvad_keras.errors import ConfigError
from ssvad_keras.training.mean_teacher import MeanTeacherTrainer
from ssvad_keras.training.pseudo_label import PseudoLabelTrainer
from ssvad_keras.training.trainer import SemiSupervisedTrainer

METHODS = ("pi", "mean_teacher", "pseudo_label")


def _check_method_options(config: ExperimentConfig) -> None:
    """Refuse options that the chosen method would silently ignore."""
    method, loss = config.train.method, config.loss
    if method != "mean_teacher":
        if loss.dop_weight > 0:
            raise ConfigError(f"loss.dop_weight applies to train.method = 'mean_teacher', not {method!r}")
        if loss.error_recovery:
            raise ConfigError(f"loss.error_recovery applies to train.method = 'mean_teacher', not {method!r}")


def build_trainer(config: ExperimentConfig, detector: keras.Model, num_classes: int) -> SemiSupervisedTrainer:
    """The trainer of `config.train.method` around `detector` (call inside the strategy's scope).

    Args:
        config: the experiment config.
        detector: the (student) detector, built.
        num_classes: action classes.

    Returns:
        A `SemiSupervisedTrainer` or one of its subclasses.

    Raises:
        ConfigError: an option the method does not use.

    Example:
    >>> trainer = build_trainer(config, build_detector(config=config, num_classes=5), 5)
    """
    _check_method_options(config)
    method = config.train.method if config.train.semi_supervised else "pi"
    common = {
        "detector": detector,
        "num_classes": num_classes,
        "loss_config": config.loss,
        "train_config": config.train,
        "total_epochs": config.train.epochs,
    }
    if method == "mean_teacher":
        return MeanTeacherTrainer(
            **common, strong_augment=config.data.augment.strong, inference_weights=config.eval.weights
        )
    if method == "pseudo_label":
        return PseudoLabelTrainer(**common)
    return SemiSupervisedTrainer(**common)
