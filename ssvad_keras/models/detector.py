"""`VideoCapsuleDetector`: the semi-supervised capsule action detector (SPEC 2), and builders."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import keras
from keras import ops

from ssvad_keras.config import ExperimentConfig, ModelConfig, load_config
from ssvad_keras.errors import CheckpointError, ConfigError, SsvadError
from ssvad_keras.layers import (
    CapsuleMasking,
    ClassCapsules,
    I3DEncoder,
    LocalizationDecoder,
    PrimaryCapsules,
)
from ssvad_keras.layers.cpu_kernels import resolve_kernels

# The architecture fields of `ModelConfig`: the detector takes them as keyword arguments,
# stores them and returns them from `get_config` (so an archive rebuilds the same model).
# `ModelConfig.WEIGHT_FIELDS` say what to load into a fresh model (`build_detector`).
ARCHITECTURE_FIELDS = tuple(
    name for name in ModelConfig.model_fields if name not in ModelConfig.WEIGHT_FIELDS
)


def encode_clip(model: keras.Model, clip, training=None):
    """The encoder pass the action detector and the VOS model share.

    The clip is mapped to `model.pixel_range` ("-1_1": 2x - 1; "0_1": unchanged), run through
    `model.encoder`, and Mixed_4f goes through `model.feature_dropout` (3D dropout).

    Args:
        model: a model with `pixel_range`, `encoder` and `feature_dropout`.
        clip: (batch, T, H, W, 3) pixels in [0, 1].
        training: passed to the encoder and the dropout.

    Returns:
        (the encoder's features by endpoint name, Mixed_4f after the dropout).
    """
    if model.pixel_range == "-1_1":
        clip = 2.0 * clip - 1.0
    features = model.encoder(clip, training=training)
    return features, model.feature_dropout(features["Mixed_4f"], training=training)


@keras.saving.register_keras_serializable(package="ssvad")
class VideoCapsuleDetector(keras.Model):
    """I3D encoder -> primary capsules -> class capsules with routing -> masked decoder.

    Inputs: a clip (batch, T, H, W, 3) in [0, 1], or a dict with `"clip"` and, for training,
    `"class_mask"` (batch, C) and `"use_predicted_mask"` (batch,) (see `CapsuleMasking`). The
    detector maps pixels to `pixel_range` before the encoder ("0_1": unchanged, as the released
    code feeds I3D; "-1_1": `2x - 1`, the range I3D was trained on).

    Outputs (dict):
    - `class_scores` (batch, C): mean class-capsule activation over the grid, in (0, 1);
    - `features` (batch, h, w, C): class-capsule activations per grid position (the
      penultimate activations of the classification-consistency loss, Eq. 1);
    - `loc_logits` (batch, T, H, W, 1): mask logits at the clip's exact size.

    The model options are `ssvad_keras.config.ModelConfig`'s fields, one source: they are
    validated by it (defaults included), kept as `model_config`, readable as attributes
    (`detector.primary_kernel`) and saved by `get_config`; a field added to `ModelConfig` is
    accepted, stored and saved here without an edit. `kernels="auto"` is saved as such and
    resolved on the device that builds the model (`resolved_kernels`), so a checkpoint trained
    on CPU runs the reference kernels on a GPU.

    Args:
        num_classes: int. Action classes C.
        clip_shape: 4 ints. (T, H, W, 3) the model is built for. Defaults to (8, 224, 224, 3).
        seed: int or None. Seed of the two 3D dropouts. Defaults to `None`.
        **kwargs: the `ModelConfig` fields in `ARCHITECTURE_FIELDS` (all but its
            `WEIGHT_FIELDS`; see their descriptions there), then standard `keras.Model`
            arguments (`name`, ...).

    Raises:
        ConfigError: a model option is invalid (one line naming the field).

    Example:

    >>> det = VideoCapsuleDetector(3, clip_shape=(8, 32, 32, 3), encoder_width=0.125,
    ...                            primary_kernel=3, primary_types=4, decoder_channels=8,
    ...                            decoder_final_channels=8)
    >>> out = det(keras.ops.zeros((1, 8, 32, 32, 3)))
    >>> out["class_scores"].shape, out["features"].shape, out["loc_logits"].shape
    ((1, 3), (1, 2, 2, 3), (1, 8, 32, 32, 1))
    """

    def __init__(
        self,
        num_classes: int,
        clip_shape: Sequence[int] = (8, 224, 224, 3),
        seed: int | None = None,
        **kwargs,
    ):
        options = {name: kwargs.pop(name) for name in ARCHITECTURE_FIELDS if name in kwargs}
        super().__init__(**kwargs)
        self.model_config = ModelConfig.from_fields(options)
        for name in ARCHITECTURE_FIELDS:
            setattr(self, name, getattr(self.model_config, name))
        self.resolved_kernels = resolve_kernels(self.model_config.kernels)
        self.num_classes = int(num_classes)
        self.clip_shape = tuple(int(n) for n in clip_shape)
        if len(self.clip_shape) != 4 or self.clip_shape[-1] != 3:
            raise ConfigError(f"clip shape must be (T, H, W, 3), got {self.clip_shape}")
        self.seed = seed

        m = self.model_config
        kernels = self.resolved_kernels
        self.encoder = I3DEncoder(m.encoder_variant, m.encoder_width, kernels=kernels, name="i3d_encoder")
        self.feature_dropout = keras.layers.SpatialDropout3D(
            m.encoder_dropout, seed=seed, name="feature_dropout"
        )
        self.primary_capsules = PrimaryCapsules(
            m.primary_types, m.pose_size, m.primary_kernel, kernels=kernels, name="primary_capsules"
        )
        # Routing runs in float32 under mixed precision: the released EM divides by a
        # near-zero "std" (SPEC 2) that float16 flushes to zero.
        self.class_capsules = ClassCapsules(
            num_classes,
            m.pose_size,
            m.routing,
            m.routing_iterations,
            rematerialize=m.rematerialize_routing,
            dtype="float32",
            name="class_capsules",
        )
        self.capsule_masking = CapsuleMasking(name="capsule_masking")
        self.decoder = LocalizationDecoder(
            self.clip_shape[:3],
            kernel_size=m.primary_kernel,
            channels=m.decoder_channels,
            final_channels=m.decoder_final_channels,
            dropout=m.decoder_dropout,
            seed=None if seed is None else seed + 1,
            kernels=kernels,
            name="localization_decoder",
        )
        self._check_grid()
        # A symbolic pass creates every variable without computing anything.
        self.build((None, *self.clip_shape))

    def _check_grid(self) -> None:
        grid = self.encoder.compute_output_shape((None, *self.clip_shape))["Mixed_4f"][2:4]
        if min(grid) < self.primary_kernel:
            raise ConfigError(
                f"model.primary_kernel: {self.primary_kernel} is larger than the "
                f"{grid[0]}x{grid[1]} Mixed_4f grid of a {self.clip_shape[:3]} clip"
            )

    def build(self, input_shape=None):
        if self.built:
            return
        clip_shape = input_shape["clip"] if isinstance(input_shape, dict) else input_shape
        self.call(keras.KerasTensor(tuple(clip_shape)))
        self.built = True

    def _split_inputs(self, inputs):
        if isinstance(inputs, dict):
            if "clip" not in inputs:
                raise SsvadError(f"detector inputs must contain 'clip', got keys {sorted(inputs)}")
            return inputs["clip"], inputs.get("class_mask"), inputs.get("use_predicted_mask")
        return inputs, None, None

    def _check_clip(self, clip) -> None:
        shape = tuple(clip.shape)
        if len(shape) != 5 or shape[-1] != 3:
            raise SsvadError(f"clip must be (batch, T, H, W, 3), got shape {shape}")
        if any(n is not None and n != m for n, m in zip(shape[1:4], self.clip_shape[:3], strict=True)):
            raise SsvadError(
                f"clip size {shape[1:4]} does not match the model's input {self.clip_shape[:3]}"
            )

    def call(self, inputs, training=None):
        clip, class_mask, use_predicted_mask = self._split_inputs(inputs)
        self._check_clip(clip)
        # 3D dropout on Mixed_4f, which both routing and the decoder see.
        features, mixed_4f = encode_clip(self, clip, training)
        # Time is pooled away before the 2D capsules (a single step for the paper's 8 frames).
        grid = ops.mean(mixed_4f, axis=1)
        poses, activations = self.primary_capsules(grid)
        class_poses, class_activations = self.class_capsules(poses, activations)
        class_scores = ops.mean(class_activations, axis=(1, 2))
        masked = self.capsule_masking(class_poses, class_scores, class_mask, use_predicted_mask)
        loc_logits = self.decoder(
            masked, mixed_4f, features["Conv3d_2c_3x3"], features["Conv3d_1a_7x7"],
            training=training,
        )
        # Outputs in float32 whatever the compute policy: losses and masks are float32.
        return {
            "class_scores": ops.cast(class_scores, "float32"),
            "features": ops.cast(class_activations, "float32"),
            "loc_logits": ops.cast(loc_logits, "float32"),
        }

    def get_config(self):
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "clip_shape": self.clip_shape,
            "seed": self.seed,
            **self.model_config.model_dump(mode="json", include=set(ARCHITECTURE_FIELDS)),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_detector(
    preset: str | None = None,
    num_classes: int | None = None,
    config: ExperimentConfig | ModelConfig | None = None,
    input_shape: Sequence[int] | None = None,
    seed: int | None = None,
) -> VideoCapsuleDetector:
    """Build a `VideoCapsuleDetector` from a preset name or a config.

    The clip shape comes from `input_shape` (T, H, W) or (T, H, W, 3) when given, otherwise
    from the config's `data.clip_length` and `data.input_size`. `model.encoder_weights`, when
    set, loads converted I3D weights into the encoder.

    Args:
        preset: str. A preset in `configs/presets/` (`"tiny"`, `"small"`, `"paper"`).
        num_classes: int. Action classes. Required.
        config: an `ExperimentConfig`, or a `ModelConfig` together with `input_shape`.
        input_shape: clip (T, H, W) or (T, H, W, 3); overrides the config's data section.
        seed: int. Dropout seed; defaults to `train.seed` of an `ExperimentConfig`.

    Example:

    >>> det = build_detector(preset="tiny", num_classes=5)
    >>> det.clip_shape
    (8, 64, 64, 3)
    """
    if num_classes is None or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes}")
    if (preset is None) == (config is None):
        raise ConfigError("build_detector needs exactly one of preset= or config=")
    if preset is not None:
        config = load_config(preset=preset)
    if isinstance(config, ExperimentConfig):
        model_config = config.model
        if input_shape is None:
            input_shape = (config.data.clip_length, *config.data.input_size)
        if seed is None:
            seed = config.train.seed
    else:
        model_config = config
        if input_shape is None:
            raise ConfigError("build_detector(config=ModelConfig) needs input_shape=(T, H, W)")
    clip_shape = (*tuple(input_shape)[:3], 3)
    if len(tuple(input_shape)) not in (3, 4):
        raise ConfigError(f"input_shape must be (T, H, W) or (T, H, W, 3), got {input_shape}")
    detector = VideoCapsuleDetector(
        num_classes,
        clip_shape=clip_shape,
        seed=seed,
        **model_config.model_dump(include=set(ARCHITECTURE_FIELDS)),
    )
    from ssvad_keras.models.pretrained import load_initial_weights

    load_initial_weights(detector, model_config)
    return detector


def load_detector(path: str | Path) -> VideoCapsuleDetector:
    """Load a detector saved with `model.save("x.keras")`, refusing unsafe deserialization.

    Raises:
        CheckpointError: the file is missing, is not a `.keras` archive, needs unsafe
            deserialization (e.g. a `Lambda` layer), or does not hold a detector.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path)
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise CheckpointError("not a .keras model archive", path)
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as err:
        message = str(err)
        if "safe_mode" in message or "unsafe" in message.lower() or "lambda" in message.lower():
            raise CheckpointError(
                "refusing to load: the archive needs unsafe deserialization (it contains a "
                "Lambda layer or other Python code); re-save it without custom code",
                path,
            ) from None
        raise CheckpointError(f"cannot load model ({message.splitlines()[0]})", path) from None
    except (KeyError, TypeError, OSError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"cannot load model ({type(err).__name__}: {err})", path) from None
    if not isinstance(model, VideoCapsuleDetector):
        raise CheckpointError(
            f"archive holds a {type(model).__name__}, not a VideoCapsuleDetector", path
        )
    return model
