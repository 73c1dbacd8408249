"""Ramp-up of the temporal-coherence weight w (paper Sec. 3.3; Laine & Aila 2017)."""

from __future__ import annotations

import math

from keras import ops


def sigmoid_rampup(epoch, ramp_epochs):
    """The "sigmoid-shaped" ramp `exp(-5 (1 - t)^2)`, `t = clip(epoch / ramp_epochs, 0, 1)`.

    Starts at exp(-5) ~ 0.0067 at epoch 0 and reaches 1 at `ramp_epochs` (and stays there). The
    released code ramps over the whole run (`ramp_epochs` = total epochs), which is what
    `LossConfig.ramp_epochs = None` means; resolve it before calling.

    Args:
        epoch: current epoch (0-based, may be fractional); a Python number or a scalar tensor.
        ramp_epochs: length of the ramp in epochs; 0 or less means no ramp (always 1).

    Returns:
        A Python float for Python inputs, otherwise a float32 scalar tensor.

    Example:
    >>> sigmoid_rampup(50, 100)  # exp(-1.25) = 0.2865
    """
    if ramp_epochs <= 0:
        return 1.0
    if isinstance(epoch, (int, float)):
        t = min(max(epoch / ramp_epochs, 0.0), 1.0)
        return math.exp(-5.0 * (1.0 - t) ** 2)
    t = ops.clip(ops.cast(epoch, "float32") / float(ramp_epochs), 0.0, 1.0)
    return ops.exp(-5.0 * ops.square(1.0 - t))
