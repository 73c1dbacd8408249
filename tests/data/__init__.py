"""Tests of ssvad_keras.data."""
