"""`ssvad evaluate --checkpoint`: both protocols from a saved model, and re-scoring its files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.config import load_config
from ssvad_keras.errors import ConfigError
from ssvad_keras.evaluation import evaluate_detection_files, read_frame_detections_csv
from ssvad_keras.inference.evaluate import evaluate_checkpoint, predict_videos
from ssvad_keras.models import build_detector
from tfrecords_tools.synthetic import CLASSES

from .conftest import TINY_DETECTOR

TINY = {**TINY_DETECTOR, "model.routing": "dynamic"}


@pytest.fixture(scope="module")
def saved_detector(tmp_path_factory, tiny_synthetic_dataset):
    config = load_config(overrides=TINY)
    detector = build_detector(config=config, num_classes=len(CLASSES), seed=0)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    detector.save(path)
    return path, detector, config


def test_predictions_cover_every_frame_of_every_test_video(saved_detector, tiny_synthetic_dataset):
    _, detector, config = saved_detector
    manifest = json.loads((tiny_synthetic_dataset / "dataset.json").read_text())
    test = manifest["splits"]["test"]
    videos = list(predict_videos(detector, tiny_synthetic_dataset, "test", config))
    assert len(videos) == test["num_videos"]
    assert sum(len(v.probs) for v in videos) == test["num_frames"]
    for video in videos:
        assert video.probs.shape[1:] == (32, 32) and video.gt.shape == video.probs.shape
        assert 0.0 <= video.probs.min() and video.probs.max() <= 1.0
        assert video.gt[~video.frame_valid].sum() == 0  # no ground truth where none is annotated
        assert video.label == test["labels"][video.video_index]


def test_model_mode_reports_both_protocols_and_its_files_rescore_identically(
    saved_detector, tiny_synthetic_dataset, tmp_path
):
    path, _, config = saved_detector
    result = evaluate_checkpoint(
        path, tiny_synthetic_dataset, "test", protocol="both", progress=False,
        config=config.model_copy(update={"eval": config.eval.model_copy(update={"tube_score_floor": 0.0})}),
        out_dir=tmp_path / "dets",
    )
    assert result.paper is not None and result.act is not None
    assert result.paper.fmap.shape == (20,) and np.all((0 <= result.paper.fmap) & (result.paper.fmap <= 1))
    assert result.metric_seconds < result.seconds
    report = result.to_dict()
    assert set(report["video_ap"]) >= {"0.2", "0.5", "0.75", "0.5:0.95"}
    dets = read_frame_detections_csv(tmp_path / "dets" / "dets.csv")
    assert len(dets.scores) > 0  # an untrained detector still predicts some foreground
    # The written files, scored as any other model's would be, give the same ACT numbers, once
    # the ground truth comes from the same records (write it as an ACT annotation pickle).
    import pickle

    from ssvad_keras.data import read_annotations
    from ssvad_keras.inference.evaluate import _act_ground_truth

    annotations = list(read_annotations(tiny_synthetic_dataset, "test"))
    gt = _act_ground_truth(report["labels"], [a.video_id for a in annotations], annotations)
    pkl = tmp_path / "gt.pkl"
    pkl.write_bytes(pickle.dumps({
        "labels": list(gt.labels),
        "gttubes": {v: {k: list(t) for k, t in tubes.items()} for v, tubes in gt.tubes.items()},
        "nframes": dict(gt.nframes),
        "train_videos": [[]],
        "test_videos": [list(gt.videos)],
        "resolution": {a.video_id: a.orig_hw for a in annotations},
    }, protocol=2))
    rescored = evaluate_detection_files(
        pkl, 1, tmp_path / "dets" / "dets.csv", tmp_path / "dets" / "tubes.json"
    ).to_dict()
    assert rescored["frame_ap"] == report["frame_ap"]
    assert rescored["video_ap"] == report["video_ap"]


def _random_detector(config, seed: int):
    """A detector with larger random weights than the initialisers', so that which capsule is
    decoded, and which view, visibly matters."""
    detector = build_detector(config=config, num_classes=len(CLASSES), seed=1)
    rng = np.random.default_rng(seed)
    for weight in detector.trainable_weights:
        weight.assign(rng.normal(0.0, 0.3, weight.shape).astype("float32"))
    return detector


def test_class_mask_modes_and_flip_average_decode_the_chosen_capsules_and_views(saved_detector):
    from ssvad_keras.inference.forward import compiled_forward

    detector = _random_detector(saved_detector[2], seed=1)
    clip = np.random.default_rng(0).uniform(size=(3, *detector.clip_shape)).astype("float32")
    predicted = compiled_forward(detector)(clip)
    top = np.argmax(predicted["class_scores"].numpy(), axis=-1)
    wrong = (top + 1) % 5
    labels = np.array([top[0], wrong[1], -1], dtype="int32")  # right, wrong, unlabeled

    def decoded(class_mask):
        inputs = {"clip": clip, "class_mask": class_mask, "use_predicted_mask": np.zeros(3, "float32")}
        logits = detector(inputs, training=False)["loc_logits"].numpy().astype("float64")
        return 1.0 / (1.0 + np.exp(-logits))

    # The compiled forward and the eager call run other float32 kernels (which ones depends on the
    # CPU). These random weights give logits up to ~100, whose last bit is ~1e-5; through the
    # sigmoid that moves a probability by up to ~3e-6. A wrong capsule moves it by ~0.9.
    float32_tol = 1e-5
    oracle = compiled_forward(detector, "ground_truth")(clip, labels)["loc_probs"].numpy()
    onehot = np.eye(len(CLASSES), dtype="float32")[np.maximum(labels, 0)]
    np.testing.assert_allclose(oracle[:2], decoded(onehot)[:2], atol=float32_tol)
    # The right label and no label both decode the predicted class, as plain inference does.
    np.testing.assert_allclose(oracle[[0, 2]], predicted["loc_probs"].numpy()[[0, 2]], atol=float32_tol)
    assert np.abs(oracle[1] - predicted["loc_probs"].numpy()[1]).max() > 1e-4
    every = compiled_forward(detector, "all")(clip, labels)["loc_probs"].numpy()
    np.testing.assert_allclose(every, decoded(np.ones((3, len(CLASSES)), "float32")), atol=float32_tol)

    # eval.flip_average: the mean of the clip's and its flipped-back mirror's outputs, the mirror
    # decoding its own predicted class, or the label's in the oracle mode.
    mirror = clip[:, :, :, ::-1]
    for mode, plain, args in (("predicted", predicted, (clip,)), ("ground_truth", None, (clip, labels))):
        plain = plain or compiled_forward(detector, mode)(*args)
        flipped = compiled_forward(detector, mode)(mirror, *args[1:])
        both = compiled_forward(detector, mode, flip_average=True)(*args)
        np.testing.assert_allclose(
            both["loc_probs"].numpy(),
            (plain["loc_probs"].numpy() + flipped["loc_probs"].numpy()[:, :, :, ::-1]) / 2, atol=1e-5,
        )
        np.testing.assert_allclose(both["class_scores"].numpy(),
                                   (plain["class_scores"].numpy() + flipped["class_scores"].numpy()) / 2, atol=1e-5)
        assert np.abs(both["loc_probs"].numpy() - plain["loc_probs"].numpy()).max() > 1e-3  # the mirror counted


def test_cli_model_mode_prints_json_and_labels_the_class_mask_oracle(saved_detector, tiny_synthetic_dataset, tmp_path,
                                                                   monkeypatch):
    path, _, _ = saved_detector
    args = ["evaluate", "--checkpoint", str(path), "--data", str(tiny_synthetic_dataset), "--protocol", "paper",
            "--metric", "vmap", "--json", "--quiet"]
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 0, plain.output
    payload = json.loads(plain.stdout)  # stderr carries the geometry line
    assert "paper_protocol" in payload and "localization accuracy" in payload["paper_protocol"]["name"]
    assert payload["class_mask"] == "predicted"
    assert payload["inference"] == {"eval_padding": "zeros", "flip_average": False}  # the paper's
    oracle = CliRunner().invoke(app, [*args, "--class-mask", "ground-truth", "--eval-padding", "repeat"])
    assert oracle.exit_code == 0, oracle.output
    oracle_payload = json.loads(oracle.stdout)
    assert oracle_payload["class_mask"] == "ground_truth"
    assert oracle_payload["inference"] == {"eval_padding": "repeat", "flip_average": False}
    # --flip-average reaches evaluate_checkpoint (the flip itself: the class-mask test above).
    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        raise ConfigError("captured")

    monkeypatch.setattr("ssvad_keras.inference.evaluate.evaluate_checkpoint", capture)
    flipped = CliRunner().invoke(app, [*args, "--flip-average"])
    assert flipped.exit_code != 0 and seen["flip_average"] is True and seen["eval_padding"] is None
    monkeypatch.undo()
    refused = CliRunner().invoke(
        app, ["evaluate", "--annotations", str(tmp_path / "gt.pkl"), "--frame-detections", str(tmp_path / "d.csv"),
              "--class-mask", "all"],
    )
    assert refused.exit_code != 0 and isinstance(refused.exception, ConfigError)
    assert "--class-mask belongs to model mode" in str(refused.exception)
