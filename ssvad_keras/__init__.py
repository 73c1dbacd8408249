"""ssvad-keras: semi-supervised video action detection in Keras 3.

Implements "End-to-End Semi-Supervised Learning for Video Action Detection" (Kumar & Rawat,
CVPR 2022): a capsule-routing detector (I3D encoder, 2D capsule routing, localization decoder)
trained with supervised losses on a few labeled videos and consistency losses on many unlabeled
ones.
"""

import os
import sys

# Keras reads the backend once, at import; this package's training step and export are written
# for TensorFlow, while layers and losses use only `keras.ops`.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's BFC allocator makes the large per-batch tensors of video clips about twice as
# fast to create on CPU as the system allocator (bench/bench_pipeline.py).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")



def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 silenced.

    TensorFlow's C++ runtime logs CUDA probing and CPU-feature notices before its log level can
    apply (absl "before InitializeLog"); they would precede every command's output. Python
    exceptions still propagate; set SSVAD_TF_LOGS=1 to see the native messages.
    """
    if "tensorflow" in sys.modules or os.environ.get("SSVAD_TF_LOGS"):
        return
    try:
        saved = os.dup(2)
    except OSError:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        import tensorflow

        tensorflow.config.list_physical_devices()  # device probing logs (cuInit) go quiet too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

__version__ = "0.1.0"
