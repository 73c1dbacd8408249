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

PIXEL_RANGES = ("0_1", "-1_1")


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

    Args:
        num_classes: int. Action classes C.
        clip_shape: 4 ints. (T, H, W, 3) the model is built for. Defaults to (8, 224, 224, 3).
        encoder_variant, encoder_width, encoder_dropout, pixel_range, primary_kernel,
        primary_types, pose_size, routing, routing_iterations, rematerialize_routing,
        decoder_channels, decoder_final_channels, decoder_dropout: as
        `ssvad_keras.config.ModelConfig`.
        seed: int or None. Seed of the two 3D dropouts. Defaults to `None`.
        **kwargs: standard `keras.Model` arguments.

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
        encoder_variant: str = "ssl",
        encoder_width: float = 1.0,
        encoder_dropout: float = 0.5,
        pixel_range: str = "0_1",
        primary_kernel: int = 9,
        primary_types: int = 32,
        pose_size: int = 4,
        routing: str = "em_released",
        routing_iterations: int = 3,
        rematerialize_routing: bool = True,
        decoder_channels: int = 64,
        decoder_final_channels: int = 128,
        decoder_dropout: float = 0.5,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pixel_range not in PIXEL_RANGES:
            raise ConfigError(f"model.pixel_range: must be one of {PIXEL_RANGES}, got {pixel_range!r}")
        self.num_classes = int(num_classes)
        self.clip_shape = tuple(int(n) for n in clip_shape)
        if len(self.clip_shape) != 4 or self.clip_shape[-1] != 3:
            raise ConfigError(f"clip shape must be (T, H, W, 3), got {self.clip_shape}")
        self.encoder_variant = encoder_variant
        self.encoder_width = float(encoder_width)
        self.encoder_dropout = float(encoder_dropout)
        self.pixel_range = pixel_range
        self.primary_kernel = int(primary_kernel)
        self.primary_types = int(primary_types)
        self.pose_size = int(pose_size)
        self.routing = routing
        self.routing_iterations = int(routing_iterations)
        self.rematerialize_routing = bool(rematerialize_routing)
        self.decoder_channels = int(decoder_channels)
        self.decoder_final_channels = int(decoder_final_channels)
        self.decoder_dropout = float(decoder_dropout)
        self.seed = seed

        self.encoder = I3DEncoder(encoder_variant, encoder_width, name="i3d_encoder")
        self.feature_dropout = keras.layers.SpatialDropout3D(
            encoder_dropout, seed=seed, name="feature_dropout"
        )
        self.primary_capsules = PrimaryCapsules(
            primary_types, pose_size, primary_kernel, name="primary_capsules"
        )
        # Routing runs in float32 under mixed precision: the released EM divides by a
        # near-zero "std" (SPEC 2) that float16 flushes to zero.
        self.class_capsules = ClassCapsules(
            num_classes,
            pose_size,
            routing,
            routing_iterations,
            rematerialize=rematerialize_routing,
            dtype="float32",
            name="class_capsules",
        )
        self.capsule_masking = CapsuleMasking(name="capsule_masking")
        self.decoder = LocalizationDecoder(
            self.clip_shape[:3],
            kernel_size=primary_kernel,
            channels=decoder_channels,
            final_channels=decoder_final_channels,
            dropout=decoder_dropout,
            seed=None if seed is None else seed + 1,
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
        if self.pixel_range == "-1_1":
            clip = 2.0 * clip - 1.0
        # Encoder; 3D dropout on Mixed_4f, which both routing and the decoder see.
        features = self.encoder(clip, training=training)
        mixed_4f = self.feature_dropout(features["Mixed_4f"], training=training)
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
            "encoder_variant": self.encoder_variant,
            "encoder_width": self.encoder_width,
            "encoder_dropout": self.encoder_dropout,
            "pixel_range": self.pixel_range,
            "primary_kernel": self.primary_kernel,
            "primary_types": self.primary_types,
            "pose_size": self.pose_size,
            "routing": self.routing,
            "routing_iterations": self.routing_iterations,
            "rematerialize_routing": self.rematerialize_routing,
            "decoder_channels": self.decoder_channels,
            "decoder_final_channels": self.decoder_final_channels,
            "decoder_dropout": self.decoder_dropout,
            "seed": self.seed,
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
        encoder_variant=model_config.encoder_variant,
        encoder_width=model_config.encoder_width,
        encoder_dropout=model_config.encoder_dropout,
        pixel_range=model_config.pixel_range,
        primary_kernel=model_config.primary_kernel,
        primary_types=model_config.primary_types,
        pose_size=model_config.pose_size,
        routing=model_config.routing,
        routing_iterations=model_config.routing_iterations,
        rematerialize_routing=model_config.rematerialize_routing,
        decoder_channels=model_config.decoder_channels,
        decoder_final_channels=model_config.decoder_final_channels,
        decoder_dropout=model_config.decoder_dropout,
        seed=seed,
    )
    if model_config.encoder_weights is not None:
        from ssvad_keras.models.i3d_weights import load_i3d_weights

        load_i3d_weights(detector.encoder, model_config.encoder_weights)
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
