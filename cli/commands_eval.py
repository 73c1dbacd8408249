"""`ssvad evaluate`: score detections with the paper's protocol and/or the standard ACT protocol.

Two modes share one command:

- file mode (`--annotations` with `--frame-detections` and/or `--tube-detections`): any model's
  `dets.csv` / `tubes.json` scored against an ACT annotation pickle (frame-AP/video-AP);
- model mode (`--checkpoint` with `--data`): runs a trained model over prepared videos through
  `ssvad_keras.inference.evaluate.evaluate_checkpoint` (paper protocol, ACT protocol or both).
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from ssvad_cli._common import WEIGHTS_HELP, Weights, console
from ssvad_keras.errors import ConfigError


class Protocol(enum.StrEnum):
    paper = "paper"
    act = "act"
    both = "both"
    vos = "vos"


class ClassMask(enum.StrEnum):
    predicted = "predicted"
    ground_truth = "ground-truth"
    all = "all"


class EvalPadding(enum.StrEnum):
    zeros = "zeros"
    repeat = "repeat"


class MetricChoice(enum.StrEnum):
    fmap = "fmap"
    vmap = "vmap"
    all = "all"


def evaluate(
    checkpoint: Annotated[
        Path | None, typer.Option(help="Model mode: run directory or model.keras to evaluate.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Model mode: folder written by `ssvad prepare`.")
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(help="Model mode: test or val (default test). File mode: 1-based split of the annotation file (default 1)."),
    ] = None,
    metric: Annotated[
        MetricChoice, typer.Option(help="fmap (frame metrics only), vmap (video metrics only) or all.")
    ] = MetricChoice.all,
    protocol: Annotated[
        Protocol | None,
        typer.Option(help="paper (f-mAP/v-mAP localization accuracy), act (frame-AP/video-AP) or both. "
                          "Default: act in file mode, the config's eval.protocol in model mode."),
    ] = None,
    annotations: Annotated[
        Path | None, typer.Option(help="File mode: ACT annotation pickle (UCF101v2-GT.pkl, JHMDB-GT.pkl).")
    ] = None,
    frame_detections: Annotated[
        Path | None, typer.Option(help="File mode: dets.csv (video,frame,label,score,x1,y1,x2,y2).")
    ] = None,
    tube_detections: Annotated[
        Path | None, typer.Option(help="File mode: tubes.json ({video: [{label, score, boxes}]}).")
    ] = None,
    predictions: Annotated[
        Path | None, typer.Option(help="VOS mode: predicted Annotations/ folder (palette PNGs per video).")
    ] = None,
    meta: Annotated[
        Path | None, typer.Option(help="VOS mode: meta.json of the evaluated split (object ids, categories).")
    ] = None,
    train_meta: Annotated[
        Path | None, typer.Option(help="VOS mode: the training split's meta.json; its categories are 'seen'.")
    ] = None,
    json_stdout: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON on stdout (and nothing else).")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", help="Also write the JSON report to this file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    class_mask: Annotated[
        ClassMask,
        typer.Option(help="Model mode: class capsule the decoder sees: each clip's predicted class "
                          "(the paper's inference), the ground-truth class (an oracle, to separate "
                          "localization from classification errors) or all classes."),
    ] = ClassMask.predicted,
    weights: Annotated[Weights | None, typer.Option(help=WEIGHTS_HELP)] = None,
    eval_padding: Annotated[
        EvalPadding | None,
        typer.Option(help="Model mode: what fills clips past a video's end: zeros (the paper's "
                          "protocol) or the last frame. Default: the run's data.eval_padding."),
    ] = None,
    flip_average: Annotated[
        bool | None,
        typer.Option("--flip-average/--no-flip-average",
                     help="Model mode: average each clip with its mirror (test-time flip). Default: "
                          "the run's eval.flip_average."),
    ] = None,
) -> None:
    """Evaluate detections: the paper's f-mAP/v-mAP (a localization accuracy) and/or the standard
    ACT frame-AP/video-AP.

    File mode: `ssvad evaluate --protocol act --annotations UCF101v2-GT.pkl --split 1
    --frame-detections dets.csv --tube-detections tubes.json --json`.
    Model mode: `ssvad evaluate --checkpoint RUN_DIR --data DIR [--split test|val]
    [--class-mask ground-truth]`.
    VOS mode: `ssvad evaluate --protocol vos --annotations GT/Annotations --predictions
    PRED/Annotations --meta GT/meta.json --train-meta train/meta.json` (YouTube-VOS J and F).
    """
    vos_inputs = predictions is not None or meta is not None or train_meta is not None
    if protocol is Protocol.vos or vos_inputs:
        if protocol is not Protocol.vos:
            raise ConfigError("--predictions/--meta/--train-meta belong to --protocol vos")
        payload, tables = _vos_mode(annotations, predictions, meta, train_meta, checkpoint, data,
                                    progress=not (quiet or json_stdout))
        _emit(payload, tables, json_stdout, json_out)
        return
    file_inputs = annotations is not None or frame_detections is not None or tube_detections is not None
    if checkpoint is not None and file_inputs:
        raise ConfigError("--checkpoint (model mode) cannot be combined with --annotations/--frame-detections/--tube-detections")
    if checkpoint is not None:
        payload, tables = _model_mode(
            checkpoint, data, split, metric, protocol, class_mask, progress=not (quiet or json_stdout),
            weights=None if weights is None else weights.value,
            eval_padding=None if eval_padding is None else eval_padding.value, flip_average=flip_average,
        )
    elif file_inputs:
        if data is not None:
            raise ConfigError("--data belongs to model mode (--checkpoint); file mode reads --annotations")
        if class_mask is not ClassMask.predicted:
            raise ConfigError("--class-mask belongs to model mode (--checkpoint); file mode scores given detections")
        if weights is not None:
            raise ConfigError("--weights belongs to model mode (--checkpoint RUN_DIR)")
        if eval_padding is not None or flip_average is not None:
            raise ConfigError("--eval-padding/--flip-average belong to model mode (--checkpoint); "
                              "file mode scores given detections")
        payload, tables = _file_mode(annotations, split, metric, protocol, frame_detections, tube_detections)
    else:
        raise ConfigError("nothing to evaluate: give --checkpoint and --data (model mode), or --annotations with "
                          "--frame-detections and/or --tube-detections (file mode)")
    _emit(payload, tables, json_stdout, json_out)


def _emit(payload: dict, tables: list, json_stdout: bool, json_out: Path | None) -> None:
    """Write the JSON report and/or print it or the tables."""
    if json_out is not None:
        from ssvad_keras.io import write_json_atomic

        write_json_atomic(json_out, payload)
    if json_stdout:
        typer.echo(json.dumps(payload))
        return
    for table in tables:
        console.print(table)
    if json_out is not None:
        console.print(f"wrote {json_out}")


def _file_mode(annotations: Path | None, split: str | None, metric: MetricChoice, protocol: Protocol | None,
               frame_detections: Path | None, tube_detections: Path | None) -> tuple[dict, list]:
    from ssvad_keras.evaluation import evaluate_detection_files, render_act_table

    if protocol not in (None, Protocol.act):
        raise ConfigError("file mode scores boxes and tubes with the ACT protocol (--protocol act); the paper "
                          "protocol needs predicted masks: use --checkpoint")
    if annotations is None:
        raise ConfigError("file mode needs --annotations (the ACT annotation pickle)")
    try:
        split_number = 1 if split is None else int(split)
    except ValueError:
        raise ConfigError(f"--split in file mode is the annotation file's split number (1, 2, ...), got '{split}'") from None
    if metric is MetricChoice.vmap:
        frame_detections = None
    if metric is MetricChoice.fmap:
        tube_detections = None
    if frame_detections is None and tube_detections is None:
        needed = {"vmap": "--tube-detections", "fmap": "--frame-detections"}.get(metric.value, "a detections file")
        raise ConfigError(f"--metric {metric.value} needs {needed}")
    report = evaluate_detection_files(annotations, split_number, frame_detections, tube_detections)
    return report.to_dict(), [render_act_table(report, metric.value)]


def _vos_mode(annotations: Path | None, predictions: Path | None, meta: Path | None,
              train_meta: Path | None, checkpoint: Path | None, data: Path | None,
              progress: bool) -> tuple[dict, list]:
    """Score a YouTube-VOS prediction folder (`ssvad_keras.evaluation.vos.evaluate_youtube_vos`)."""
    if checkpoint is not None or data is not None:
        raise ConfigError("--protocol vos scores prediction files; run `ssvad vos predict` first "
                          "(no --checkpoint/--data)")
    missing = [name for name, value in (("--annotations", annotations), ("--predictions", predictions),
                                        ("--meta", meta)) if value is None]
    if missing:
        raise ConfigError(f"--protocol vos needs {', '.join(missing)}")
    from ssvad_keras.evaluation.vos import evaluate_youtube_vos, render_vos_table

    report = evaluate_youtube_vos(annotations, predictions, meta, train_meta, progress=progress)
    return report.to_dict(), [render_vos_table(report)]


def _model_mode(checkpoint: Path, data: Path | None, split: str | None, metric: MetricChoice,
                protocol: Protocol | None, class_mask: ClassMask, progress: bool,
                weights: str | None = None, eval_padding: str | None = None,
                flip_average: bool | None = None) -> tuple[dict, list]:
    """Run `ssvad_keras.inference.evaluate.evaluate_checkpoint` and render its report."""
    if data is None:
        raise ConfigError("model mode needs --data (the folder written by `ssvad prepare`)")
    if split not in (None, "test", "val"):
        raise ConfigError(f"--split in model mode is 'test' or 'val', got '{split}'")
    from ssvad_keras.evaluation import render_act_table, render_paper_table
    from ssvad_keras.inference.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(
        checkpoint=checkpoint,
        data=data,
        split=split or "test",
        protocol=None if protocol is None else protocol.value,
        metric=metric.value,
        progress=progress,
        class_mask=class_mask.value.replace("-", "_"),
        weights=weights,
        eval_padding=eval_padding,
        flip_average=flip_average,
    )
    tables = []
    if result.paper is not None:
        table = render_paper_table(result.paper, result.labels, metric.value)
        if result.class_mask != "predicted":
            table.title = f"{table.title} (diagnostic: decoder given {result.class_mask.replace('_', ' ')} class capsules)"
        tables.append(table)
    if result.act is not None:
        tables.append(render_act_table(result.act, metric.value))
    return result.to_dict(), tables


def register(app: typer.Typer) -> None:
    """Add `evaluate` to `app`."""
    app.command("evaluate")(evaluate)
