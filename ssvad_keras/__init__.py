"""ssvad-keras: semi-supervised video action detection in Keras 3.

Implements "End-to-End Semi-Supervised Learning for Video Action Detection" (Kumar & Rawat,
CVPR 2022): a capsule-routing detector (I3D encoder, 2D capsule routing, localization decoder)
trained with supervised losses on a few labeled videos and consistency losses on many unlabeled
ones.
"""

import os

# Keras reads the backend once, at import; this package's training step and export are written
# for TensorFlow, while layers and losses use only `keras.ops`.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's BFC allocator makes the large per-batch tensors of video clips about twice as
# fast to create on CPU as the system allocator (bench/bench_pipeline.py).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.1.0"
