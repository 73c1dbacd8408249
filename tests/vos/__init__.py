"""Tests of ssvad_keras.vos."""
