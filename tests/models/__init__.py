"""Tests of ssvad_keras.models."""
