"""Supervised losses on labeled clips: spread (margin) loss, BCE and Dice on mask logits (SPEC 3).

The training step passes `sample_weight = labeled` (1 for labeled clips, 0 for unlabeled), so
each loss equals the same loss computed on the labeled clips alone, and a batch without any
labeled clip gives 0 (never NaN). All math is float32 so mixed precision is safe.

Under `tf.distribute` each replica sees part of the batch and a different number of labeled
clips, so per-replica weighted means do not average to the global one. For an exact global
value: pass `normalizer` (the all-reduced sum of the weights) to `margin_loss` and
`bce_with_logits_loss`, whose per-replica results then sum to the global loss; for Dice,
all-reduce the two sums of `dice_sums` and call `dice_from_sums`.
"""

from __future__ import annotations

from keras import ops


def _as_float32(*tensors):
    return tuple(ops.cast(t, "float32") for t in tensors)


def safe_divide(numerator, denominator):
    """`numerator / denominator`, and 0 where the denominator is 0 (no NaN, no NaN gradient)."""
    nonzero = denominator != 0
    safe = ops.where(nonzero, denominator, ops.ones_like(denominator))
    return ops.where(nonzero, numerator / safe, ops.zeros_like(numerator))


def weighted_mean(values, sample_weight=None, normalizer=None):
    """Weighted mean of per-sample `values` (B,): `sum(w v) / sum(w)`, 0 if all weights are 0.

    `normalizer` replaces the local `sum(w)` (e.g. the weight total over all replicas).
    """
    values = ops.cast(values, "float32")
    weight = ops.ones_like(values)
    if sample_weight is not None:
        weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
    total = ops.sum(weight) if normalizer is None else ops.cast(normalizer, "float32")
    return safe_divide(ops.sum(weight * values), total)


def margin_loss(
    labels_onehot, class_scores, margin: float = 0.2, sample_weight=None, normalizer=None
):
    """Spread (margin) loss on class scores, as in VideoCapsuleNet and the paper's code.

    For each sample with target class t and scores a: `sum_{i != t} max(0, m - (a_t - a_i))^2`,
    then the (weighted) mean over samples. The released code divides by the batch size twice
    (effective weight 1/B); here it is a plain mean and the weight lives in the config
    (`LossConfig.margin_weight`). Samples whose one-hot row is all zeros (no label) contribute
    `sum_i max(0, m + a_i)^2`, so give them weight 0.

    Args:
        labels_onehot: (B, C) one-hot targets.
        class_scores: (B, C) class scores (capsule activations in [0, 1]).
        margin: the margin m, default 0.2.
        sample_weight: optional (B,) weights, e.g. the `labeled` flags.
        normalizer: optional divisor replacing `sum(sample_weight)`, e.g. the number of
            labeled clips in the global batch under `tf.distribute`.

    Returns:
        Scalar float32 loss.

    Example:
    >>> margin_loss(keras.ops.one_hot([1], 3), keras.ops.array([[0.1, 0.5, 0.4]]))  # 0.01
    """
    labels_onehot, class_scores = _as_float32(labels_onehot, class_scores)
    target_score = ops.sum(labels_onehot * class_scores, axis=-1, keepdims=True)
    spread = ops.square(ops.relu(margin - (target_score - class_scores)))
    per_sample = ops.sum((1.0 - labels_onehot) * spread, axis=-1)
    return weighted_mean(per_sample, sample_weight, normalizer)


def _frame_weight(sample_weight, frame_weight, like):
    """(B, T) weights: clip weight times frame weight (all ones where None)."""
    weight = ops.ones_like(like[:, :, 0, 0, 0])
    if sample_weight is not None:
        weight = weight * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
    if frame_weight is not None:
        weight = weight * ops.cast(frame_weight, "float32")
    return weight


def bce_with_logits_loss(
    mask_true, loc_logits, sample_weight=None, frame_weight=None, normalizer=None
):
    """Pixel-wise binary cross-entropy on mask logits, the mean over the counted pixels.

    Numerically stable form `max(x, 0) - x y + log(1 + exp(-|x|))`, averaged over every pixel
    of every counted frame of every counted clip. With 0/1 weights this equals PyTorch's
    `BCEWithLogitsLoss()` (mean) on the selected clips alone; with nothing counted it is 0.

    Args:
        mask_true: (B, T, H, W, 1) ground-truth masks in [0, 1].
        loc_logits: (B, T, H, W, 1) predicted mask logits.
        sample_weight: optional (B,) clip weights, e.g. the `labeled` flags.
        frame_weight: optional (B, T) frame weights, e.g. `frame_valid` to supervise only
            annotated frames of untrimmed videos; None counts every frame (released code).
        normalizer: optional divisor replacing the local count of weighted frames (the sum of
            clip weight x frame weight), e.g. that count over the global batch.

    Returns:
        Scalar float32 loss.

    Example:
    >>> bce_with_logits_loss(mask, logits, sample_weight=batch["labeled"])
    """
    mask_true, loc_logits = _as_float32(mask_true, loc_logits)
    elementwise = (
        ops.relu(loc_logits)
        - loc_logits * mask_true
        + ops.log1p(ops.exp(-ops.abs(loc_logits)))
    )
    # Every frame has the same number of pixels, so the weighted mean of per-frame means is the
    # mean over all counted pixels.
    per_frame = ops.mean(elementwise, axis=(2, 3, 4))
    weight = _frame_weight(sample_weight, frame_weight, loc_logits)
    total = ops.sum(weight) if normalizer is None else ops.cast(normalizer, "float32")
    return safe_divide(ops.sum(weight * per_frame), total)


def dice_sums(mask_true, loc_logits, sample_weight=None, frame_weight=None):
    """The two sums of the Dice loss: `sum(p y)` and `sum(p) + sum(y)` over counted pixels.

    Sums add across replicas, so the training step can all-reduce them and call
    `dice_from_sums` for the exact Dice of the global batch. Arguments as in `dice_loss`.
    """
    mask_true, loc_logits = _as_float32(mask_true, loc_logits)
    probs = ops.sigmoid(loc_logits)
    weight = _frame_weight(sample_weight, frame_weight, loc_logits)
    weight = ops.reshape(weight, (*ops.shape(weight), 1, 1, 1))
    intersection = ops.sum(weight * probs * mask_true)
    total = ops.sum(weight * probs) + ops.sum(weight * mask_true)
    return intersection, total


def dice_from_sums(intersection, total, smooth: float = 1.0):
    """`1 - (2 intersection + s) / (total + s)`, the Dice loss from `dice_sums`."""
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


def dice_loss(mask_true, loc_logits, smooth: float = 1.0, sample_weight=None, frame_weight=None):
    """Dice loss on sigmoid probabilities over the flattened (weighted) batch (SPEC 3).

    `1 - (2 sum(p y) + s) / (sum(p) + sum(y) + s)` with the sums over every pixel of every
    counted clip (one Dice for the whole labeled batch, as the released code computes it, not a
    mean of per-clip Dice). With 0/1 weights it equals the loss on the selected clips alone;
    with nothing counted all sums are 0 and the loss is 1 - s/s = 0.

    Args:
        mask_true: (B, T, H, W, 1) ground-truth masks in [0, 1].
        loc_logits: (B, T, H, W, 1) predicted mask logits.
        smooth: additive smoothing s, default 1.
        sample_weight: optional (B,) clip weights, e.g. the `labeled` flags.
        frame_weight: optional (B, T) frame weights (see `bce_with_logits_loss`).

    Returns:
        Scalar float32 loss.

    Example:
    >>> dice_loss(mask, logits, smooth=1.0, sample_weight=batch["labeled"])
    """
    intersection, total = dice_sums(mask_true, loc_logits, sample_weight, frame_weight)
    return dice_from_sums(intersection, total, smooth)
