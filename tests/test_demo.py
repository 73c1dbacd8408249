"""The demo's comparison table."""

from pathlib import Path

from rich.console import Console

from ssvad_keras.demo import DemoResult, DemoRun, render_demo_table


def test_demo_table_shows_both_runs_side_by_side_in_percent():
    metrics = {"v@0.5": 0.125, "f@0.2": 0.5, "f@0.5": 0.25, "v@0.2": 0.75, "accuracy": 0.4}
    result = DemoResult(
        Path("runs/demo/data"),
        7.0,
        [
            DemoRun("supervised-20", 0.2, Path("a"), 218.0, metrics, metrics),
            DemoRun("semi-supervised-20", 0.2, Path("b"), 333.0, metrics, dict(metrics, accuracy=None)),
        ],
    )
    console = Console(width=120, record=True)
    console.print(render_demo_table(result))
    text = console.export_text()
    assert "supervised-20" in text and "semi-supervised-20" in text
    assert "12.5" in text and "75.0" in text and "40.0" in text and "333s" in text
    assert "localization accuracy" in text and "boxes ground truth" in text
