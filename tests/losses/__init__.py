"""Tests of ssvad_keras.losses."""

import os

# Quiet TensorFlow's C++ logs before any test module of this folder imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
