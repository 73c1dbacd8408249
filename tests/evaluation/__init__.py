"""Tests of ssvad_keras.evaluation."""
