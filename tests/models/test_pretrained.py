"""Pretrained detector parts (`ssvad pretrain`'s files): round trip, checks before any assignment."""

import numpy as np
import pytest

from ssvad_keras.errors import ConfigError
from ssvad_keras.models import build_detector
from ssvad_keras.models.pretrained import (
    load_pretrained,
    read_card,
    resolve_weights,
    save_pretrained,
)

TINY = dict(input_shape=(4, 32, 32))


def _detector(num_classes: int, **model):
    from ssvad_keras.config import load_config

    overrides = {f"model.{k}": v for k, v in model.items()}
    cfg = load_config(preset="tiny", overrides={"model.encoder_weights": "none", **overrides})
    return build_detector(config=cfg, num_classes=num_classes, **TINY)


def _values(layer):
    return [np.asarray(v.numpy()) for v in layer.weights]


def test_parts_round_trip_and_the_class_dependent_kernel_is_left_when_classes_differ(tmp_path):
    source = _detector(3)
    path = tmp_path / "p.weights.h5"
    save_pretrained(source, path, {"steps": 7})
    assert read_card(path) == {"steps": 7}

    same = _detector(3)
    report = load_pretrained(same, path)
    assert report.skipped == [] and report.loaded == sum(
        len(getattr(source, part).weights) for part in ("encoder", "primary_capsules", "decoder")
    )
    for part in ("encoder", "primary_capsules", "decoder"):
        for a, b in zip(_values(getattr(source, part)), _values(getattr(same, part)), strict=True):
            np.testing.assert_array_equal(a, b)

    other = _detector(5)
    before = _values(other.class_capsules)
    report = load_pretrained(other, path, parts=["encoder", "decoder"])
    # Only the decoder's capsule-input kernel depends on the number of classes.
    assert len(report.skipped) == 1 and "decoder" in report.skipped[0]
    for a, b in zip(_values(source.encoder), _values(other.encoder), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(before, _values(other.class_capsules), strict=True):
        np.testing.assert_array_equal(a, b)  # class capsules are never part of the file


def test_another_width_is_refused_in_one_line_and_nothing_is_assigned(tmp_path):
    path = tmp_path / "p.weights.h5"
    save_pretrained(_detector(3), path)
    wider = _detector(3, encoder_width=0.25, decoder_channels=8)
    before = _values(wider.encoder)
    with pytest.raises(ConfigError, match=r"p\.weights\.h5.*model\.encoder_width = 0\.125.*0\.25") as err:
        load_pretrained(wider, path)
    assert "\n" not in str(err.value)
    for a, b in zip(before, _values(wider.encoder), strict=True):
        np.testing.assert_array_equal(a, b)


def test_weight_names_resolve_or_fail_in_one_line(tmp_path):
    assert resolve_weights(None) is None and resolve_weights("none") is None
    with pytest.raises(ConfigError, match="no builtin weights 'nope'"):
        resolve_weights("builtin:nope")
    with pytest.raises(ConfigError, match="file not found"):
        resolve_weights(tmp_path / "missing.weights.h5")
    stranger = tmp_path / "stranger.h5"
    import h5py

    with h5py.File(stranger, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ConfigError, match="not a pretrained-weights file"):
        load_pretrained(_detector(3), stranger)
