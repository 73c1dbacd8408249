"""`ssvad pretrain`: a short pretraining run writes weights and a card that a detector loads."""

import json

import numpy as np
import tensorflow as tf
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.config import load_config
from ssvad_keras.models import build_detector
from ssvad_keras.models.pretrained import load_pretrained, read_card
from ssvad_keras.pretrain import pretrain
from tfrecords_tools.synthetic import VOCABULARIES
from tfrecords_tools.synthetic.clips import ClipSpec, clip_stream

SMALL = {"data.clip_length": 4, "data.input_size": [32, 32]}


def test_a_short_pretraining_run_writes_loadable_weights_and_its_card(tmp_path):
    cfg = load_config(preset="tiny", overrides=SMALL)
    spec = ClipSpec(4, 2, (36, 48), (32, 32))
    classes = list(VOCABULARIES["pretrain"].class_names)
    # Eager steps: tracing the train step costs ~65 CPU s on 2 cores, three eager steps ~15 s
    # (the traced step runs in every `train()` of tests/training/test_loop.py).
    tf.config.run_functions_eagerly(True)
    streams = []  # (seed, first clip) of every stream the run opens

    def clips(seed, start):
        streams.append((seed, start))
        return clip_stream("pretrain", spec, seed, start)

    try:
        result = pretrain(
            cfg, clips, classes, tmp_path / "tiny",
            steps=3, batch_size=2, heldout_clips=4, log_every=2, progress=False,
            command="ssvad pretrain --steps 3",
        )
    finally:
        tf.config.run_functions_eagerly(False)
    # Each 2-step chunk continues the stream where the previous one stopped (2 steps x 2 clips),
    # so no clip is trained on twice; the held-out clips are another stream.
    assert streams == [(1000, 0), (1000, 4), (1001, 0)]
    card = json.loads(result.card_path.read_text())
    assert card == read_card(result.weights_path)
    assert card["steps"] == 3 and card["clips_seen"] == 6 and len(card["history"]) == 2
    assert card["classes"] == classes and card["heldout"]["clips"] == 4
    assert 0.0 <= card["heldout"]["accuracy"] <= 1.0 and card["wall_seconds"] > 0
    # What made the weights: the command and the releases it ran with.
    assert card["command"] == "ssvad pretrain --steps 3"
    assert card["environment"]["tensorflow"] == tf.__version__

    # A benchmark detector (6 classes, not 8) takes everything but the class-dependent kernel.
    detector = build_detector(
        config=load_config(preset="tiny", overrides={**SMALL, "model.encoder_weights": "none"}), num_classes=6
    )
    report = load_pretrained(detector, result.weights_path)
    assert len(report.skipped) == 1 and report.loaded > 20
    loaded = build_detector(
        config=load_config(preset="tiny", overrides={**SMALL, "model.encoder_weights": str(result.weights_path)}),
        num_classes=6,
    )
    for a, b in zip(detector.encoder.weights, loaded.encoder.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_the_cli_refuses_an_unknown_objective_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["pretrain", "--out", str(tmp_path / "w"), "--objective", "dance", "--steps", "1"])
    assert result.exit_code == 2 and "dance" in result.output
    assert not (tmp_path / "w.weights.h5").exists()


def test_the_cli_offers_exactly_the_library_objectives():
    from ssvad_cli.commands_pretrain import Objective
    from ssvad_keras.pretrain import OBJECTIVES

    assert tuple(o.value for o in Objective) == OBJECTIVES
