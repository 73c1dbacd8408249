"""Tests of ssvad_keras.layers."""
