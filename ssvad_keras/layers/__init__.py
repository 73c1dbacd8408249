"""Keras layers of the capsule detector (SPEC 2); `keras.ops` only, registered under "ssvad"."""

from ssvad_keras.runtime import import_tensorflow

# TensorFlow's defaults (Keras backend, CPU allocator) and its quiet import, before this
# package's modules load Keras (ssvad_keras/runtime.py).
import_tensorflow()

from ssvad_keras.layers.capsule_masking import CapsuleMasking
from ssvad_keras.layers.class_capsules import ClassCapsules
from ssvad_keras.layers.i3d_encoder import I3DEncoder
from ssvad_keras.layers.i3d_unit import I3DUnit
from ssvad_keras.layers.inception_module import InceptionModule
from ssvad_keras.layers.localization_decoder import LocalizationDecoder
from ssvad_keras.layers.primary_capsules import PrimaryCapsules
from ssvad_keras.layers.routing import dynamic_routing, em_routing, em_routing_released
from ssvad_keras.layers.same_max_pool3d import SameMaxPool3D

__all__ = [
    "CapsuleMasking",
    "ClassCapsules",
    "I3DEncoder",
    "I3DUnit",
    "InceptionModule",
    "LocalizationDecoder",
    "PrimaryCapsules",
    "SameMaxPool3D",
    "dynamic_routing",
    "em_routing",
    "em_routing_released",
]
