"""Consistency losses between a clip and its augmented view (paper Eq. 1-6, SPEC 3).

They apply to every clip of the batch, labeled or not. `aug_*` tensors are the augmented view's
outputs already mapped back to the original view's geometry (the flip undone). The attention
masks come from `ssvad_keras.losses.attention` and carry no gradient; the gradient flows through
both views' predictions in the squared difference, as in the paper's pi-model formulation.
"""

from __future__ import annotations

from keras import ops

from ssvad_keras.losses.attention import gradient_smoothness_mask, temporal_variance_mask


def jsd_loss(features, aug_features, eps: float = 1e-8):
    """Classification consistency: Jensen-Shannon divergence of class distributions (Eq. 1).

    At every grid position the class activations (B, h, w, C) of each view are turned into a
    distribution over the C classes, `p = (f + eps) / sum_c (f + eps)` (activations are
    non-negative capsule activations; negative values are clipped to 0, and `eps` keeps an
    all-zero position a uniform distribution rather than 0/0). Then
    `JSD = 0.5 KL(p || m) + 0.5 KL(q || m)` with `m = (p + q) / 2` (natural log, so in [0, ln 2]),
    averaged over grid positions and the batch. The released code declared this loss but never
    applied it; Table 1 of the paper reports its effect.

    Args:
        features: (B, h, w, C) class activations of the clip.
        aug_features: (B, h, w, C) class activations of the augmented view, mapped back.
        eps: smoothing added to activations and inside the logarithms.

    Returns:
        Scalar float32 loss.

    Example:
    >>> jsd_loss(outputs["features"], aug_outputs["features"])
    """
    features = ops.relu(ops.cast(features, "float32")) + eps
    aug_features = ops.relu(ops.cast(aug_features, "float32")) + eps
    p = features / ops.sum(features, axis=-1, keepdims=True)
    q = aug_features / ops.sum(aug_features, axis=-1, keepdims=True)
    log_m = ops.log(0.5 * (p + q))
    divergence = 0.5 * ops.sum(p * (ops.log(p) - log_m) + q * (ops.log(q) - log_m), axis=-1)
    return ops.mean(divergence)


def _squared_difference(loc_logits, aug_loc_logits, on_probabilities: bool):
    loc_logits = ops.cast(loc_logits, "float32")
    aug_loc_logits = ops.cast(aug_loc_logits, "float32")
    if on_probabilities:
        return ops.square(ops.sigmoid(loc_logits) - ops.sigmoid(aug_loc_logits))
    return ops.square(loc_logits - aug_loc_logits)


def consistency_l2(loc_logits, aug_loc_logits, on_probabilities: bool = False):
    """Plain spatio-temporal consistency: mean squared difference of the two views (Eq. 2).

    Args:
        loc_logits: (B, T, H, W, 1) mask logits of the clip.
        aug_loc_logits: (B, T, H, W, 1) mask logits of the augmented view, mapped back.
        on_probabilities: compare sigmoid probabilities instead of logits (the released code
            compares logits).

    Returns:
        Scalar float32 loss, the mean over every pixel of every clip.

    Example:
    >>> consistency_l2(outputs["loc_logits"], aug_outputs["loc_logits"])
    """
    return ops.mean(_squared_difference(loc_logits, aug_loc_logits, on_probabilities))


def temporal_coherence_loss(
    loc_logits,
    aug_loc_logits,
    ramp_weight,
    window: int = 5,
    cyclic: bool = True,
    on_probabilities: bool = False,
    *,
    plain_l2: bool = True,
    mask_gain: float = 1.0,
    compare_probabilities: bool = False,
):
    """Temporal-coherence consistency: variance attention on the L2 (Eq. 3), ramped by w.

    `w * gain * mean(M_var * d) + (1 - w) * mean(d)` with `d` the squared difference of the two
    views and `M_var` = `temporal_variance_mask` (Eq. 4, no gradient). The `(1 - w)` plain term
    is dropped when `plain_l2` is False (Table 2 rows without "L2"). The released code adds the
    same cyclic mask twice (its "clockwise" and "anticlockwise" masks are equal), i.e.
    `mask_gain = 2`.

    Args:
        loc_logits: (B, T, H, W, 1) mask logits of the clip.
        aug_loc_logits: (B, T, H, W, 1) mask logits of the augmented view, mapped back.
        ramp_weight: w in [0, 1], see `sigmoid_rampup` (Python float or scalar tensor).
        window: frames in the variance window, 3 or 5.
        cyclic: cyclic variance through the augmented view (Table 2 "VC") or within the clip
            ("V").
        on_probabilities: compute the variance mask on sigmoid probabilities instead of logits.
        plain_l2: keep the `(1 - w)` non-attentive L2 term.
        mask_gain: multiplier on the attentive term.
        compare_probabilities: square the difference of probabilities instead of logits.

    Returns:
        Scalar float32 loss.

    Example:
    >>> temporal_coherence_loss(logits, aug_logits, ramp_weight=0.5, window=5, cyclic=True)
    """
    loc_logits = ops.cast(loc_logits, "float32")
    aug_loc_logits = ops.cast(aug_loc_logits, "float32")
    mask_source, aug_mask_source = loc_logits, aug_loc_logits
    if on_probabilities:
        mask_source, aug_mask_source = ops.sigmoid(loc_logits), ops.sigmoid(aug_loc_logits)
    mask = temporal_variance_mask(mask_source, aug_mask_source, window=window, cyclic=cyclic)
    difference = _squared_difference(loc_logits, aug_loc_logits, compare_probabilities)
    w = ops.cast(ramp_weight, "float32")
    loss = w * mask_gain * ops.mean(mask * difference)
    if plain_l2:
        loss = loss + (1.0 - w) * ops.mean(difference)
    return loss


def gradient_smoothness_loss(
    loc_logits,
    aug_loc_logits,
    lower: float | None = None,
    upper: float | None = None,
    *,
    plain_l2: bool = False,
    compare_probabilities: bool = False,
):
    """Gradient-smoothness consistency: second-derivative attention on the L2 (Eq. 5), no ramp.

    `mean(M_grad * d)` with `d` the squared difference of the two views and `M_grad` =
    `gradient_smoothness_mask(sigmoid(loc_logits))` (Eq. 6, from the clip's own prediction, no
    gradient). Each clip is weighted by its own mask; the released code broadcasts the batch of
    masks against every sample. `plain_l2` adds `mean(d)` (Table 2 "G + L2").

    Args:
        loc_logits: (B, T, H, W, 1) mask logits of the clip.
        aug_loc_logits: (B, T, H, W, 1) mask logits of the augmented view, mapped back.
        lower: probabilities below this are set to 0 before the derivative; None disables.
        upper: probabilities above this are set to 1 before the derivative; None disables.
        plain_l2: add the non-attentive L2 term.
        compare_probabilities: square the difference of probabilities instead of logits.

    Returns:
        Scalar float32 loss.

    Example:
    >>> gradient_smoothness_loss(logits, aug_logits, lower=None, upper=None)
    """
    loc_logits = ops.cast(loc_logits, "float32")
    mask = gradient_smoothness_mask(ops.sigmoid(loc_logits), lower=lower, upper=upper)
    difference = _squared_difference(loc_logits, aug_loc_logits, compare_probabilities)
    loss = ops.mean(mask * difference)
    if plain_l2:
        loss = loss + ops.mean(difference)
    return loss
