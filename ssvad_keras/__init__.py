"""ssvad-keras: semi-supervised video action detection in Keras 3.

Implements "End-to-End Semi-Supervised Learning for Video Action Detection" (Kumar & Rawat,
CVPR 2022): a capsule-routing detector (I3D encoder, 2D capsule routing, localization decoder)
trained with supervised losses on a few labeled videos and consistency losses on many unlabeled
ones.

Importing the package loads neither TensorFlow nor Keras and sets no environment variable; the
subpackages that compute with them apply TensorFlow's defaults first (`ssvad_keras.runtime`).
"""

__version__ = "0.1.0"
