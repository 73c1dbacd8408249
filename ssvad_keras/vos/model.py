"""`MaskPropagationModel`: clip + reference mask -> the object's mask logits, and its builders.

The I3D encoder is the action detector's, untouched (same class, same sub-layer names), so an
action-detection run's encoder loads variable for variable; the decoder is
`ReferenceMaskDecoder`, whose `PRETRAINED_LAYERS` load from the action decoder by name.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

import keras
import numpy as np
from keras import ops

from ssvad_keras.config import ModelConfig
from ssvad_keras.errors import CheckpointError, ConfigError, SsvadError
from ssvad_keras.layers import I3DEncoder
from ssvad_keras.models.detector import encode_clip
from ssvad_keras.run_dir import RunDir
from ssvad_keras.vos.config import VosConfig, VosSettings
from ssvad_keras.vos.decoder import MATCHING_KEYS, MatchingReadout, ReferenceMaskDecoder

# The pixel ranges `ModelConfig.pixel_range` allows (one source).
PIXEL_RANGES = get_args(ModelConfig.model_fields["pixel_range"].annotation)
# How the reference mask reaches the clip's frames (`vos.readout`, one source).
READOUTS = get_args(VosSettings.model_fields["readout"].annotation)


@keras.saving.register_keras_serializable(package="ssvad")
class MaskPropagationModel(keras.Model):
    """I3D encoder -> reference-mask-conditioned decoder: one object's masks over a clip.

    Inputs: a dict with `"clip"` (batch, T, H, W, 3) in [0, 1] and `"reference"` (batch, H, W,
    1), the object's mask on the clip's first frame. The objects of a video are a batch of
    clips, one per object. Output: a dict with `"mask_logits"` (batch, T, H, W, 1), float32.

    Args:
        clip_shape: 4 ints. (T, H, W, 3). Defaults to (8, 224, 224, 3).
        encoder_variant, encoder_width, encoder_dropout, pixel_range, decoder_channels,
        decoder_final_channels, decoder_dropout: as `ssvad_keras.config.ModelConfig`.
        seed: int or None. Seed of the two 3D dropouts. Defaults to `None`.
        reference_prior: float. Initial scale of the decoder's reference prior
            (`vos.reference_prior`). Defaults to 2.0.
        readout: "prototype" or "matching" (`vos.readout`). "matching" carries the reference
            mask to every frame by pixel matching (`MatchingReadout`) and feeds that to the
            decoder in place of the reference tiled over time. Defaults to "prototype".
        matching_stride, matching_radius, matching_topk, matching_temperature, matching_keys,
            matching_key_channels: the `MatchingReadout`'s `stride`, `radius`, `topk`,
            `temperature`, `keys`, `key_channels` (`vos.matching_*`). Defaults to the fixed
            RGB readout ("rgb").
        correction_gate: float or None. The decoder's `correction_gate` (`vos.correction_gate`):
            given, logits = prior + g * decoder output with g learned and started here.
            Defaults to None (no gate).
        zero_mean_correction: bool. The decoder's `zero_mean_correction`
            (`vos.zero_mean_correction`). Defaults to False.
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = MaskPropagationModel((8, 32, 32, 3), encoder_width=0.125, decoder_channels=8,
    ...                              decoder_final_channels=8)
    >>> out = model({"clip": keras.ops.zeros((2, 8, 32, 32, 3)),
    ...              "reference": keras.ops.zeros((2, 32, 32, 1))})
    >>> out["mask_logits"].shape
    (2, 8, 32, 32, 1)
    """

    def __init__(
        self,
        clip_shape: Sequence[int] = (8, 224, 224, 3),
        encoder_variant: str = "ssl",
        encoder_width: float = 1.0,
        encoder_dropout: float = 0.5,
        pixel_range: str = "0_1",
        decoder_channels: int = 64,
        decoder_final_channels: int = 128,
        decoder_dropout: float = 0.5,
        seed: int | None = None,
        reference_prior: float = 2.0,
        readout: str = "prototype",
        matching_stride: int = 2,
        matching_radius: float = 8.0,
        matching_topk: int = 16,
        matching_temperature: float = 0.01,
        matching_keys: str = "rgb",
        matching_key_channels: int = 8,
        correction_gate: float | None = None,
        zero_mean_correction: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pixel_range not in PIXEL_RANGES:
            raise ConfigError(f"model.pixel_range: must be one of {PIXEL_RANGES}, got {pixel_range!r}")
        self.clip_shape = tuple(int(n) for n in clip_shape)
        if len(self.clip_shape) != 4 or self.clip_shape[-1] != 3:
            raise ConfigError(f"clip shape must be (T, H, W, 3), got {self.clip_shape}")
        self.encoder_variant = encoder_variant
        self.encoder_width = float(encoder_width)
        self.encoder_dropout = float(encoder_dropout)
        self.pixel_range = pixel_range
        self.decoder_channels = int(decoder_channels)
        self.decoder_final_channels = int(decoder_final_channels)
        self.decoder_dropout = float(decoder_dropout)
        self.seed = seed
        self.reference_prior = float(reference_prior)
        if readout not in READOUTS:
            raise ConfigError(f"vos.readout: must be one of {READOUTS}, got {readout!r}")
        self.readout = readout
        self.matching_stride = int(matching_stride)
        self.matching_radius = float(matching_radius)
        self.matching_topk = int(matching_topk)
        self.matching_temperature = float(matching_temperature)
        if matching_keys not in MATCHING_KEYS:
            raise ConfigError(f"vos.matching_keys: must be one of {MATCHING_KEYS}, got {matching_keys!r}")
        self.matching_keys = matching_keys
        self.matching_key_channels = int(matching_key_channels)
        self.correction_gate = None if correction_gate is None else float(correction_gate)
        self.zero_mean_correction = bool(zero_mean_correction)
        self.matching = None
        if readout == "matching":
            self.matching = MatchingReadout(
                self.matching_stride, self.matching_radius, self.matching_topk,
                self.matching_temperature, keys=self.matching_keys,
                key_channels=self.matching_key_channels, name="matching_readout",
            )
        # The same layer names as VideoCapsuleDetector's: weights move between the two.
        self.encoder = I3DEncoder(encoder_variant, encoder_width, name="i3d_encoder")
        self.feature_dropout = keras.layers.SpatialDropout3D(
            encoder_dropout, seed=seed, name="feature_dropout"
        )
        self.decoder = ReferenceMaskDecoder(
            self.clip_shape[:3],
            channels=decoder_channels,
            final_channels=decoder_final_channels,
            dropout=decoder_dropout,
            seed=None if seed is None else seed + 1,
            prior_init=self.reference_prior,
            correction_gate=self.correction_gate,
            zero_mean_correction=self.zero_mean_correction,
            name="reference_mask_decoder",
        )
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        self.call({
            "clip": keras.KerasTensor((None, *self.clip_shape)),
            "reference": keras.KerasTensor((None, *self.clip_shape[1:3], 1)),
        })
        self.built = True

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict) or "clip" not in inputs or "reference" not in inputs:
            raise SsvadError("the VOS model takes a dict with 'clip' and 'reference'")
        clip, reference = inputs["clip"], inputs["reference"]
        if tuple(clip.shape[1:]) != self.clip_shape:
            raise SsvadError(f"clip shape {tuple(clip.shape[1:])} does not match the model's {self.clip_shape}")
        features, mixed_4f = encode_clip(self, clip, training)
        propagated = None if self.matching is None else self.matching(clip, reference)
        logits = self.decoder(
            mixed_4f, features["Conv3d_2c_3x3"], features["Conv3d_1a_7x7"], reference,
            propagated=propagated, training=training,
        )
        return {"mask_logits": ops.cast(logits, "float32")}

    def get_config(self):
        return {
            "name": self.name,
            "clip_shape": self.clip_shape,
            "encoder_variant": self.encoder_variant,
            "encoder_width": self.encoder_width,
            "encoder_dropout": self.encoder_dropout,
            "pixel_range": self.pixel_range,
            "decoder_channels": self.decoder_channels,
            "decoder_final_channels": self.decoder_final_channels,
            "decoder_dropout": self.decoder_dropout,
            "seed": self.seed,
            "reference_prior": self.reference_prior,
            "readout": self.readout,
            "matching_stride": self.matching_stride,
            "matching_radius": self.matching_radius,
            "matching_topk": self.matching_topk,
            "matching_temperature": self.matching_temperature,
            "matching_keys": self.matching_keys,
            "matching_key_channels": self.matching_key_channels,
            "correction_gate": self.correction_gate,
            "zero_mean_correction": self.zero_mean_correction,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_vos_model(config: VosConfig, seed: int | None = None) -> MaskPropagationModel:
    """Build the model of a `VosConfig`, initialised as `config.vos.init` (and
    `config.model.encoder_weights`) say, the encoder's BatchNorm frozen when
    `config.vos.freeze_batch_norm`.

    Example:

    >>> from ssvad_keras.vos.config import load_vos_config
    >>> build_vos_model(load_vos_config(preset="tiny")).clip_shape
    (8, 64, 64, 3)
    """
    model_config: ModelConfig = config.model
    model = MaskPropagationModel(
        clip_shape=(config.data.clip_length, *config.data.input_size, 3),
        encoder_variant=model_config.encoder_variant,
        encoder_width=model_config.encoder_width,
        encoder_dropout=model_config.encoder_dropout,
        pixel_range=model_config.pixel_range,
        decoder_channels=model_config.decoder_channels,
        decoder_final_channels=model_config.decoder_final_channels,
        decoder_dropout=model_config.decoder_dropout,
        seed=config.train.seed if seed is None else seed,
        reference_prior=config.vos.reference_prior,
        readout=config.vos.readout,
        matching_stride=config.vos.matching_stride,
        matching_radius=config.vos.matching_radius,
        matching_topk=config.vos.matching_topk,
        matching_temperature=config.vos.matching_temperature,
        matching_keys=config.vos.matching_keys,
        matching_key_channels=config.vos.matching_key_channels,
        correction_gate=config.vos.correction_gate,
        zero_mean_correction=config.vos.zero_mean_correction,
    )
    from ssvad_keras.models.pretrained import is_pretrained_file, load_part, resolve_weights

    weights = resolve_weights(model_config.encoder_weights)  # "builtin:tiny", a file, or none
    if weights is not None and is_pretrained_file(weights):
        load_part(model.encoder, weights, "encoder")
    elif weights is not None:
        from ssvad_keras.models.i3d_weights import load_i3d_weights

        load_i3d_weights(model.encoder, weights)
    if config.vos.init is not None:
        initialise_from(model, config.vos.init)
    if config.vos.freeze_batch_norm:
        freeze_batch_norm(model.encoder)
    return model


def freeze_batch_norm(layer: keras.layers.Layer) -> int:
    """Make every BatchNormalization under `layer` non-trainable, which in Keras 3 also runs it in
    inference mode (its moving statistics) when called with `training=True`.

    Returns:
        The number of layers frozen.
    """
    frozen = 0
    for sub in layer._flatten_layers(include_self=True):
        if isinstance(sub, keras.layers.BatchNormalization):
            sub.trainable = False
            frozen += 1
    return frozen


def _detector_archive(path: Path) -> Path | None:
    """The `.keras` detector an `--init` path names: a run folder's best (or last) model, or
    the file itself; None for other weight files."""
    if path.is_dir():
        run = RunDir(path)
        for model_path in (run.best_model_path, run.last_model_path):
            if model_path.is_file():
                return model_path
        raise CheckpointError(
            f"run folder holds no {run.best_model_path.name} or {run.last_model_path.name}", path
        )
    return path if path.suffix == ".keras" else None


def transfer_detector_weights(model: MaskPropagationModel, detector, source: Path) -> list[str]:
    """Copy an action detector's encoder and shared decoder layers into `model`.

    Every variable is checked (name and shape) before any is assigned, so a mismatch leaves
    `model` untouched.

    Returns:
        The decoder layers copied (`PRETRAINED_LAYERS`).

    Raises:
        CheckpointError: the encoders or decoder layers differ in shape, naming `source`.
    """
    pairs = []
    if len(model.encoder.weights) != len(detector.encoder.weights):
        raise CheckpointError(
            f"the detector's encoder has {len(detector.encoder.weights)} variables, this model's "
            f"{len(model.encoder.weights)}: encoder_variant/encoder_width differ", source
        )
    pairs += list(zip(model.encoder.weights, detector.encoder.weights, strict=True))
    theirs = {
        layer.name: layer
        for layer in (detector.decoder.mixed_4f_projection, detector.decoder.skip_2c_projection,
                      detector.decoder.skip_1a_projection, *detector.decoder.upsamplers,
                      detector.decoder.smooth)
    }
    ours = model.decoder.pretrained_layers()
    for name, layer in ours.items():
        pairs += list(zip(layer.weights, theirs[name].weights, strict=True))
    for target, value in pairs:
        if tuple(target.shape) != tuple(value.shape):
            raise CheckpointError(
                f"{target.path} is {tuple(target.shape)} here but {tuple(value.shape)} in the "
                "detector (model sizes differ: use the same preset)", source
            )
    for target, value in pairs:
        target.assign(np.asarray(value))
    return sorted(ours)


def initialise_from(model: MaskPropagationModel, path: str | Path) -> str:
    """Initialise `model` from an action-detection run or detector, or from I3D weights.

    Args:
        model: the VOS model.
        path: a run folder of `ssvad train` (its best.keras, else last.keras), a `.keras`
            detector, or I3D weights that `load_i3d_weights` reads (converted `.weights.h5`,
            a PyTorch state dict, a DeepMind checkpoint): encoder only.

    Returns:
        What was loaded, in words.

    Raises:
        CheckpointError: missing or unloadable source, or one whose sizes differ.
    """
    path = Path(path)
    if not path.exists() and not Path(f"{path}.index").exists():
        raise CheckpointError("--init source not found", path)
    archive = _detector_archive(path)
    if archive is None:
        from ssvad_keras.models.i3d_weights import load_i3d_weights

        load_i3d_weights(model.encoder, path)
        return f"encoder from I3D weights {path}"
    from ssvad_keras.models.detector import load_detector

    detector = load_detector(archive)
    layers = transfer_detector_weights(model, detector, archive)
    return f"encoder and decoder layers {', '.join(layers)} from {archive}"


def load_vos_model(path: str | Path) -> MaskPropagationModel:
    """Load a VOS model saved with `model.save("x.keras")` (safe deserialization only).

    Raises:
        CheckpointError: missing, not a `.keras` archive, unsafe, or not a VOS model.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path)
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise CheckpointError("not a .keras model archive", path)
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"cannot load model ({first})", path) from None
    if not isinstance(model, MaskPropagationModel):
        raise CheckpointError(
            f"archive holds a {type(model).__name__}, not a VOS MaskPropagationModel", path
        )
    return model
