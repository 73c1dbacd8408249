"""Tests of ssvad_keras.inference."""
