"""Frame geometry: stored frame -> resized frame -> the model's crop, and back.

The paper trains and evaluates on 224x224 crops of 240x320 UCF101-24 frames: the crop covers
224/240 = 93.3 % of the height and 224/320 = 70 % of the width, 65.3 % of the area. A smaller
preset on the same frames (64x64 crops) would see about 5 % of the frame if the frames kept
their size, so `DataConfig.resize_to = "auto"` (the default) first resizes every frame, keeping
its aspect ratio, until the crop covers the paper's share of its area:

    k = sqrt(crop_h * crop_w / (PAPER_CROP_AREA_SHARE * stored_h * stored_w))
    resized = round(k * stored_h), round(k * stored_w)

raised where needed so the crop still fits on both axes. 240x320 with a 64 crop gives 69x91
(the crop covers 93 % x 70 %); with a 224 crop it gives 240x320, the paper unchanged; on a square
frame the crop covers sqrt(0.653) = 81 % of each side. `"stored"` keeps the stored size and
`[h, w]` resizes to exactly that. A configuration whose crop covers less than half of the
(resized) frame's area is refused unless `data.allow_partial_crop` is set.

The same rule serves the training clips, the evaluation clips (`eval_geometry` maps their pixels
back to the original video) and `ssvad detect`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ssvad_keras.errors import ConfigError

if TYPE_CHECKING:
    from ssvad_keras.config import DataConfig
    from ssvad_keras.data.manifest import Manifest

# The paper's geometry (SPEC 1.2): 224x224 crops of 240x320 frames.
PAPER_FRAME_HW = (240, 320)
PAPER_CROP = 224
PAPER_CROP_AREA_SHARE = PAPER_CROP * PAPER_CROP / (PAPER_FRAME_HW[0] * PAPER_FRAME_HW[1])
# Below this share of the frame's area a crop needs `data.allow_partial_crop`.
MIN_CROP_AREA_SHARE = 0.5


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def resolve_resize(
    stored_hw: Sequence[int], input_size: Sequence[int], resize_to: str | Sequence[int] | None
) -> tuple[int, int]:
    """The (height, width) frames are resized to before the crop (see the module docstring).

    Args:
        stored_hw: (height, width) the frames are stored at.
        input_size: the model's input (crop) (height, width).
        resize_to: `DataConfig.resize_to`: "auto", "stored" (None means the same, as in run
            configs written before "auto" existed) or an explicit (height, width).

    Returns:
        (height, width) as ints.

    Example:
    >>> resolve_resize((240, 320), (64, 64), "auto"), resolve_resize((240, 320), (224, 224), "auto")
    ((69, 91), (240, 320))
    """
    stored_h, stored_w = (int(v) for v in stored_hw)
    if resize_to is None or resize_to == "stored":
        return stored_h, stored_w
    if resize_to != "auto":
        height, width = (int(v) for v in resize_to)
        return height, width
    crop_h, crop_w = (int(v) for v in input_size)
    scale = math.sqrt(crop_h * crop_w / (PAPER_CROP_AREA_SHARE * stored_h * stored_w))
    # A frame much wider (or taller) than the crop cannot reach the paper's share on both axes:
    # grow it until the crop fits, aspect ratio kept.
    scale = max(scale, crop_h / stored_h, crop_w / stored_w)
    return (
        max(_round_half_up(scale * stored_h), crop_h),
        max(_round_half_up(scale * stored_w), crop_w),
    )


def crop_coverage(resized_hw: Sequence[int], input_size: Sequence[int]) -> tuple[float, float]:
    """Share of the resized frame's height and width that the crop covers (each 0..1 when the
    crop fits)."""
    return input_size[0] / resized_hw[0], input_size[1] / resized_hw[1]


def check_geometry(
    stored_hw: Sequence[int] | None,
    data_cfg: DataConfig,
    mode: str,
    path: str | os.PathLike | None = None,
) -> None:
    """Refuse a crop that does not fit the (resized) frame, or covers under half of its area.

    Args:
        stored_hw: stored (height, width); None when unknown (then only "stored", unchecked, or
            an explicit `resize_to` can be used).
        data_cfg: the data section.
        mode: the crop mode checked ("random", "center" or "resize"); "resize" always fits.
        path: the file the frames come from (a dataset's manifest, a video), for the message.

    Raises:
        ConfigError: one line naming `data.resize_to` and `data.allow_partial_crop`.
    """
    if mode == "resize":
        return
    crop = tuple(int(v) for v in data_cfg.input_size)
    if stored_hw is None:
        if data_cfg.resize_to == "auto":
            raise ConfigError(
                "no frame_size is recorded, so data.resize_to = \"auto\" cannot be resolved; set "
                "data.resize_to to [height, width] or \"stored\"",
                path,
            )
        if data_cfg.resize_to in (None, "stored"):
            return
    resized = resolve_resize(stored_hw or (0, 0), crop, data_cfg.resize_to)
    frame = f"the {_hw(resized)} frame ({_resize_source(data_cfg)})"
    if resized[0] < crop[0] or resized[1] < crop[1]:
        raise ConfigError(
            f"data.input_size {_hw(crop)} is larger than {frame}; set data.resize_to (\"auto\" "
            "resizes to fit) or a 'resize' crop",
            path,
        )
    cover_h, cover_w = crop_coverage(resized, crop)
    if cover_h * cover_w < MIN_CROP_AREA_SHARE and not data_cfg.allow_partial_crop:
        raise ConfigError(
            f"the {_hw(crop)} crop covers {cover_h * cover_w:.0%} of {frame}, under "
            f"{MIN_CROP_AREA_SHARE:.0%}: set data.resize_to = \"auto\" (the paper's "
            f"{PAPER_CROP_AREA_SHARE:.0%}) or [height, width], or data.allow_partial_crop = true",
            path,
        )


def _resize_source(data_cfg: DataConfig) -> str:
    if data_cfg.resize_to in (None, "stored"):
        return "stored size"
    if data_cfg.resize_to == "auto":
        return "resize_to auto"
    return "data.resize_to"


def _hw(hw: Sequence[int]) -> str:
    return f"{int(hw[0])}x{int(hw[1])}"


def describe_geometry(source: Manifest | Sequence[int] | None, data_cfg: DataConfig) -> str:
    """One line saying how frames become model inputs, for the logs of train/evaluate/detect.

    Args:
        source: a dataset `Manifest` (its `frame_size`), a stored (height, width), or None when
            the stored size is unknown.
        data_cfg: the data section.

    Returns:
        e.g. "geometry: stored 240x320 -> resized 69x91 -> crop 64x64 (train: random, eval:
        center; crop covers 93% x 70% of the frame)".

    Example:
    >>> from ssvad_keras.config import DataConfig
    >>> describe_geometry((240, 320), DataConfig(input_size=(64, 64)))
    'geometry: stored 240x320 -> resized 69x91 -> crop 64x64 (train: random, eval: center; crop covers 93% x 70% of the frame)'
    """
    stored = getattr(source, "frame_size", source)
    crop = tuple(int(v) for v in data_cfg.input_size)
    modes = f"train: {data_cfg.train_crop}, eval: {data_cfg.eval_crop}"
    if data_cfg.train_crop == "resize" and data_cfg.eval_crop == "resize":
        shown = "?" if stored is None else _hw(stored)
        return f"geometry: stored {shown} -> resized {_hw(crop)} ({modes}; the whole frame)"
    if stored is None:
        if data_cfg.resize_to in (None, "stored"):
            return f"geometry: stored size per video (not resized) -> crop {_hw(crop)} ({modes})"
        if data_cfg.resize_to == "auto":
            return f"geometry: stored size unknown -> resized auto -> crop {_hw(crop)} ({modes})"
        stored_text, resized = "size unknown", resolve_resize((0, 0), crop, data_cfg.resize_to)
    else:
        stored_text, resized = _hw(stored), resolve_resize(stored, crop, data_cfg.resize_to)
    step = "(not resized)" if stored is not None and resized == tuple(stored) else f"-> resized {_hw(resized)}"
    cover_h, cover_w = crop_coverage(resized, crop)
    cover = f"crop covers {cover_h:.0%} x {cover_w:.0%} of the frame"
    if "resize" in (data_cfg.train_crop, data_cfg.eval_crop):
        cover += ", 'resize' sees it whole"
    return f"geometry: stored {stored_text} {step} -> crop {_hw(crop)} ({modes}; {cover})"


@dataclass(frozen=True)
class EvalGeometry:
    """Maps model-resolution pixel coordinates back to original-resolution pixels.

    Continuous coordinates (pixel j spans [j, j + 1)): `original = (model + offset) * scale`,
    per axis.

    Attributes:
        scale: (sy, sx) original pixels per resized pixel.
        offset: (oy, ox) crop offset in resized pixels.
    """

    scale: tuple[float, float]
    offset: tuple[float, float]

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """Map (..., 4) continuous boxes [x1, y1, x2, y2] from model to original pixels."""
        boxes = np.asarray(boxes, np.float32)
        sy, sx = self.scale
        oy, ox = self.offset
        mul = np.array([sx, sy, sx, sy], np.float32)
        add = np.array([ox, oy, ox, oy], np.float32)
        return (boxes + add) * mul

    def to_original_inclusive(self, boxes: np.ndarray) -> np.ndarray:
        """Map (N, 4) pixel-inclusive boxes [x1, y1, x2, y2] (x2, y2 the last pixel) from model
        to original pixels: the one box mapping of evaluation, detection and `box_scaler`.

        The inclusive box `x1..x2` is the continuous span `x1..x2 + 1`; it is mapped with
        `to_original` and loses one original pixel at its end again. Frames resized up (scale
        below 1) map a one-pixel box to less than one original pixel: the box is kept non-empty
        (x2 >= x1) rather than inverted.

        Example:
        >>> EvalGeometry(scale=(8.0, 8.0), offset=(1.0, 6.0)).to_original_inclusive([[0, 0, 0, 0]]).tolist()
        [[48.0, 8.0, 55.0, 15.0]]
        """
        end = np.array([0.0, 0.0, 1.0, 1.0])
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        mapped = self.to_original(boxes + end).astype(np.float64) - end
        mapped[:, 2:] = np.maximum(mapped[:, 2:], mapped[:, :2])
        return mapped


def eval_geometry(
    stored_hw: Sequence[int],
    orig_hw: Sequence[int],
    input_size: Sequence[int],
    crop: str,
    resize_to: str | Sequence[int] | None = "stored",
) -> EvalGeometry:
    """The scale and offset of `eval_clip_dataset`'s frames relative to the original video.

    Args:
        stored_hw: (height, width) frames are stored at.
        orig_hw: original (height, width).
        input_size: model input (height, width).
        crop: "center" or "resize" (`DataConfig.eval_crop`).
        resize_to: `DataConfig.resize_to` ("auto", "stored"/None, or (height, width)).

    Returns:
        The `EvalGeometry`.

    Example:
    >>> g = eval_geometry((240, 320), (240, 320), (224, 224), "center")
    >>> g.to_original([0, 0, 224, 224]).tolist()
    [48.0, 8.0, 272.0, 232.0]
    """
    if crop == "resize":
        resized, offset = tuple(input_size), (0, 0)
    elif crop == "center":
        resized = resolve_resize(stored_hw, input_size, resize_to)
        # Same integer centring as `record_decoder.crop_window`.
        offset = ((resized[0] - input_size[0]) // 2, (resized[1] - input_size[1]) // 2)
    else:
        raise ConfigError(f"unknown eval crop {crop!r} (expected 'center' or 'resize')")
    scale = (orig_hw[0] / resized[0], orig_hw[1] / resized[1])
    return EvalGeometry(scale=(float(scale[0]), float(scale[1])), offset=(float(offset[0]), float(offset[1])))


def log_geometry(source: Manifest | Sequence[int] | None, data_cfg: DataConfig) -> None:
    """Print `describe_geometry(source, data_cfg)` as one line to stderr (stdout stays clean for
    JSON reports)."""
    from ssvad_keras.progress import stderr_console

    stderr_console.print(describe_geometry(source, data_cfg), markup=False, highlight=False, soft_wrap=True)
