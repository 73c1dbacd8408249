"""The overlay `ssvad detect` writes: the predicted mask tinted on each original frame, its box
and a caption with the class and score."""

from __future__ import annotations

import cv2
import numpy as np

from ssvad_keras.data.geometry import EvalGeometry

TINT_RGB = np.array([0, 220, 90], np.float32)
TINT_ALPHA = 0.45
BOX_RGB = (255, 200, 0)


def probabilities_on_frame(probs: np.ndarray, frame_hw: tuple[int, int], geometry: EvalGeometry | None = None) -> np.ndarray:
    """Model-resolution probabilities placed on the original frame (bilinear), zero outside the
    model's crop.

    Args:
        probs: (H, W) foreground probabilities at the model's resolution.
        frame_hw: the original frame's (height, width).
        geometry: where the model's pixels lie in the frame (`eval_geometry`); None: the whole
            frame was resized to (H, W).

    Returns:
        float32 (height, width).
    """
    height, width = frame_hw
    probs = probs.astype(np.float32)
    if geometry is None:
        return cv2.resize(probs, (width, height), interpolation=cv2.INTER_LINEAR)
    (sy, sx), (oy, ox) = geometry.scale, geometry.offset
    # Frame pixel centre x + 0.5 lies at model coordinate (x + 0.5) / sx - ox; OpenCV samples
    # pixel centres at integers, hence the half-pixel shifts.
    to_model = np.array([[1 / sx, 0, 0.5 / sx - ox - 0.5], [0, 1 / sy, 0.5 / sy - oy - 0.5]], np.float64)
    return cv2.warpAffine(
        probs, to_model, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
    )


def draw_overlay(
    frame: np.ndarray,
    probs: np.ndarray,
    box: np.ndarray | None,
    caption: str,
    mask_threshold: float = 0.5,
    geometry: EvalGeometry | None = None,
) -> np.ndarray:
    """One overlay frame: the mask tinted, its box, and a caption (class and score).

    Args:
        frame: (H0, W0, 3) RGB uint8 original frame.
        probs: (H, W) foreground probabilities at the model's resolution; placed on the frame
            (bilinear, `probabilities_on_frame`) before thresholding, so the tint follows the
            mask's smooth outline.
        box: `[x1, y1, x2, y2]` pixel-inclusive in original pixels, or None.
        caption: text drawn above the box (top left of the frame without a box).
        mask_threshold: foreground probability threshold.
        geometry: where the model's pixels lie in the frame; None: the whole frame.

    Returns:
        (H0, W0, 3) BGR uint8, ready for `cv2.VideoWriter`.

    Example:

    >>> out = draw_overlay(np.zeros((48, 64, 3), np.uint8), np.ones((8, 8)), None, "a 0.9")
    >>> out.shape, bool(out[..., 1].max() > 0)
    ((48, 64, 3), True)
    """
    height, width = frame.shape[:2]
    fg = probabilities_on_frame(probs, (height, width), geometry) >= mask_threshold
    out = frame.astype(np.float32)
    out[fg] = (1.0 - TINT_ALPHA) * out[fg] + TINT_ALPHA * TINT_RGB
    out = cv2.cvtColor(out.astype(np.uint8), cv2.COLOR_RGB2BGR)
    thickness = max(1, round(min(height, width) / 240))
    scale = max(0.3, min(height, width) / 480)
    color = BOX_RGB[::-1]
    if box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        anchor = (x1, y1)
    else:
        anchor = (0, 0)
    (text_w, text_h), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    # Keep the caption inside the frame: above the box when there is room, else inside it.
    x = min(max(anchor[0], 0), max(width - text_w, 0))
    y = anchor[1] - base - 2 if anchor[1] - text_h - base - 2 >= 0 else anchor[1] + text_h + 2
    cv2.rectangle(out, (x, y - text_h - 2), (x + text_w + 2, y + base), (0, 0, 0), cv2.FILLED)
    cv2.putText(out, caption, (x + 1, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)
    return out
