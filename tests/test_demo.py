"""The demo's comparison table, its gap line and summary.json layout."""

import json
from pathlib import Path

from rich.console import Console

from ssvad_keras.config import TrainConfig
from ssvad_keras.demo import DemoResult, DemoRun, gap_line, kept_model, render_demo_table


def _metrics(v05, **more):
    return {"v@0.5": v05, "f@0.2": 0.5, "f@0.5": 0.25, "v@0.2": 0.75, "accuracy": 0.4, **more}


def _result(runs=("supervised-20", "semi-supervised-20", "supervised-100")):
    values = {"supervised-20": 0.125, "semi-supervised-20": 0.3, "supervised-100": 0.6}
    seconds = {"supervised-20": 218.0, "semi-supervised-20": 333.0, "supervised-100": 240.0}
    return DemoResult(
        Path("runs/demo/data"), 7.0,
        [DemoRun(n, 1.0 if n.endswith("100") else 0.2, Path(n), seconds[n], _metrics(values[n]),
                 _metrics(values[n])) for n in runs],
    )


def test_demo_table_shows_the_runs_side_by_side_in_percent_with_the_gap_line():
    console = Console(width=140, record=True)
    console.print(render_demo_table(_result()))
    text = console.export_text()
    assert "supervised-20" in text and "semi-supervised-20" in text and "supervised-100" in text
    assert "12.5" in text and "75.0" in text and "40.0" in text and "333s" in text
    assert "localization accuracy" in text and "boxes ground truth" in text
    # (30.0 - 12.5) / (60.0 - 12.5) = 37 %
    assert "+17.5 points" in text and "closing 37 %" in text


def test_gap_share_needs_all_three_runs_and_a_positive_gap():
    assert abs(_result().gap_closed() - 0.175 / 0.475) < 1e-9
    assert _result(("supervised-20", "semi-supervised-20")).gap_closed() is None
    assert "over supervised-20" in gap_line(_result(("supervised-20", "semi-supervised-20")))
    no_gap = _result()
    no_gap.runs[2].test["v@0.5"] = 0.1
    assert no_gap.gap_closed() is None and "n/a (no gap)" in gap_line(no_gap)


def test_summary_json_holds_every_run_in_fractions():
    summary = json.loads(json.dumps(_result().to_dict()))
    assert set(summary["runs"]) == {"supervised-20", "semi-supervised-20", "supervised-100"}
    run = summary["runs"]["semi-supervised-20"]
    assert set(run["test"]) == {"f@0.2", "f@0.5", "v@0.2", "v@0.5", "accuracy"}
    assert run["test"]["v@0.5"] == 0.3 and run["train_seconds"] == 333.0 and "val" in run
    # The numbers depend on the TensorFlow and Keras releases, so the summary names them.
    assert {"tensorflow", "keras", "numpy", "python", "ssvad_keras"} <= set(summary["environment"])


def test_the_caption_says_which_model_was_evaluated_and_whether_runs_shared_the_machine():
    result = _result()
    for run in result.runs:
        run.kept = kept_model(TrainConfig(keep_checkpoint="last"))
    result.jobs = 2
    console = Console(width=200, record=True)
    console.print(render_demo_table(result))
    text = console.export_text()
    assert "model evaluated per run: last epoch" in text and "2 runs at a time" in text
    assert kept_model(TrainConfig(select_metric="val_fmap@0.5")) == "best val f-mAP@0.5"
    summary = result.to_dict()
    assert summary["jobs"] == 2 and summary["runs"]["supervised-20"]["kept"] == "last epoch"
