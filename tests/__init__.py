"""Tests for ssvad-keras, one package per stage, mirroring the source tree."""
