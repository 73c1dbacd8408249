"""The capsule detector, the I3D encoder and its pretrained-weight import."""

from ssvad_keras.runtime import import_tensorflow

# TensorFlow's defaults (Keras backend, CPU allocator) and its quiet import, before this
# package's modules load Keras (ssvad_keras/runtime.py).
import_tensorflow()

from ssvad_keras.models.detector import VideoCapsuleDetector, build_detector, load_detector
from ssvad_keras.models.i3d import build_i3d_encoder
from ssvad_keras.models.i3d_weights import (
    ConversionReport,
    convert_i3d_weights,
    load_i3d_weights,
)

__all__ = [
    "ConversionReport",
    "VideoCapsuleDetector",
    "build_detector",
    "build_i3d_encoder",
    "convert_i3d_weights",
    "load_detector",
    "load_i3d_weights",
]
