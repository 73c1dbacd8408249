"""End to end: `ssvad vos train` (2 steps) -> `ssvad vos predict` -> `ssvad evaluate --protocol vos`."""

from __future__ import annotations

import json
import sys
import zipfile

import pytest
from PIL import Image

from ssvad_cli.main import main
from ssvad_keras.config import to_toml
from ssvad_keras.evaluation.vos import read_vos_meta
from ssvad_keras.vos.config import vos_configs_dir
from tests.vos.conftest import TINY_VOS_OVERRIDES


def _run(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["ssvad", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


# 6-frame clips: a labeled clip needs a later annotated frame (every 5th) inside it. Two epochs
# of one step: the cosine schedule's second epoch.
CLI_OVERRIDES = {
    **TINY_VOS_OVERRIDES,
    "data.clip_length": 6,
    "train.epochs": 2,
    "train.steps_per_epoch": 1,
    "train.lr_schedule": "cosine",
    "train.min_learning_rate": 0.0,
}


def _tiny_config(path):
    """The semi-supervised 10 % file with the tiny test sizes on top."""
    tree: dict = {"base": str(vos_configs_dir() / "semi_supervised_10.toml")}
    for dotted, value in CLI_OVERRIDES.items():
        section, key = dotted.split(".")
        tree.setdefault(section, {})[key] = value
    path.write_text(to_toml(tree))
    return path


def test_train_predict_evaluate(tiny_vos_dataset, tmp_path, monkeypatch, capsys):
    data, run, pred = tiny_vos_dataset, tmp_path / "run", tmp_path / "pred"
    config = _tiny_config(tmp_path / "tiny.toml")
    code, _, err = _run(monkeypatch, capsys, "vos", "train", "--data", data, "--config", config,
                        "--out", run, "--quiet")
    assert code == 0, err
    state = json.loads((run / "state.json").read_text())
    assert state["epochs_done"] == 2 and state["select_metric"] == "val_jf"
    assert {"bce", "dice", "loc_consistency", "val_jf"} <= set(state["history"][0])
    # train.lr_schedule = "cosine": half the rate in the second of two epochs.
    first, second = (epoch["learning_rate"] for epoch in state["history"])
    assert second == pytest.approx(first / 2) and state["schedule"]["kind"] == "cosine"
    assert (run / "best.keras").is_file() and any((run / "logs").iterdir())

    code, _, err = _run(monkeypatch, capsys, "vos", "predict", "--checkpoint", run, "--data", data,
                        "--split", "valid", "--out", pred, "--quiet")
    assert code == 0, err
    meta = read_vos_meta(data / "valid" / "meta.json")
    written = sorted(p.relative_to(pred).as_posix() for p in (pred / "Annotations").rglob("*.png"))
    expected = []
    for video, objects in meta.items():
        stems = sorted(p.stem for p in (data / "valid" / "JPEGImages" / video).glob("*.jpg"))
        first = min(o.frames[0] for o in objects.values())
        expected += [f"Annotations/{video}/{s}.png" for s in stems if s >= first]
    assert written == sorted(expected)
    with Image.open(pred / written[-1]) as image:
        assert image.mode == "P" and image.size == (36, 24)  # the original resolution (W, H)
    with zipfile.ZipFile(tmp_path / "pred.zip") as archive:
        assert sorted(archive.namelist()) == written

    code, out, err = _run(monkeypatch, capsys, "evaluate", "--protocol", "vos",
                          "--annotations", data / "valid_gt" / "Annotations",
                          "--predictions", pred / "Annotations", "--meta", data / "valid_gt" / "meta.json",
                          "--train-meta", data / "train" / "meta.json", "--json")
    assert code == 0, err
    report = json.loads(out)
    for key in ("seen", "unseen"):
        assert 0.0 <= report["J"][key] <= 1.0 and 0.0 <= report["F"][key] <= 1.0
    assert 0.0 <= report["overall"] <= 1.0
    assert len(report["per_object"]) == sum(len(o) for o in meta.values())

    # A resume may not change what the run is.
    code, _, err = _run(monkeypatch, capsys, "vos", "train", "--resume", run, "--labeled", "0.2")
    assert code != 0 and "--labeled" in err and len(err.strip().splitlines()) == 1


def test_prepare_synthetic_vos_refuses_an_existing_folder(tiny_vos_dataset, monkeypatch, capsys):
    code, _, err = _run(monkeypatch, capsys, "prepare", "synthetic-vos", "--out", tiny_vos_dataset, "--quiet")
    assert code != 0 and "--overwrite" in err and str(tiny_vos_dataset) in err


def test_prepare_synthetic_vos_camouflage(tmp_path, monkeypatch, capsys):
    out = tmp_path / "camo"
    code, _, err = _run(monkeypatch, capsys, "prepare", "synthetic-vos", "--out", out, "--videos", "2",
                        "--valid-videos", "1", "--frame-size", "24", "36", "--camouflage", "1", "--quiet")
    assert code == 0, err
    assert json.loads((out / ".complete").read_text())["camouflage"] == 1.0
    code, _, err = _run(monkeypatch, capsys, "prepare", "synthetic-vos", "--out", tmp_path / "bad",
                        "--camouflage", "2", "--quiet")
    assert code != 0 and "--camouflage" in err and not (tmp_path / "bad").exists()
