"""Dataset converters: source formats -> canonical TFRecord shards + split files."""

from ssvad_keras.runtime import configure_environment

# TensorFlow's defaults before a converter loads it (record_encoder.py imports it on first use, quietly).
configure_environment()
