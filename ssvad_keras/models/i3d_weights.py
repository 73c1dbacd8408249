"""Pretrained I3D weights: PyTorch state dicts and DeepMind TF checkpoints -> our encoder.

Porting is a table from our unit scopes (DeepMind's names, `Mixed_3b/Branch_1/Conv3d_0a_1x1`)
to each source's keys; the layout transposes live in `_torch_unit` and `_tf_unit`. Every
expected key must be present with the expected shape, or loading fails naming the key; keys the
encoder does not use (the logits, other streams) are reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssvad_keras.errors import CheckpointError
from ssvad_keras.io import atomic_path
from ssvad_keras.layers import I3DEncoder, I3DUnit
from ssvad_keras.models.i3d import build_i3d_encoder, encoder_model

# Inception branch scopes -> the PyTorch port's module names.
TORCH_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "b0",
    "Branch_1/Conv3d_0a_1x1": "b1a",
    "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a",
    "Branch_2/Conv3d_0b_3x3": "b2b",
    "Branch_3/Conv3d_0b_1x1": "b3b",
}
# Keys a PyTorch state dict carries that hold no weights.
_TORCH_BOOKKEEPING = ("num_batches_tracked",)
TF_SCOPE = "RGB/inception_i3d"


@dataclass
class UnitWeights:
    """One unit's weights in Keras layout: kernel (t, h, w, in, out) and BatchNorm vectors."""

    kernel: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    moving_mean: np.ndarray
    moving_variance: np.ndarray


@dataclass
class ConversionReport:
    """What a conversion used: units loaded and source keys left unused."""

    source: str
    units: int
    unused_keys: list[str] = field(default_factory=list)


def torch_prefix(scope: str) -> str:
    """`Mixed_3b/Branch_1/Conv3d_0a_1x1` -> `Mixed_3b.b1a`; `Conv3d_1a_7x7` unchanged."""
    if "/" not in scope:
        return scope
    module, branch = scope.split("/", 1)
    return f"{module}.{TORCH_BRANCHES[branch]}"


def _find_encoder(target) -> I3DEncoder:
    if isinstance(target, I3DEncoder):
        return target
    encoder = getattr(target, "encoder", None)
    if isinstance(encoder, I3DEncoder):
        return encoder
    for layer in getattr(target, "layers", []):
        if isinstance(layer, I3DEncoder):
            return layer
    raise TypeError(f"no I3DEncoder found in {type(target).__name__}")


class _Source:
    """Named arrays from a checkpoint, tracking which keys were read."""

    def __init__(self, arrays: dict[str, np.ndarray], path: Path):
        self.arrays = arrays
        self.path = path
        self.used: set[str] = set()

    def take(self, key: str, shape: tuple | None = None) -> np.ndarray:
        if key not in self.arrays:
            raise CheckpointError(f"missing key {key}", self.path)
        value = np.asarray(self.arrays[key], dtype=np.float32)
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise CheckpointError(
                f"{key}: shape {tuple(value.shape)} does not match the encoder's {tuple(shape)}",
                self.path,
            )
        self.used.add(key)
        return value

    def unused(self) -> list[str]:
        return sorted(
            k for k in self.arrays if k not in self.used and not k.endswith(_TORCH_BOOKKEEPING)
        )


def _expected(unit: I3DUnit) -> tuple[tuple, tuple]:
    kernel = tuple(unit.conv_3d.kernel.shape)
    return kernel, (kernel[-1],)


def _torch_unit(source: _Source, scope: str, unit: I3DUnit) -> UnitWeights:
    prefix = torch_prefix(scope)
    kernel_shape, vector = _expected(unit)
    # PyTorch kernels are (out, in, t, h, w); Keras wants (t, h, w, in, out).
    torch_shape = (kernel_shape[4], kernel_shape[3], *kernel_shape[:3])
    kernel = source.take(f"{prefix}.conv3d.weight", torch_shape).transpose(2, 3, 4, 1, 0)
    mean = source.take(f"{prefix}.bn.running_mean", vector)
    bias_key = f"{prefix}.conv3d.bias"
    if bias_key in source.arrays:
        # BN(conv + b) == BN'(conv) with the running mean shifted by b: fold it.
        mean = mean - source.take(bias_key, vector)
    return UnitWeights(
        kernel=kernel,
        gamma=source.take(f"{prefix}.bn.weight", vector),
        beta=source.take(f"{prefix}.bn.bias", vector),
        moving_mean=mean,
        moving_variance=source.take(f"{prefix}.bn.running_var", vector),
    )


def _tf_unit(source: _Source, scope: str, unit: I3DUnit, root: str) -> UnitWeights:
    kernel_shape, vector = _expected(unit)
    base = f"{root}/{scope}"
    gamma_key = f"{base}/batch_norm/gamma"
    # DeepMind's I3D has no BatchNorm scale: gamma is 1 unless the checkpoint has one.
    gamma = source.take(gamma_key, vector) if gamma_key in source.arrays else np.ones(vector, np.float32)
    return UnitWeights(
        kernel=source.take(f"{base}/conv_3d/w", kernel_shape),
        gamma=gamma,
        beta=source.take(f"{base}/batch_norm/beta", vector),
        moving_mean=source.take(f"{base}/batch_norm/moving_mean", vector),
        moving_variance=source.take(f"{base}/batch_norm/moving_variance", vector),
    )


def read_torch_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a PyTorch state dict, loaded with `weights_only=True` (no code runs)."""
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            "reading .pt files needs PyTorch: pip install ssvad-keras[torch]", path
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for foreign files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"not a PyTorch state dict ({first})", path) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "numpy") for v in state.values()):
        raise CheckpointError("not a PyTorch state dict (expected a dict of tensors)", path)
    # The port is sometimes saved from DataParallel, which prefixes `module.`.
    return {
        k.removeprefix("module."): v.detach().cpu().float().numpy() for k, v in state.items()
    }


def _tf_checkpoint_prefix(path: Path) -> str:
    import tensorflow as tf

    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest is not None:
            return latest
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return str(indexes[0].with_suffix(""))
        raise CheckpointError("no TensorFlow checkpoint (*.index) in this directory", path)
    if Path(f"{path}.index").is_file():
        return str(path)
    raise CheckpointError("not a TensorFlow checkpoint", path)


def read_tf_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Variables of a TensorFlow checkpoint (a directory or a `model.ckpt` prefix)."""
    import tensorflow as tf

    prefix = _tf_checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = reader.get_variable_to_shape_map()
        return {name: reader.get_tensor(name) for name in names}
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"unreadable TensorFlow checkpoint ({err.__class__.__name__})", path) from None


def _tf_root(source: _Source) -> str:
    """The scope above the units (`RGB/inception_i3d` in DeepMind's checkpoints)."""
    suffix = "/Conv3d_1a_7x7/conv_3d/w"
    roots = sorted(k[: -len(suffix)] for k in source.arrays if k.endswith(suffix))
    if not roots:
        raise CheckpointError(f"missing key {TF_SCOPE}{suffix}", source.path)
    return TF_SCOPE if TF_SCOPE in roots else roots[0]


def _assign(unit: I3DUnit, weights: UnitWeights) -> None:
    unit.conv_3d.kernel.assign(weights.kernel)
    bn = unit.batch_norm
    bn.gamma.assign(weights.gamma)
    bn.beta.assign(weights.beta)
    bn.moving_mean.assign(weights.moving_mean)
    bn.moving_variance.assign(weights.moving_variance)


def _is_keras_weights(path: Path) -> bool:
    return path.name.endswith(".h5")


def load_i3d_weights(encoder, path: str | os.PathLike) -> ConversionReport:
    """Load pretrained I3D weights into an encoder.

    Args:
        encoder: an `I3DEncoder`, a model from `build_i3d_encoder`, or a detector.
        path: a PyTorch state dict (`.pt`/`.pth`, the pytorch-i3d port's keys), a DeepMind TF
            checkpoint (directory or prefix, `RGB/inception_i3d/...`), or a `.weights.h5`
            written by `convert_i3d_weights`.

    Returns:
        A `ConversionReport` listing the source keys the encoder did not use.

    Raises:
        CheckpointError: missing file, unreadable format, a missing key or a shape mismatch
            (naming the key).

    Example:

    >>> report = load_i3d_weights(build_i3d_encoder(), "rgb_charades.pt")  # doctest: +SKIP
    """
    path = Path(path)
    layer = _find_encoder(encoder)
    if not path.exists() and not Path(f"{path}.index").is_file():
        raise CheckpointError("weights file not found", path)
    units = layer.unit_layers()
    if _is_keras_weights(path):
        if not path.name.endswith(".weights.h5"):
            raise CheckpointError("Keras weight files must end in .weights.h5", path)
        wrapper = encoder_model(layer, (None, None, None, 3))
        try:
            wrapper.load_weights(path)
        except (ValueError, OSError, KeyError) as err:
            first = str(err).strip().splitlines()[0]
            raise CheckpointError(f"weights do not match the encoder ({first})", path) from None
        return ConversionReport(str(path), len(units))
    if path.suffix in (".pt", ".pth"):
        source = _Source(read_torch_state_dict(path), path)
        converted = {scope: _torch_unit(source, scope, unit) for scope, unit in units.items()}
    else:
        source = _Source(read_tf_checkpoint(path), path)
        root = _tf_root(source)
        converted = {scope: _tf_unit(source, scope, unit, root) for scope, unit in units.items()}
    # Assign only once every key has been found and checked: failures change nothing.
    for scope, weights in converted.items():
        _assign(units[scope], weights)
    return ConversionReport(str(path), len(units), source.unused())


def infer_width(path: Path) -> float:
    """The width multiplier of a source checkpoint, from `Conv3d_1a_7x7`'s output channels."""
    if path.suffix in (".pt", ".pth"):
        arrays = read_torch_state_dict(path)
        key = "Conv3d_1a_7x7.conv3d.weight"
        out_axis = 0
    else:
        arrays = read_tf_checkpoint(path)
        source = _Source(arrays, path)
        key = f"{_tf_root(source)}/Conv3d_1a_7x7/conv_3d/w"
        out_axis = -1
    if key not in arrays:
        raise CheckpointError(f"missing key {key}", path)
    return arrays[key].shape[out_axis] / 64.0


def convert_i3d_weights(
    source: str | os.PathLike,
    out: str | os.PathLike,
    variant: str = "ssl",
    width: float | None = None,
) -> ConversionReport:
    """Convert a `.pt` state dict or TF checkpoint into a Keras `.weights.h5` for the encoder.

    Args:
        source: PyTorch state dict or DeepMind TF checkpoint.
        out: output path ending in `.weights.h5`; written atomically.
        variant: encoder variant (strides do not change the weights). Defaults to `"ssl"`.
        width: width multiplier; None infers it from `Conv3d_1a_7x7` (1.0 for real I3D).

    Example:

    >>> convert_i3d_weights("rgb_charades.pt", "i3d.weights.h5")  # doctest: +SKIP
    """
    source, out = Path(source), Path(out)
    if not out.name.endswith(".weights.h5"):
        raise CheckpointError("output must end in .weights.h5", out)
    if not source.exists() and not Path(f"{source}.index").is_file():
        raise CheckpointError("weights file not found", source)
    if width is None:
        width = infer_width(source)
    if not 0.0 < width <= 1.0:
        raise CheckpointError(f"inferred width multiplier {width} is outside (0, 1]", source)
    model = build_i3d_encoder(input_shape=(None, None, None, 3), variant=variant, width=width)
    report = load_i3d_weights(model, source)
    with atomic_path(out) as tmp:
        keras_path = tmp.with_name(tmp.name + ".weights.h5")
        try:
            model.save_weights(keras_path)
            os.replace(keras_path, tmp)
        finally:
            keras_path.unlink(missing_ok=True)
    return report

