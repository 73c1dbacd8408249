"""Dataset converters: source formats -> canonical TFRecord shards + split files."""

import ssvad_keras  # noqa: F401  (sets TensorFlow's log level before TensorFlow loads)
