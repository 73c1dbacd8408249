"""Rich tables for both protocols (used by `ssvad evaluate` in file and model mode).

Numbers are shown in percent with one decimal, as the papers print them; the JSON reports keep
fractions in 0..1. Titles name the protocol so the paper's localization accuracy is never read
as an AP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from rich.table import Table

from ssvad_keras.evaluation.act import VIDEO_AP_THRESHOLDS, ActReport
from ssvad_keras.evaluation.paper import PAPER_PROTOCOL_NAME, PaperMetrics

Metric = Literal["fmap", "vmap", "all"]


def _percent(value: float | None) -> str:
    if value is None or np.isnan(value):
        return "-"
    return f"{100 * value:.1f}"


def _class_names(names: Sequence[str] | None, count: int) -> list[str]:
    return list(names) if names is not None else [f"class {c}" for c in range(count)]


def render_paper_table(metrics: PaperMetrics, class_names: Sequence[str] | None = None,
                       metric: Metric = "all") -> Table:
    """Per-class and mean f-mAP / v-mAP at 0.2 and 0.5 of the paper's protocol.

    Args:
        metrics: result of `paper_metrics` or `PaperMetricAccumulator.result()`.
        class_names: names of the C classes; default `class 0`, `class 1`, ...
        metric: `fmap` or `vmap` to show only that one, `all` for both.

    Returns:
        A `rich.table.Table`; classes without ground truth show `-`. The caption carries the
        accuracy and the counts.

    Example:

    >>> Console().print(render_paper_table(m, labels))  # doctest: +SKIP
    """
    columns = []
    if metric in ("fmap", "all"):
        columns += [("f-mAP@0.2", metrics.per_class_fap, metrics.fmap, 0.2),
                    ("f-mAP@0.5", metrics.per_class_fap, metrics.fmap, 0.5)]
    if metric in ("vmap", "all"):
        columns += [("v-mAP@0.2", metrics.per_class_vap, metrics.vmap, 0.2),
                    ("v-mAP@0.5", metrics.per_class_vap, metrics.vmap, 0.5)]
    table = Table(title=f"{PAPER_PROTOCOL_NAME}, %")
    table.add_column("class")
    for name, *_ in columns:
        table.add_column(name, justify="right")
    names = _class_names(class_names, metrics.per_class_fap.shape[0])
    indices = [metrics.threshold_index(t) for *_, t in columns]
    for c, name in enumerate(names):
        table.add_row(name, *(_percent(per_class[c, k]) for (_, per_class, _, _), k in zip(columns, indices, strict=True)))
    table.add_section()
    table.add_row("mean (classes present)", *(_percent(mean[k]) for (_, _, mean, _), k in zip(columns, indices, strict=True)),
                  style="bold")
    accuracy = "n/a" if metrics.accuracy is None else _percent(metrics.accuracy)
    table.caption = f"accuracy {accuracy} %, {metrics.num_videos} videos, {metrics.num_frames} ground-truth frames"
    return table


def render_act_table(report: ActReport, metric: Metric = "all") -> Table:
    """Per-class and mean frame-AP / video-AP of the standard (ACT) protocol.

    Args:
        report: result of `act_report` or `evaluate_detection_files`.
        metric: `fmap` for frame-AP only, `vmap` for video-AP only, `all` for both.

    Returns:
        A `rich.table.Table` with frame-AP@0.5 and video-AP@0.2/0.5/0.75/0.5:0.95 (those
        available) per class and their mean over all classes.

    Example:

    >>> Console().print(render_act_table(report))  # doctest: +SKIP
    """
    columns: list[tuple[str, np.ndarray, float]] = []
    if report.frame is not None and metric in ("fmap", "all"):
        for t, result in report.frame.items():
            columns.append((f"frame-AP@{t:g}", result.per_class, result.mean))
    if report.video is not None and metric in ("vmap", "all"):
        for t in VIDEO_AP_THRESHOLDS:
            columns.append((f"video-AP@{t:g}", report.video[t].per_class, report.video[t].mean))
        columns.append(("video-AP@0.5:0.95", report.video_per_class_50_95(), report.video_map_50_95))
    table = Table(title="frame-AP/video-AP (ACT standard protocol), %")
    # Class names stay whole on a narrow terminal (80 columns, CI logs): the numbers' headers wrap.
    total = "mAP (all classes)"
    table.add_column("class", no_wrap=True, min_width=max(len(n) for n in (*report.labels, total)))
    for name, *_ in columns:
        table.add_column(name, justify="right")
    for c, name in enumerate(report.labels):
        table.add_row(name, *(_percent(per_class[c]) for _, per_class, _ in columns))
    table.add_section()
    table.add_row(total, *(_percent(mean) for *_, mean in columns), style="bold")
    return table
