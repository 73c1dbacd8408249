"""The full training objective: supervised + consistency losses (paper Eq. 7-9, SPEC 3).

    L_labeled = L_cls + L_loc                                     (Eq. 7)
    L_const   = lambda1 L_cls_const + lambda2 L_loc_const         (Eq. 8)
    L_total   = L_labeled + lambda L_const                        (Eq. 9)

Choices, where the paper leaves room:
- Supervised terms use the original view only (as the released code) and labeled clips only,
  through `sample_weight = batch["labeled"]`; a batch without labeled clips gives 0.
- By default the supervised localization loss sees every frame of a labeled clip, as the released
  code does (frames without ground truth are background). `LossConfig.loc_frames = "annotated"`
  counts only frames with `batch["frame_valid"] = 1`, for untrimmed videos whose ground truth may
  be missing rather than empty.
- Consistency terms use every clip, labeled or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras import ops

from ssvad_keras.config import LossConfig
from ssvad_keras.losses.consistency import (
    consistency_l2,
    gradient_smoothness_loss,
    jsd_loss,
    temporal_coherence_loss,
)
from ssvad_keras.losses.supervised import (
    bce_with_logits_loss,
    dice_from_sums,
    dice_loss,
    dice_sums,
    margin_loss,
)


def _frames_counted(labeled, frame_weight, loc_logits):
    """(B, T) weights of the frames the supervised localization loss counts."""
    weight = ops.ones_like(loc_logits[:, :, 0, 0, 0]) * ops.reshape(labeled, (-1, 1))
    return weight if frame_weight is None else weight * ops.cast(frame_weight, "float32")


def localization_consistency_loss(loc_logits, aug_loc_logits, loss_cfg: LossConfig, ramp_weight):
    """L_loc_const of Eq. 8 for every combination of the config's switches.

    - no attention: plain L2 (Eq. 2);
    - temporal coherence ("variance" or "cyclic"): `temporal_coherence_loss` (Eq. 3), its
      `(1 - w)` plain term when `plain_l2`;
    - gradient smoothness: `gradient_smoothness_loss` (Eq. 5), plus the plain L2 when
      `plain_l2`;
    - both: `mix * L_var + (1 - mix) * L_grad` with `mix = attention_mix` (0.5 in the released
      UCF script); the plain L2 then rides in the variance term only, as released.

    Args:
        loc_logits: (B, T, H, W, 1) mask logits of the clip.
        aug_loc_logits: (B, T, H, W, 1) mask logits of the augmented view, mapped back.
        loss_cfg: the `LossConfig`.
        ramp_weight: w in [0, 1] for the temporal-coherence term.

    Returns:
        Scalar float32 loss.

    Example:
    >>> localization_consistency_loss(logits, aug_logits, LossConfig(), ramp_weight=0.3)
    """
    compare_probabilities = loss_cfg.consistency_on_probabilities
    use_variance = loss_cfg.temporal_coherence != "none"
    use_gradient = loss_cfg.gradient_smoothness
    if not (use_variance or use_gradient):
        return consistency_l2(loc_logits, aug_loc_logits, on_probabilities=compare_probabilities)
    variance_term = gradient_term = None
    if use_variance:
        variance_term = temporal_coherence_loss(
            loc_logits,
            aug_loc_logits,
            ramp_weight,
            window=loss_cfg.variance_window,
            cyclic=loss_cfg.temporal_coherence == "cyclic",
            on_probabilities=loss_cfg.variance_on_probabilities,
            plain_l2=loss_cfg.plain_l2,
            mask_gain=loss_cfg.variance_mask_gain,
            compare_probabilities=compare_probabilities,
        )
    if use_gradient:
        gradient_term = gradient_smoothness_loss(
            loc_logits,
            aug_loc_logits,
            lower=loss_cfg.gradient_lower,
            upper=loss_cfg.gradient_upper,
            plain_l2=loss_cfg.plain_l2 and not use_variance,
            compare_probabilities=compare_probabilities,
        )
    if variance_term is None:
        return gradient_term
    if gradient_term is None:
        return variance_term
    mix = loss_cfg.attention_mix
    return mix * variance_term + (1.0 - mix) * gradient_term


def _global_count(all_reduce_sum, value):
    """The sum of `value` over replicas, as a constant (a normalizer, not a path for gradients)."""
    return ops.stop_gradient(all_reduce_sum(ops.cast(value, "float32")))


def supervised_localization_loss(
    mask_true,
    loc_logits,
    sample_weight,
    frame_weight=None,
    smooth: float = 1.0,
    *,
    all_reduce_sum: Callable[[Any], Any] | None = None,
):
    """BCE and Dice of the supervised localization loss (Eq. 7) on the weighted clips.

    Under `tf.distribute` (`all_reduce_sum` given) each value is this replica's share of the
    global-batch value: the BCE mean is divided by the global count of weighted frames and the
    Dice ratio is formed from all-reduced sums, so the replicas' gradients add up to the
    single-device gradient.

    Args:
        mask_true: (B, T, H, W, 1) target masks in [0, 1].
        loc_logits: (B, T, H, W, 1) predicted mask logits.
        sample_weight: (B,) clip weights, e.g. the `labeled` flags.
        frame_weight: optional (B, T) frame weights (`LossConfig.loc_frames == "annotated"`).
        smooth: Dice smoothing.
        all_reduce_sum: see `semi_supervised_loss`.

    Returns:
        (bce, dice), float32 scalars.

    Example:
    >>> bce, dice = supervised_localization_loss(mask, logits, batch["labeled"])
    """
    if all_reduce_sum is None:
        bce = bce_with_logits_loss(mask_true, loc_logits, sample_weight=sample_weight, frame_weight=frame_weight)
        dice = dice_loss(
            mask_true, loc_logits, smooth=smooth, sample_weight=sample_weight, frame_weight=frame_weight
        )
        return bce, dice
    frames = ops.sum(_frames_counted(ops.cast(sample_weight, "float32"), frame_weight, loc_logits))
    bce = bce_with_logits_loss(
        mask_true,
        loc_logits,
        sample_weight=sample_weight,
        frame_weight=frame_weight,
        normalizer=_global_count(all_reduce_sum, frames),
    )
    intersection, total = dice_sums(mask_true, loc_logits, sample_weight, frame_weight)
    replicas = _global_count(all_reduce_sum, 1.0)
    dice = dice_from_sums(all_reduce_sum(intersection), all_reduce_sum(total), smooth) / replicas
    return bce, dice


def semi_supervised_loss(
    outputs: dict[str, Any],
    aug_outputs_mapped_back: dict[str, Any],
    batch: dict[str, Any],
    loss_cfg: LossConfig,
    ramp_weight,
    *,
    all_reduce_sum: Callable[[Any], Any] | None = None,
    extra_loc_consistency=None,
    consistency_ramp_weight=None,
) -> dict[str, Any]:
    """All loss components of one training batch and their total (Eq. 7-9).

    Args:
        outputs: the clip's outputs: `class_scores` (B, C), `features` (B, h, w, C),
            `loc_logits` (B, T, H, W, 1).
        aug_outputs_mapped_back: the same for the augmented view, mapped back to the clip's
            geometry.
        batch: `labeled` (B,) float 0/1, `label` (B,) int class index, `mask` (B, T, H, W, 1)
            float ground truth, `frame_valid` (B, T) float (needed only with
            `loss_cfg.loc_frames == "annotated"`).
        loss_cfg: the `LossConfig`: weights, margin, consistency switches.
        ramp_weight: w in [0, 1] of the temporal-coherence term (`sigmoid_rampup`).
        all_reduce_sum: under `tf.distribute`, a function that sums a tensor over replicas
            (differentiably). Each component then becomes this replica's share of the value on
            the global batch: means are divided by global counts and Dice is formed from global
            sums, so the replicas' gradients add up to the single-device gradient. None: the
            batch is the whole batch.
        extra_loc_consistency: an additional localization-consistency term (a float32 scalar,
            a mean over this replica's clips, e.g. the mean teacher's difference of pixels),
            added to L_loc_const before its distributed share is taken; None adds nothing.
        consistency_ramp_weight: a factor in [0, 1] on lambda (Eq. 9), for `loss_cfg.consistency_ramp`
            (Stable Mean Teacher ramps its whole consistency loss); None = 1.

    Returns:
        Dict of float32 scalars: `margin`, `bce`, `dice` (raw supervised terms), `cls` and
        `loc` (weighted), `labeled` (Eq. 7), `cls_consistency` (JSD, 0 when off),
        `loc_consistency` (0 when off), `consistency` (Eq. 8) and `loss` (Eq. 9).

    Example:
    >>> parts = semi_supervised_loss(out, aug_out, batch, cfg.loss, ramp_weight=0.2)
    >>> parts["loss"]
    """
    labeled = ops.cast(batch["labeled"], "float32")
    class_scores = outputs["class_scores"]
    labels_onehot = ops.one_hot(ops.cast(batch["label"], "int32"), int(class_scores.shape[-1]))
    frame_weight = batch["frame_valid"] if loss_cfg.loc_frames == "annotated" else None
    loc_logits = outputs["loc_logits"]
    aug_loc_logits = aug_outputs_mapped_back["loc_logits"]

    if all_reduce_sum is None:
        margin = margin_loss(labels_onehot, class_scores, loss_cfg.margin, sample_weight=labeled)
        consistency_share = 1.0
    else:
        # Shares of the global-batch values (see `all_reduce_sum` above).
        margin = margin_loss(
            labels_onehot,
            class_scores,
            loss_cfg.margin,
            sample_weight=labeled,
            normalizer=_global_count(all_reduce_sum, ops.sum(labeled)),
        )
        local_batch = ops.cast(ops.shape(labeled)[0], "float32")
        consistency_share = local_batch / _global_count(all_reduce_sum, local_batch)
    bce, dice = supervised_localization_loss(
        batch["mask"],
        loc_logits,
        labeled,
        frame_weight,
        loss_cfg.dice_smooth,
        all_reduce_sum=all_reduce_sum,
    )
    cls = loss_cfg.margin_weight * margin
    loc = loss_cfg.bce_weight * bce + loss_cfg.dice_weight * dice
    labeled_loss = cls + loc  # Eq. 7

    zero = ops.zeros((), dtype="float32")
    cls_consistency = zero
    if loss_cfg.cls_consistency:
        cls_consistency = jsd_loss(outputs["features"], aug_outputs_mapped_back["features"])
    loc_consistency = zero
    if loss_cfg.loc_consistency:
        loc_consistency = localization_consistency_loss(
            loc_logits, aug_loc_logits, loss_cfg, ramp_weight
        )
    if extra_loc_consistency is not None:
        loc_consistency = loc_consistency + ops.cast(extra_loc_consistency, "float32")
    cls_consistency = cls_consistency * consistency_share
    loc_consistency = loc_consistency * consistency_share
    consistency = (
        loss_cfg.cls_consistency_weight * cls_consistency
        + loss_cfg.loc_consistency_weight * loc_consistency
    )  # Eq. 8
    weight = loss_cfg.consistency_weight
    if consistency_ramp_weight is not None:
        weight = weight * ops.cast(consistency_ramp_weight, "float32")
    total = labeled_loss + weight * consistency  # Eq. 9
    return {
        "margin": margin,
        "bce": bce,
        "dice": dice,
        "cls": cls,
        "loc": loc,
        "labeled": labeled_loss,
        "cls_consistency": cls_consistency,
        "loc_consistency": loc_consistency,
        "consistency": consistency,
        "loss": total,
    }
