"""Experiment configuration: presets, merging, overrides, and one-line errors."""

from __future__ import annotations

import pytest

from ssvad_keras.config import (
    ConfigError,
    configs_dir,
    load_config,
    preset_names,
    save_config,
)


def test_presets_resolve_and_paper_is_the_papers_model():
    assert {"paper", "small", "tiny"} <= set(preset_names())
    paper = load_config(preset="paper")
    assert paper.data.input_size == (224, 224) and paper.data.clip_length == 8
    assert (paper.model.primary_kernel, paper.model.primary_types) == (9, 32)
    assert (paper.loss.consistency_weight, paper.loss.cls_consistency_weight) == (0.1, 0.3)
    assert paper.train.learning_rate == 1e-4 and paper.train.pseudo_label_epoch == 11


def test_files_merge_in_order_and_overrides_win(tmp_path):
    base = configs_dir() / "synthetic.toml"
    row = configs_dir() / "experiments" / "table2_gradient_l2.toml"
    cfg = load_config([base, row], overrides={"train.epochs": 3, "train.seed": None})
    assert cfg.model.encoder_width == 0.125  # from the tiny preset named by synthetic.toml
    assert cfg.loss.gradient_smoothness and cfg.loss.temporal_coherence == "none"  # the row
    assert cfg.train.epochs == 3 and cfg.train.seed == 0  # None leaves the value alone


def test_a_preset_given_separately_replaces_the_files_preset_under_the_files_values():
    experiments = configs_dir() / "experiments"
    # The tiny preset trains a mean teacher; a row file that names another method wins.
    pi = load_config(experiments / "pi.toml", preset="tiny")
    assert (pi.preset, pi.model.encoder_width, pi.train.method, pi.loss.consistency_weight) == ("tiny", 0.125, "pi", 1.0)
    assert pi.train.learning_rate == 1e-3  # the tiny recipe where the file is silent
    # A dataset file naming the paper preset: the tiny model, the file's own schedule.
    ucf = load_config(configs_dir() / "ucf101_24.toml", preset="tiny")
    assert (ucf.preset, ucf.model.encoder_width, ucf.data.input_size) == ("tiny", 0.125, (64, 64))
    assert ucf.model.primary_kernel == 3  # nothing of the paper preset the file named
    assert (ucf.train.epochs, ucf.train.pseudo_label_epoch) == (100, 11)
    assert load_config(configs_dir() / "ucf101_24.toml").model.primary_kernel == 9  # its own preset
    assert load_config(experiments / "pi.toml", preset="tiny", overrides={"train.method": "mean_teacher"}).train.method == "mean_teacher"


def test_every_experiment_file_is_valid():
    for path in sorted((configs_dir() / "experiments").glob("*.toml")):
        load_config([configs_dir() / "ucf101_24.toml", path])


def test_base_chain_and_round_trip(tmp_path):
    parent = tmp_path / "parent.toml"
    parent.write_text('preset = "tiny"\n[train]\nepochs = 7\n')
    child = tmp_path / "child.toml"
    child.write_text('base = "parent.toml"\n[loss]\nmargin = 0.3\n')
    cfg = load_config(child)
    assert cfg.train.epochs == 7 and cfg.loss.margin == 0.3 and cfg.data.input_size == (64, 64)
    save_config(cfg, tmp_path / "saved.toml")
    assert load_config(tmp_path / "saved.toml") == cfg


@pytest.mark.parametrize(
    "text, message",
    [
        ("[train]\nepochz = 3\n", r"bad.toml: train.epochz: unknown key"),
        ("[train]\nepochs = 0\n", r"bad.toml: train.epochs: Input should be greater than or equal to 1"),
        ("[loss]\nvariance_window = 4\n", r"bad.toml: loss.variance_window"),
        ("[train\n", r"bad.toml: invalid TOML"),
        ('preset = "huge"\n', r"unknown preset 'huge'"),
        ('base = "missing.toml"\n', r"missing.toml: config file not found"),
    ],
)
def test_invalid_files_give_one_line_naming_file_and_field(tmp_path, text, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(bad)
    assert "\n" not in str(info.value)
