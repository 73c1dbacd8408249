"""Configuration of VOS transfer runs: the action detector's sections, composed with VOS ones.

A VOS config reuses `ModelConfig` (the encoder and decoder sizes, so action-detection weights
fit), `LossConfig` (its localization terms: BCE, Dice, plain L2, temporal coherence, gradient
smoothness and their weights; the classification terms have no meaning without classes and
are not used) and `TrainConfig` (as `VosTrainConfig`: optimiser, plateau schedule, epochs, seed, semi-supervised
switch). Its own sections hold what only VOS needs:

- `data` (`VosDataConfig`): clip length and input size, clips per batch, the labeled fraction
  and the validation share of the training videos;
- `train` (`VosTrainConfig`): `TrainConfig` selecting checkpoints on validation J&F;
- `vos` (`VosSettings`): the initialisation (`--init`), the merge threshold, the batch size of
  prediction.

A model preset (`tiny`, `small`, `paper`) contributes its `[model]` section and its clip length
and input size; its frame skip does not apply: VOS clips are consecutive stored frames (YouTube-
VOS already stores every 5th frame), because every stored frame needs a prediction.

    from ssvad_keras.vos.config import load_vos_config
    cfg = load_vos_config("configs/vos/semi_supervised_10.toml", preset="tiny")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ssvad_keras.config import (
    LossConfig,
    ModelConfig,
    TrainConfig,
    _read_toml,
    _validated,
    _with_overrides,
    config_from_sources,
    configs_dir,
    preset_path,
)

# Checkpoint-selection metrics a VOS run logs on its validation videos.
SelectMetric = Literal["val_jf", "val_j", "val_f"]
# What a model preset contributes to a VOS config.
_PRESET_DATA_KEYS = ("clip_length", "input_size")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VosDataConfig(_Section):
    """Clips and batches of VOS training (consecutive stored frames)."""

    clip_length: int = Field(8, ge=2, description="Frames per clip (T); the first is the reference.")
    input_size: tuple[int, int] = Field((224, 224), description="Model input (height, width).")
    labeled_per_batch: int = Field(4, ge=1, description="Labeled clips per batch.")
    unlabeled_per_batch: int = Field(4, ge=0, description="Unlabeled clips per batch (semi-supervised).")
    labeled_fraction: float = Field(0.1, gt=0.0, le=1.0, description="Share of training videos labeled.")
    val_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Share of training videos held out to select checkpoints."
    )
    max_val_videos: int = Field(20, ge=1, description="At most this many of them are scored per epoch.")
    hflip: bool = Field(True, description="The augmented view is the horizontally flipped clip.")
    mask_resize: Literal["nearest", "area"] = Field(
        "nearest",
        description="How training clips' reference and target masks are resized to the input: "
        "'nearest' (OpenCV's nearest neighbour: binary, but displaced by up to a third of a "
        "pixel at 72x96 -> 64x64, since it samples floor(i * scale)) or 'area' (the share of "
        "each pixel the object covers: soft, in place, as prediction resizes the given mask).",
    )
    labeled_strides: list[Annotated[int, Field(ge=1)]] = Field(
        [1],
        min_length=1,
        description="Frame strides of labeled clips, each giving its own set of clips: 1 plays "
        "consecutive stored frames (as prediction does; with annotations on every 5th stored "
        "frame, an 8-frame clip has one target, its 6th frame); 5 plays every 5th stored frame, "
        "so every frame after the reference is a target (and objects move 5x as fast).",
    )


class VosTrainConfig(TrainConfig):
    """`TrainConfig` with the VOS validation: J&F of the held-out training videos."""

    validate_every: int = Field(1, ge=1, description="Epochs between validations (and the last one).")
    select_metric: SelectMetric = Field(
        "val_jf", description="Checkpoint selection: validation J&F, J or F (higher is better)."
    )


class VosSettings(_Section):
    """Initialisation and prediction."""

    init: Path | None = Field(
        None,
        description="Action-detection run folder or .keras detector (encoder + decoder), or "
        "converted I3D weights (encoder); None starts from random weights.",
    )
    freeze_batch_norm: bool = Field(
        True,
        description="The encoder's BatchNorm layers run in inference mode and are not trained "
        "(moving statistics and scale/offset as initialised): trained on batch statistics of a "
        "few clips, the tiny VOS model fit 4 clips in training mode (IoU 0.81-0.94) and scored "
        "0.00-0.50 on the same clips in inference mode; frozen, 0.93-0.99 (docs/vos.md).",
    )
    reference_prior: float = Field(
        2.0,
        description="Initial scale a of the reference prior a (2 m - 1) added to every frame's "
        "logits (m: the reference mask): 2 starts training from copying the reference, 0 leaves "
        "the location to the decoder. The scale is learned; a saved model keeps its value.",
    )
    readout: Literal["prototype", "matching"] = Field(
        "prototype",
        description="How the reference mask reaches the clip's frames in the decoder: "
        "'prototype' tiles it over time (the decoder also sees each position's cosine "
        "similarity to the mean feature under it); 'matching' carries it to every frame by "
        "RGB pixel matching with the clip's first frame (label propagation, "
        "`MatchingReadout`) and the decoder and its prior start from that (docs/vos.md).",
    )
    matching_stride: int = Field(2, ge=1, description="Matching readout: input pixels per grid cell.")
    matching_radius: float = Field(
        8.0, gt=0.0, description="Matching readout: largest displacement matched, in grid cells."
    )
    matching_topk: int = Field(16, ge=1, description="Matching readout: matches kept per position.")
    matching_temperature: float = Field(
        0.01, gt=0.0, description="Matching readout: softmax temperature on squared RGB distances."
    )
    matching_keys: Literal["rgb", "learned"] = Field(
        "rgb",
        description="Matching readout: the features matched. 'rgb': the frames' colours, no "
        "weights (the readout is fixed). 'learned': the colours and `matching_key_channels` "
        "learned channels (a 3x3 convolution of each frame), each weighted in the distance by "
        "a learned weight started at 1 for RGB and 0 for the rest, so training starts from the "
        "RGB readout and the mask losses reach the features through the affinity's softmax.",
    )
    matching_key_channels: int = Field(
        8, ge=1, description="Matching readout, learned keys: learned channels next to RGB."
    )
    correction_gate: float | None = Field(
        None,
        description="Given, the decoder's output is a gated residual of its prior: logits = "
        "a (2 p - 1) + g * decoder, the scalar g learned and started at this value (0: the "
        "untrained model predicts the readout's mask exactly). None: no gate (g = 1), as "
        "models saved before the option.",
    )
    zero_mean_correction: bool = Field(
        False,
        description="The decoder's output less its mean over each frame before it is added to "
        "the prior: no frame-wide logit offset (a threshold shift of the readout), which the soft "
        "Dice and BCE on one supervised frame position trained and new videos paid for.",
    )
    given_mask_resize: Literal["area", "nearest"] = Field(
        "area",
        description="Prediction: how each object's given first-appearance mask is resized to the "
        "model's input for its first clip. 'area' keeps soft boundary values; 'nearest' gives "
        "the binary mask a training clip's reference is (`make_clip`) and every later clip's "
        "thresholded reference is. On single valid clips a decoder trained 4x the bench's steps "
        "lost 1-3 points of IoU on soft references; in full prediction it changed nothing, and "
        "the untrained readout gained 0.9 J&F with binary ones (docs/vos.md, 2026-12-02 later).",
    )
    mask_threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="Background wins where every object's probability is below."
    )
    predict_batch_size: int = Field(8, ge=1, description="Clips per forward pass at prediction.")
    run_eagerly: bool = Field(
        False,
        description="Train and validate without compiling the step into a graph. Tracing the "
        "step costs about a minute on a busy 2-core CPU, more than a few eager steps: for tests "
        "and debugging, not for real runs.",
    )


class VosConfig(_Section):
    """Everything one VOS run needs."""

    name: str = "vos"
    preset: str | None = None
    data: VosDataConfig = VosDataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: VosTrainConfig = VosTrainConfig()
    vos: VosSettings = VosSettings()

    @model_validator(mode="after")
    def _check(self) -> VosConfig:
        # The VOS trainer is the paper's one-network two-view method ("pi").
        if getattr(self.train, "method", "pi") != "pi":
            raise ValueError("train.method: VOS training implements the paper's two-view method ('pi')")
        if self.train.strategy != "none":
            raise ValueError("train.strategy: VOS training runs on one device ('none')")
        return self


def vos_configs_dir() -> Path:
    """The installed `configs/vos/` folder."""
    return configs_dir() / "vos"


def _preset_tree(name: str) -> dict[str, Any]:
    raw = _read_toml(preset_path(name))
    data = {k: v for k, v in raw.get("data", {}).items() if k in _PRESET_DATA_KEYS}
    return {"model": raw.get("model", {}), "data": data, "preset": name}


def override_vos_config(config: VosConfig, overrides: dict[str, Any]) -> VosConfig:
    """`config` with dotted overrides applied and validated.

    Raises:
        ConfigError: one line naming the field and the problem.
    """
    return _validated(_with_overrides(config.model_dump(), overrides), "<overrides>", VosConfig)


def load_vos_config(
    path: str | Path | Sequence[str | Path] | None = None,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> VosConfig:
    """Build a `VosConfig` from files, a model preset and dotted overrides (in that order).

    Args:
        path: a TOML file (may name `preset` and `base`), several merged in order, or None.
        preset: a model preset; applied over the files' own, under `overrides`.
        overrides: dotted keys, e.g. `{"train.epochs": 3, "data.labeled_fraction": 0.1}`; None
            values are ignored.

    Raises:
        ConfigError: one line naming the file, the field and the problem.
    """
    return config_from_sources(VosConfig, path, preset, overrides, _preset_tree)
