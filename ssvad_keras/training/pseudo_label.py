"""The pseudo-label baseline (the paper's Table 3, first row; Lee 2013): `PseudoLabelTrainer`.

One forward pass of the clip. From `train.pseudo_label_epoch` on, every unlabeled clip whose top
class score beats the runner-up by `loss.pseudo_class_margin` becomes a labeled clip for this
step: its class is the predicted one, its mask the predicted probabilities binarised at
`loss.pseudo_mask_threshold` (targets without gradient, `losses.pseudo_label_targets`). The
supervised losses (spread loss, BCE, Dice) then see labeled and pseudo-labeled clips alike; there
is no consistency term and no second view. Capsule masking follows the Pi trainer's schedule,
so after the pseudo-label epoch an unlabeled clip's decoder sees its predicted class, the same
class its pseudo-label names.
"""

from __future__ import annotations

import keras
from keras import ops

from ssvad_keras.config import LossConfig, TrainConfig
from ssvad_keras.errors import ConfigError
from ssvad_keras.losses import pseudo_label_targets, semi_supervised_loss
from ssvad_keras.training.trainer import SemiSupervisedTrainer, require_semi_supervised


@keras.saving.register_keras_serializable(package="ssvad")
class PseudoLabelTrainer(SemiSupervisedTrainer):
    """Self-training with hard pseudo-labels from confident predictions (see the module docstring).

    Args:
        detector: a `VideoCapsuleDetector`.
        num_classes: action classes (at least 2: confidence is a margin between two classes).
        loss_config: `LossConfig` (`pseudo_class_margin`, `pseudo_mask_threshold`, supervised
            weights; consistency switches are ignored).
        train_config: `TrainConfig` (`pseudo_label_epoch`).
        total_epochs: length of the run.
        **kwargs: `keras.Model` arguments.

    Tracks `pseudo_labeled`: the share of this step's unlabeled clips that were confident.
    """

    unscaled_trackers = (*SemiSupervisedTrainer.unscaled_trackers, "pseudo_labeled")

    @classmethod
    def check_configs(cls, num_classes: int, train_config: TrainConfig) -> None:
        """At least 2 classes (confidence is a class margin) and unlabeled clips to label."""
        if num_classes < 2:
            raise ConfigError("train.method = 'pseudo_label' needs at least 2 classes (confidence is a class margin)")
        require_semi_supervised("pseudo_label", train_config)

    @staticmethod
    def losses_config(loss_config: LossConfig, train_config: TrainConfig) -> LossConfig:
        """Supervised losses only: pseudo-labeling trains no consistency terms."""
        return loss_config.model_copy(update={"cls_consistency": False, "loc_consistency": False})

    def pseudo_labeled_batch(self, batch, outputs) -> tuple[dict, object]:
        """The batch with confident unlabeled clips turned into labeled ones.

        Returns:
            (batch with `labeled` = clip weights, `label`, `mask` and `frame_valid` filled in for
            pseudo-labeled clips; the (B,) 0/1 pseudo-labeled flags).
        """
        cfg = self.loss_config
        targets = pseudo_label_targets(
            outputs["class_scores"], outputs["loc_logits"], cfg.pseudo_class_margin, cfg.pseudo_mask_threshold
        )
        labeled = ops.cast(batch["labeled"], "float32")
        active = ops.cast(self.epoch >= float(self.train_config.pseudo_label_epoch), "float32")
        pseudo = (1.0 - labeled) * targets["confident"] * active
        clip_flag = labeled[:, None, None, None, None]
        filled = {
            **batch,
            "labeled": labeled + pseudo,
            "label": ops.where(labeled > 0, ops.cast(batch["label"], "int32"), targets["label"]),
            "mask": clip_flag * ops.cast(batch["mask"], "float32") + (1.0 - clip_flag) * targets["mask"],
            # Every frame of a pseudo-labeled clip has a (predicted) mask.
            "frame_valid": labeled[:, None] * ops.cast(batch["frame_valid"], "float32") + pseudo[:, None],
        }
        return filled, pseudo

    def losses_and_class_scores(self, batch, training: bool = True) -> tuple[dict, object]:
        """Supervised losses on labeled and pseudo-labeled clips for this replica's slice, and
        the class scores the accuracy tracker reads."""
        class_mask, use_predicted = self._class_masks(batch)
        outputs = self.detector(
            {"clip": batch["clip"], "class_mask": class_mask, "use_predicted_mask": use_predicted},
            training=training,
        )
        filled, pseudo = self.pseudo_labeled_batch(batch, outputs)
        components = semi_supervised_loss(
            outputs, outputs, filled, self.loss_config, 0.0, all_reduce_sum=self.all_reduce()
        )
        unlabeled = ops.sum(1.0 - ops.cast(batch["labeled"], "float32"))
        components["pseudo_labeled"] = ops.sum(pseudo) / ops.maximum(unlabeled, 1.0)
        components["ramp_weight"] = ops.zeros((), "float32")
        return components, outputs["class_scores"]
