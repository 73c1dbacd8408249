"""Tests of ssvad_keras.training."""
