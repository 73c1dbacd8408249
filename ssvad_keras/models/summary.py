"""Parameters per block and analytic forward FLOPs of a `VideoCapsuleDetector`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from ssvad_keras.models.detector import VideoCapsuleDetector

# Floating-point operations per (position, input capsule, class, pose entry) in one routing
# iteration: M-step weighted mean (2) and weighted variance (3); E-step Gaussian log-density
# (subtract, square, divide, sum: 4) and the softmax's share (1).
_ROUTING_FLOPS_PER_VOTE_M_STEP = 5
_ROUTING_FLOPS_PER_VOTE_E_STEP = 5


@dataclass(frozen=True)
class BlockSummary:
    """One row of `summarize_detector`: a block's trainable parameters and forward FLOPs."""

    name: str
    parameters: int
    flops: float


@dataclass(frozen=True)
class ConvCall:
    """A convolution seen during a symbolic pass: which block, its kernel and its shapes."""

    block: str
    layer: keras.layers.Layer
    input_shape: tuple
    output_shape: tuple


_CONV_TYPES = (
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


@contextlib.contextmanager
def _record_convolutions(calls: list) -> Iterator[None]:
    """Record every convolution call (layer, input shape, output shape) while active."""
    original = keras.layers.Layer.__call__

    def recording_call(layer, *args, **kwargs):
        outputs = original(layer, *args, **kwargs)
        if isinstance(layer, _CONV_TYPES):
            calls.append((layer, tuple(args[0].shape), tuple(outputs.shape)))
        return outputs

    keras.layers.Layer.__call__ = recording_call
    try:
        yield
    finally:
        keras.layers.Layer.__call__ = original


def convolution_flops(layer: keras.layers.Layer, input_shape: tuple, output_shape: tuple) -> float:
    """2 x multiply-accumulates of one (transposed) convolution for a batch of one.

    A convolution does `kernel volume x input channels` MACs per output element; a transposed
    convolution does `kernel volume x output channels` MACs per input element.
    """
    kernel = layer.kernel.shape  # (*window, in, out) for both kinds in Keras
    window = int(np.prod(kernel[:-2]))
    if isinstance(layer, (keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)):
        in_elements = int(np.prod(input_shape[1:-1]))
        return 2.0 * in_elements * input_shape[-1] * window * output_shape[-1]
    out_elements = int(np.prod(output_shape[1:-1]))
    return 2.0 * out_elements * output_shape[-1] * window * input_shape[-1]


def routing_flops(detector: VideoCapsuleDetector) -> float:
    """FLOPs of the class capsules for one clip: votes (pose x W) plus the routing iterations."""
    caps = detector.class_capsules
    grid = detector.encoder.compute_output_shape((1, *detector.clip_shape))["Mixed_4f"][2:4]
    k = detector.primary_kernel
    positions = (grid[0] - k + 1) * (grid[1] - k + 1)
    p = detector.pose_size
    elements = positions * detector.primary_types * detector.num_classes * p * p
    votes = 2.0 * elements * p  # a P x P matrix product per (input, class) pair
    iterations = caps.iterations
    per_iteration = (
        _ROUTING_FLOPS_PER_VOTE_M_STEP * iterations
        + _ROUTING_FLOPS_PER_VOTE_E_STEP * (iterations - 1)
    )
    return votes + elements * per_iteration


def summarize_detector(detector: VideoCapsuleDetector) -> list[BlockSummary]:
    """Trainable parameters and forward FLOPs per block for one clip.

    FLOPs are counted analytically from the layer shapes seen while tracing a TensorFlow graph
    of the forward pass (nothing is computed): 2 x MACs of every convolution and transposed convolution, plus the class
    capsules' votes and routing (`routing_flops`). Batch norm, activations and pooling are
    left out (under 1% at the paper's shapes).

    Example:

    >>> rows = summarize_detector(build_detector(preset="tiny", num_classes=5))
    >>> [row.name for row in rows]
    ['i3d_encoder', 'primary_capsules', 'class_capsules', 'localization_decoder']
    """
    calls: list = []
    # Tracing a graph runs every layer's `call` on symbolic tensors without computing them.
    spec = tf.TensorSpec((1, *detector.clip_shape), tf.float32)
    with _record_convolutions(calls):
        tf.function(lambda clip: detector(clip, training=False)).get_concrete_function(spec)
    blocks = [
        detector.encoder,
        detector.primary_capsules,
        detector.class_capsules,
        detector.decoder,
    ]
    owner = {}
    for block in blocks:
        for layer in block._flatten_layers(include_self=True):
            owner[id(layer)] = block.name
    flops = {block.name: 0.0 for block in blocks}
    for layer, in_shape, out_shape in calls:
        flops[owner[id(layer)]] += convolution_flops(layer, in_shape, out_shape)
    flops[detector.class_capsules.name] += routing_flops(detector)
    return [
        BlockSummary(
            block.name,
            sum(int(np.prod(w.shape)) for w in block.trainable_weights),
            flops[block.name],
        )
        for block in blocks
    ]
