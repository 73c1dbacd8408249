"""Experiment configuration: pydantic models for data, model, losses, training and evaluation.

One source of truth for every hyper-parameter. Files in `configs/` are TOML; a file may name a
`preset` (a model preset in `configs/presets/`) and/or `base` (another config file it extends).
Precedence, lowest first: the preset (the file's own, or the one given separately, e.g.
`ssvad train --preset tiny`, which replaces the file's), the file's `base` chain, the file's own
values, then values from the command line. So `--preset tiny --config experiments/pi.toml`
trains the tiny model with pi.toml's method, whatever the tiny preset's own method is. Every error names the file, the field and the problem
in one line.

    from ssvad_keras.config import load_config
    cfg = load_config("configs/experiments/ucf101_full.toml", overrides={"train.epochs": 5})
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ssvad_keras.errors import ConfigError

# A config class (`ExperimentConfig`, `VosConfig`) in the generic loaders.
_ConfigT = TypeVar("_ConfigT", bound=BaseModel)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StrongAugmentConfig(_Section):
    """The student's strong view of a mean-teacher run (`ssvad_keras.data.strong_augment`).

    Photometric only, drawn per clip (the same for every frame), applied inside the train step
    to the weak view's pixels, so both views share the crop, flip and frame order. Defaults are
    Stable Mean Teacher's (Kumar et al., AAAI 2025).
    """

    jitter_probability: float = Field(
        0.3, ge=0.0, le=1.0,
        description="Per clip, chance of each of brightness, contrast, saturation and hue jitter.",
    )
    jitter_range: tuple[float, float] = Field(
        (0.6, 1.4), description="Brightness, contrast and saturation factors are drawn uniformly in this range."
    )
    hue_delta: float = Field(0.1, ge=0.0, le=0.5, description="Hue shift drawn in [-hue_delta, hue_delta] (of a full turn).")
    grayscale_probability: float = Field(0.4, ge=0.0, le=1.0)
    blur_probability: float = Field(0.5, ge=0.0, le=1.0)
    blur_sigma: tuple[float, float] = Field(
        (0.1, 2.0), description="Gaussian blur sigma in pixels, drawn uniformly (SimCLR's range)."
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> StrongAugmentConfig:
        lo, hi = self.jitter_range
        if not 0.0 <= lo <= hi:
            raise ValueError("jitter_range must be [low, high] with 0 <= low <= high")
        if not 0.0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError("blur_sigma must be [low, high] with 0 < low <= high")
        return self


class AugmentConfig(_Section):
    """The augmented view: invertible spatial/temporal transforms plus photometric jitter."""

    hflip: bool = Field(True, description="Flip the augmented view horizontally (the paper's view).")
    time_reverse: bool = Field(False, description="Reverse the augmented view in time.")
    probability: float = Field(
        1.0, ge=0.0, le=1.0,
        description="Per clip, chance that each enabled invertible transform is applied "
        "(drawn independently; 1.0 = always, as the paper flips every augmented view).",
    )
    brightness: float = Field(0.0, ge=0.0, le=1.0, description="Max brightness shift (x255 units / 255).")
    contrast: float = Field(0.0, ge=0.0, le=1.0, description="Max relative contrast change.")
    strong: StrongAugmentConfig = Field(
        StrongAugmentConfig(), description="The student's strong view (train.method = 'mean_teacher')."
    )


class DataConfig(_Section):
    """Clip sampling and batching (SPEC 1.2)."""

    clip_length: int = Field(8, ge=2, description="Frames per clip (T).")
    frame_skip: int = Field(2, ge=1, description="Temporal stride between sampled frames.")
    input_size: tuple[int, int] = Field((224, 224), description="Model input (height, width).")
    resize_to: Literal["auto", "stored"] | tuple[int, int] = Field(
        "auto",
        description="Size frames are resized to before cropping: 'auto' keeps the aspect ratio and "
        "makes the crop cover the paper's share of the frame (224 of 240x320: 65% of the area; "
        "docs/method.md, Frame geometry), 'stored' keeps the stored size, or [height, width].",
    )
    allow_partial_crop: bool = Field(
        False,
        description="Accept a crop that covers less than half of the (resized) frame's area; "
        "refused otherwise, since ground truth outside the crop is never trained or evaluated.",
    )
    train_crop: Literal["random", "center", "resize"] = "random"
    eval_crop: Literal["center", "resize"] = "center"
    eval_padding: Literal["zeros", "repeat"] = Field(
        "zeros",
        description="What fills the last window's clips past a video's end at evaluation, "
        "validation and detection (their predictions are never scored): 'zeros', the paper's "
        "protocol (SPEC 5.1), or 'repeat', the video's last frame, which is what training shows "
        "past the end, so the real frames of those clips are decoded from a normal-looking clip.",
    )
    labeled_per_batch: int = Field(4, ge=1)
    unlabeled_per_batch: int = Field(4, ge=0)
    shuffle_buffer: int = Field(256, ge=1)
    end_clip_probability: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of training clips cut at a video's end as evaluation cuts them: 1 to "
        "T-1 real frames, zero padding after (SPEC 5.1). 0 = the paper's sampling, which never "
        "shows the model a padded clip.",
    )
    augment: AugmentConfig = AugmentConfig()

    @field_validator("resize_to", mode="before")
    @classmethod
    def _stored_when_none(cls, value: Any) -> Any:
        # Run configs written before "auto" existed say None for the stored size.
        return "stored" if value is None else value

    @field_validator("resize_to")
    @classmethod
    def _positive_size(cls, value: Any) -> Any:
        if isinstance(value, tuple) and min(value) < 1:
            raise ValueError("resize_to must be 'auto', 'stored' or [height, width] of positive sizes")
        return value

    @property
    def batch_size(self) -> int:
        return self.labeled_per_batch + self.unlabeled_per_batch


class ModelConfig(_Section):
    """The capsule detector (SPEC 2). Presets in `configs/presets/` fill this section.

    Every field but those in `WEIGHT_FIELDS` is architecture: `VideoCapsuleDetector` takes it,
    stores it and saves it in its `.keras` archive without naming it, so a new option is one
    field here plus the code that uses it.
    """

    # Fields that say which weights `build_detector` loads into a fresh model, not what it is.
    WEIGHT_FIELDS: ClassVar[tuple[str, ...]] = ("encoder_weights", "pretrained_parts")

    encoder_variant: Literal["ssl", "original"] = Field(
        "ssl", description="'ssl': the paper code's strides (28x28 grid); 'original': unmodified I3D."
    )
    encoder_width: float = Field(1.0, gt=0.0, le=1.0, description="Channel multiplier on I3D.")
    encoder_weights: str | None = Field(
        None,
        description="Weights loaded into the fresh model: a converted I3D file (`ssvad convert-weights`), "
        "a file written by `ssvad pretrain`, `builtin:NAME` for weights this package ships "
        "(`builtin:tiny`, the tiny preset's default), or \"none\" (unset) to train from scratch.",
    )
    pretrained_parts: tuple[Literal["encoder", "primary_capsules", "decoder"], ...] = Field(
        ("encoder", "primary_capsules", "decoder"),
        description="The parts loaded from a file written by `ssvad pretrain` (a converted I3D file "
        "holds the encoder only).",
    )

    @field_validator("encoder_weights", mode="before")
    @classmethod
    def _weights_path_as_text(cls, value):
        # Paths from Python callers are accepted; the config keeps the text a TOML file would hold.
        return str(value) if isinstance(value, Path) else value

    encoder_dropout: float = Field(0.5, ge=0.0, lt=1.0)
    pixel_range: Literal["0_1", "-1_1"] = Field(
        "0_1",
        description="Range the detector maps its [0, 1] input clips to before the encoder; the "
        "released code feeds [0, 1] although I3D was trained on [-1, 1] (SPEC 1.2).",
    )
    primary_kernel: int = Field(9, ge=1)
    primary_types: int = Field(32, ge=1)
    pose_size: int = Field(4, ge=2, description="Capsule poses are pose_size x pose_size matrices.")
    routing: Literal["em_released", "em", "dynamic"] = Field(
        "em_released",
        description="'em_released': EM as the paper's code computes it; 'em': Hinton et al. 2018; "
        "'dynamic': Sabour et al. 2017.",
    )
    routing_iterations: int = Field(3, ge=1)
    rematerialize_routing: bool = Field(
        True,
        description="Recompute the class-capsule routing in the backward pass instead of keeping "
        "its votes-sized intermediates: 0.8-1.2 GB less peak memory at the paper preset's batch "
        "for 1.3-2.6 s more per step on 2 CPU cores (README, Benchmarks). Values and gradients are unchanged.",
    )
    decoder_channels: int = Field(64, ge=1)
    decoder_final_channels: int = Field(128, ge=1)
    decoder_dropout: float = Field(0.5, ge=0.0, lt=1.0)
    kernels: Literal["auto", "reference", "cpu_fast"] = Field(
        "auto",
        description="How convolutions, pools and the decoder head are computed: 'reference' = "
        "plain Keras operations with the backend's gradients; 'cpu_fast' = the custom operators "
        "of ssvad_keras.layers.cpu_kernels (measured faster on CPU only); 'auto' = 'cpu_fast' when "
        "no GPU or TPU is visible, else 'reference'. Same weights and results either way.",
    )

    @classmethod
    def from_fields(cls, fields: dict[str, Any], source: str | None = None) -> ModelConfig:
        """`ModelConfig(**fields)`, failing with a one-line `ConfigError` ("model.<field>: ...").

        Args:
            fields: field names and values; missing ones take their defaults.
            source: the file the fields come from, named in the error; None names none.
        """
        try:
            return cls.model_validate(fields)
        except ValidationError as err:
            raise ConfigError(f"model.{_format_validation_error(err)}", source) from None


class LossConfig(_Section):
    """Supervised and consistency losses (SPEC 3; paper Eq. 1-9)."""

    margin: float = Field(0.2, ge=0.0, le=1.0, description="Spread-loss margin m.")
    margin_weight: float = Field(1.0, ge=0.0)
    bce_weight: float = Field(1.0, ge=0.0)
    dice_weight: float = Field(1.0, ge=0.0)
    dice_smooth: float = Field(1.0, gt=0.0)
    consistency_weight: float = Field(0.1, ge=0.0, description="lambda, Eq. 9.")
    cls_consistency_weight: float = Field(0.3, ge=0.0, description="lambda1, Eq. 8.")
    loc_consistency_weight: float = Field(0.7, ge=0.0, description="lambda2, Eq. 8.")
    cls_consistency: bool = Field(True, description="Apply the JSD classification consistency (Eq. 1).")
    loc_consistency: bool = Field(True, description="Apply localization consistency (Eq. 2-6).")
    temporal_coherence: Literal["none", "variance", "cyclic"] = Field(
        "cyclic", description="Variance attention (Eq. 3-4): off, within the clip, or cyclic."
    )
    gradient_smoothness: bool = Field(False, description="Second-derivative attention (Eq. 5-6).")
    plain_l2: bool = Field(True, description="Keep the non-attentive L2 term beside the attention.")
    variance_window: Literal[3, 5] = 5
    variance_on_probabilities: bool = False
    variance_mask_gain: float = Field(
        1.0, gt=0.0, description="Multiplier on the variance mask; the released code uses 2."
    )
    gradient_lower: float | None = Field(None, ge=0.0, le=1.0)
    gradient_upper: float | None = Field(None, ge=0.0, le=1.0)
    attention_mix: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of variance vs gradient loss when both are on."
    )
    consistency_on_probabilities: bool = Field(
        False, description="Compare probabilities instead of logits in the plain L2 (Eq. 2)."
    )
    ramp_epochs: int | None = Field(
        None, ge=1, description="Length of the exp(-5(1-t)^2) ramp of w; None = all epochs."
    )
    consistency_ramp: bool = Field(
        False,
        description="Multiply the whole consistency term (Eq. 9) by the sigmoid ramp-up of "
        "`ramp_epochs`, as Stable Mean Teacher's released code does (`wt_cons x cons x wt_ramp`); "
        "off = the paper's Eq. 9, where only the temporal-coherence weight w is ramped.",
    )
    dop_weight: float = Field(
        0.0, ge=0.0,
        description="Mean teacher: weight of the difference-of-pixels term (L2 between the temporal "
        "differences of student and teacher mask logits) added to the plain L2; 0 = off.",
    )
    dop_ramp_epochs: int | None = Field(
        None, ge=1, description="Length of the DoP (and EoR target) sigmoid ramp-up; None = all epochs."
    )
    error_recovery: bool = Field(
        False,
        description="Mean teacher: train a small 3D U-Net on labeled clips to correct the student's "
        "detached mask probabilities; its EMA copy refines the teacher's masks into extra targets.",
    )
    error_recovery_channels: int = Field(8, ge=1, description="Channels of the EoR U-Net's first level.")
    error_recovery_with_clip: bool = Field(
        False, description="Feed the EoR U-Net the clip's pixels beside the probabilities (4 channels)."
    )
    pseudo_class_margin: float = Field(
        0.2, ge=0.0, le=1.0,
        description="Pseudo-label: an unlabeled clip is used when its top class score beats the "
        "runner-up by at least this much (the spread loss's margin: the clip would already satisfy it).",
    )
    pseudo_mask_threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="Pseudo-label: mask pixels with probability >= this are foreground."
    )
    loc_frames: Literal["all", "annotated"] = Field(
        "all",
        description="Frames of labeled clips the supervised localization loss sees: 'all' (the "
        "released code) or only 'annotated' ones (batch['frame_valid'], untrimmed videos).",
    )

    @model_validator(mode="after")
    def _check_clamps(self) -> LossConfig:
        if (
            self.gradient_lower is not None
            and self.gradient_upper is not None
            and self.gradient_lower >= self.gradient_upper
        ):
            raise ValueError("gradient_lower must be below gradient_upper")
        return self


ValidationMetric = Literal["val_fmap@0.5", "val_vmap@0.2", "val_vmap@0.5", "val_accuracy"]
"""The figures validation logs every validated epoch (the paper protocol on the split's held-out
training videos), named `val_<figure>[@<IoU threshold>]` after `PaperMetrics`'s `fmap_at`,
`vmap_at` and `accuracy`; `train.select_metric` must be one of them."""

VALIDATION_METRICS: tuple[str, ...] = get_args(ValidationMetric)

AUTO_VALIDATIONS = 12
"""`train.validate_every = "auto"` validates about this many times per run (and always at the end)."""


class TrainConfig(_Section):
    """Optimisation and schedules (SPEC 4)."""

    epochs: int = Field(100, ge=1)
    steps_per_epoch: int | None = Field(
        None, ge=1, description="Steps per epoch; None = one pass over the unlabeled stream."
    )
    learning_rate: float = Field(1e-4, gt=0.0)
    adam_epsilon: float = Field(1e-6, gt=0.0)
    lr_schedule: Literal["plateau", "cosine"] = Field(
        "plateau",
        description="'plateau': x lr_factor after lr_patience epochs without a lower training loss "
        "(the paper's); 'cosine': half-cosine decay per epoch from learning_rate to "
        "min_learning_rate over the run, after warmup_epochs of linear warm-up.",
    )
    lr_factor: float = Field(0.1, gt=0.0, lt=1.0)
    lr_patience: int = Field(5, ge=1)
    min_learning_rate: float = Field(1e-7, ge=0.0)
    warmup_epochs: int = Field(0, ge=0, description="Cosine schedule: epochs of linear warm-up.")
    pseudo_label_epoch: int = Field(11, ge=0, description="From this epoch on, unlabeled masks use predictions.")
    semi_supervised: bool = Field(True, description="False trains on labeled clips only.")
    supervised_batch: Literal["labeled", "full"] = Field(
        "labeled",
        description="Clips per step of supervised-only training: 'labeled' = data.labeled_per_batch, "
        "as many labeled clips as a semi-supervised step holds (the comparison at equal labeled "
        "clips seen); 'full' = the whole batch size.",
    )
    method: Literal["pi", "mean_teacher", "pseudo_label"] = Field(
        "pi",
        description="'pi': the paper's two-view consistency in one network; 'mean_teacher': an EMA "
        "teacher on a weak view guides the student on a strong view (Stable Mean Teacher); "
        "'pseudo_label': confident predictions on unlabeled clips become hard targets.",
    )
    ema_alpha_max: float = Field(
        0.99, ge=0.0, lt=1.0, description="Mean teacher: EMA decay alpha = min(1 - 1/(step + 1), ema_alpha_max)."
    )
    seed: int = 0
    mixed_precision: bool = False
    jit_compile: bool = Field(
        False,
        description="XLA-compile the train step. Off by default: on CPU, XLA's 3D convolution "
        "gradients made the tiny preset's step ~9x slower (19 s vs 2 s); worth trying on GPU.",
    )
    strategy: Literal["none", "mirrored", "multiworker"] = "none"
    validate_every: int | Literal["auto"] = Field(
        "auto",
        description="Epochs between validation runs (the last epoch always validates); 'auto' "
        f"validates about {AUTO_VALIDATIONS} times per run: every ceil(epochs / {AUTO_VALIDATIONS}) epochs.",
    )
    select_metric: ValidationMetric = Field(
        "val_vmap@0.5",
        description="Checkpoint-selection metric on the validation split (higher is better): "
        + ", ".join(VALIDATION_METRICS) + ".",
    )
    keep_checkpoint: Literal["best", "last"] = Field(
        "best",
        description="Which model becomes best.keras (what evaluate, export and the demo use): "
        "'best' = the validated epoch with the highest select_metric; 'last' = the last epoch's "
        "(the annealed end of a cosine schedule), for validation splits too small to choose on. "
        "Validation is logged either way.",
    )
    tensorboard_images: int = Field(2, ge=0, description="Validation clips drawn in TensorBoard.")

    @field_validator("validate_every", mode="before")
    @classmethod
    def _epochs_or_auto(cls, value: Any) -> Any:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError(f"must be a number of epochs >= 1 or 'auto', not {value!r}")

    def validation_interval(self) -> int:
        """Epochs between validations: `validate_every`, or for "auto" ceil(epochs / AUTO_VALIDATIONS)."""
        if self.validate_every == "auto":
            return max(1, math.ceil(self.epochs / AUTO_VALIDATIONS))
        return self.validate_every

    def validates(self, epoch: int) -> bool:
        """Whether the 0-based `epoch` ends with a validation run (the last one always does)."""
        return (epoch + 1) % self.validation_interval() == 0 or epoch + 1 == self.epochs


class EvalConfig(_Section):
    """Evaluation protocols (SPEC 5)."""

    protocol: Literal["paper", "act", "both"] = "both"
    mask_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    batch_size: int = Field(8, ge=1)
    tube_score_floor: float = Field(0.1, ge=0.0, le=1.0)
    weights: Literal["teacher", "student"] = Field(
        "teacher",
        description="Mean-teacher runs: the network validation, best.keras/last.keras, evaluate and "
        "export use (the other is saved beside it); runs of one network ignore it.",
    )
    class_mask: Literal["predicted", "ground_truth", "all"] = Field(
        "predicted",
        description="Which class capsules the decoder sees at evaluation: each clip's predicted "
        "class (SPEC 2, what every reported number uses), the ground-truth class (an oracle that "
        "separates localization errors from classification errors) or all of them "
        "(class-agnostic, the unlabeled clips' mask before the pseudo-label epoch).",
    )
    flip_average: bool = Field(
        False,
        description="Test-time flip: average each clip's mask probabilities and class scores "
        "with those of its horizontally flipped copy (flipped back), at evaluation, validation "
        "and detection; twice the forward cost. Off: the paper's single pass.",
    )


class ExperimentConfig(_Section):
    """Everything one run needs."""

    name: str = "experiment"
    preset: str | None = None
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()


def configs_dir() -> Path:
    """The installed `configs/` folder (presets and experiment files)."""
    return Path(str(resources.files("ssvad_configs")))


def preset_names() -> list[str]:
    """Names of the model presets shipped in `configs/presets/`."""
    return sorted(p.stem for p in (configs_dir() / "presets").glob("*.toml"))


def preset_path(name: str) -> Path:
    path = configs_dir() / "presets" / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(preset_names())})")
    return path


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError("config file not found", path)
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"invalid TOML ({err})", path) from None


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _preset_file_tree(name: str) -> dict[str, Any]:
    """A model preset's whole file as a config tree, naming the preset."""
    return {**_read_toml(preset_path(name)), "preset": name}


def _resolve_file(
    path: Path,
    seen: tuple[Path, ...] = (),
    preset_tree: Callable[[str], dict[str, Any]] = _preset_file_tree,
) -> dict[str, Any]:
    """Read a config file with its `base` chain and its preset merged in (file values win).

    Args:
        path: the TOML file.
        seen: the files that extend this one (a cycle is an error).
        preset_tree: what a `preset = "name"` key contributes (the preset's tree).
    """
    path = path.resolve()
    if path in seen:
        raise ConfigError("config files extend each other in a cycle", path)
    raw = _read_toml(path)
    merged: dict[str, Any] = {}
    base = raw.pop("base", None)
    if base is not None:
        base_path = Path(base)
        if not base_path.is_absolute():
            base_path = path.parent / base_path
        merged = _resolve_file(base_path, seen + (path,), preset_tree)
    if "preset" in raw:
        preset = raw["preset"]
        if not isinstance(preset, str):
            raise ConfigError("preset: must be a preset name", path)
        merged = _merge(merged, preset_tree(preset))
    return _merge(merged, raw)


def config_from_sources(
    model: type[_ConfigT],
    path: str | Path | Sequence[str | Path] | None,
    preset: str | None,
    overrides: dict[str, Any] | None,
    preset_tree: Callable[[str], dict[str, Any]] = _preset_file_tree,
) -> _ConfigT:
    """A preset, then files (each with its `base` chain), then dotted overrides, merged in that
    order and validated as `model`; `load_config` and `load_vos_config`.

    Args:
        model: the config class (`ExperimentConfig`, `VosConfig`).
        path: a TOML file, several merged in order (later ones win), or None for the defaults.
        preset: a model preset that replaces the files' own `preset`: under the files'
            values (a config file says what it sets, whatever the preset), under `overrides`;
            None uses the preset each file names.
        overrides: dotted keys; None values are ignored.
        preset_tree: what a preset contributes (the whole preset file by default).

    Raises:
        ConfigError: one line naming the file, the field and the problem.
    """
    tree: dict[str, Any] = {} if preset is None else preset_tree(preset)
    # A preset given here stands in for the ones the files name (they contribute nothing).
    file_presets = preset_tree if preset is None else (lambda _named: {})
    source = "<defaults>"
    paths = [] if path is None else [path] if isinstance(path, (str, Path)) else list(path)
    for one in paths:
        # Later files override earlier ones: a dataset file, then an ablation-row file.
        source = str(one)
        tree = _merge(tree, _resolve_file(Path(one), preset_tree=file_presets))
    if preset is not None:
        tree["preset"] = preset
    return _validated(_with_overrides(tree, overrides), source, model)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {key!r} is not a section")
    node[keys[-1]] = value


def _format_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "<root>"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{field}: {msg}{more}"


def load_config(
    path: str | Path | Sequence[str | Path] | None = None,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> ExperimentConfig:
    """Build an `ExperimentConfig` from a file, a preset and dotted overrides.

    Args:
        path: a TOML file (may itself name `preset` and `base`), or several merged in order;
            None starts from the defaults.
        preset: a model preset name; replaces the file's own preset, under the file's values
            and `overrides`.
        overrides: dotted keys, e.g. `{"train.epochs": 5, "data.labeled_per_batch": 2}`; None
            values are ignored so CLI options left unset do not override anything.

    Raises:
        ConfigError: one line naming the file, the field and the problem.
    """
    return config_from_sources(ExperimentConfig, path, preset, overrides)


def override_config(config: ExperimentConfig, overrides: dict[str, Any]) -> ExperimentConfig:
    """`config` with dotted overrides applied and validated, as `load_config` applies them.

    Raises:
        ConfigError: one line naming the field and the problem.
    """
    return _validated(_with_overrides(config.model_dump(), overrides), "<overrides>")


def _with_overrides(tree: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(tree, dotted, value)
    return tree


def _validated(tree: dict[str, Any], source: str, model: type[_ConfigT] = ExperimentConfig) -> _ConfigT:
    """`tree` validated as `model`; a `ConfigError` naming `source` and the first bad field."""
    try:
        return model.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err), source) from None


def save_config(config: ExperimentConfig, path: str | Path) -> None:
    """Write the resolved config to `path` as TOML, atomically."""
    from ssvad_keras.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(to_toml(config.model_dump(mode="json", exclude_none=True)))


def to_toml(tree: dict[str, Any], prefix: str = "") -> str:
    """Serialise a nested dict of plain values as TOML (tables after scalar keys)."""
    scalars, tables = [], []
    for key, value in tree.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            scalars.append(f"{key} = {_toml_value(value)}")
    out = "\n".join(scalars)
    for key, value in tables:
        name = f"{prefix}{key}"
        out += f"\n\n[{name}]\n" + to_toml(value, prefix=f"{name}.")
    return out.strip() + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    import json

    return json.dumps(str(value))
