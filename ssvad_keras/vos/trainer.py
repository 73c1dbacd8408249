"""`VosTrainer`: one `train_step` for labeled and unlabeled VOS clips.

Labeled clips: BCE + Dice on their annotated frames (`frame_valid`). Every clip, labeled or
not: the flipped view (clip and reference mask flipped together) runs in the same batched
forward pass, its logits are flipped back, and the localization consistency of the action
method (`localization_consistency_loss`: plain L2, temporal coherence with its ramped
attention, gradient smoothness, as `LossConfig` selects) compares the two. Total, as paper
Eq. 9 with no classification terms:

    L = bce_weight BCE + dice_weight Dice + consistency_weight loc_consistency_weight L_loc_const
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from ssvad_keras.config import LossConfig, TrainConfig
from ssvad_keras.data.augment import apply_view, invert_view
from ssvad_keras.losses import (
    bce_with_logits_loss,
    dice_loss,
    localization_consistency_loss,
    sigmoid_rampup,
)

LOSS_KEYS = ("loss", "bce", "dice", "loc_consistency", "ramp_weight")


@keras.saving.register_keras_serializable(package="ssvad")
class VosTrainer(keras.Model):
    """Trains a `MaskPropagationModel` with supervised and consistency losses.

    Args:
        model: the `MaskPropagationModel`.
        loss_config: `LossConfig` (its localization terms and weights).
        train_config: `TrainConfig` (`semi_supervised` switches the flipped view off).
        total_epochs: the run's length; the temporal-coherence ramp spans
            `loss_config.ramp_epochs` or, when unset, the whole run.
        hflip: bool. The augmented view is the flipped clip (off: no consistency).

    The current epoch is a non-trainable variable (`epoch`) saved with the weights, so a
    resumed run continues the ramp.
    """

    def __init__(self, model: keras.Model, loss_config: LossConfig, train_config: TrainConfig,
                 total_epochs: int, hflip: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.propagation_model = model
        self.loss_config = loss_config
        self.train_config = train_config
        self.total_epochs = total_epochs
        self.consistency = bool(train_config.semi_supervised and hflip and loss_config.loc_consistency)
        self.epoch = keras.Variable(0.0, trainable=False, dtype="float32", name="epoch")
        self.trackers = {key: keras.metrics.Mean(name=key) for key in LOSS_KEYS}
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.propagation_model(inputs, training=training)

    def _forward(self, batch, training):
        """Logits of the clip and, with consistency on, of its flipped view flipped back."""
        clip, reference = batch["clip"], batch["reference"]
        if not self.consistency:
            logits = self.propagation_model({"clip": clip, "reference": reference}, training=training)["mask_logits"]
            return logits, None
        size = ops.shape(clip)[0]
        flip = ops.ones((size,), "bool")
        still = ops.zeros((size,), "bool")
        aug_clip = apply_view(clip, flip, still)
        aug_reference = apply_view(reference[:, None], flip, still)[:, 0]
        logits = self.propagation_model(
            {"clip": ops.concatenate([clip, aug_clip], axis=0),
             "reference": ops.concatenate([reference, aug_reference], axis=0)},
            training=training,
        )["mask_logits"]
        return logits[:size], invert_view(logits[size:], flip, still)

    def compute_losses(self, batch, training: bool = True) -> dict:
        """Every loss component of one batch (see the module docstring)."""
        cfg = self.loss_config
        logits, aug_logits = self._forward(batch, training)
        labeled = ops.cast(batch["labeled"], "float32")
        frame_valid = ops.cast(batch["frame_valid"], "float32")
        bce = bce_with_logits_loss(batch["mask"], logits, sample_weight=labeled, frame_weight=frame_valid)
        dice = dice_loss(batch["mask"], logits, smooth=cfg.dice_smooth, sample_weight=labeled,
                         frame_weight=frame_valid)
        ramp = sigmoid_rampup(self.epoch, float(cfg.ramp_epochs or self.total_epochs))
        consistency = ops.zeros((), "float32")
        if aug_logits is not None:
            consistency = localization_consistency_loss(logits, aug_logits, cfg, ramp)
        loss = (
            cfg.bce_weight * bce + cfg.dice_weight * dice
            + cfg.consistency_weight * cfg.loc_consistency_weight * consistency
        )
        return {"loss": loss, "bce": bce, "dice": dice, "loc_consistency": consistency,
                "ramp_weight": ops.cast(ramp, "float32")}

    def _update_trackers(self, components):
        for key, tracker in self.trackers.items():
            tracker.update_state(components[key])

    def train_step(self, batch):
        # Forward, losses, gradients, update, trackers.
        with tf.GradientTape() as tape:
            components = self.compute_losses(batch, training=True)
            scaled = self.optimizer.scale_loss(components["loss"])
        variables = self.propagation_model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        self._update_trackers(components)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, batch):
        self._update_trackers(self.compute_losses(batch, training=False))
        return {m.name: m.result() for m in self.metrics}
