"""`ssvad prepare ...`: convert a dataset (or generate the synthetic one) into TFRecords."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ssvad_cli._common import console
from tfrecords_tools import jhmdb, synthetic, synthetic_vos, ucf101, youtube_vos
from tfrecords_tools.writer import ConversionSummary

prepare_app = typer.Typer(
    help="Convert a dataset into TFRecord shards, a dataset.json manifest and split files.",
    no_args_is_help=True,
)

Root = Annotated[Path, typer.Option("--root", help="Folder holding the dataset as distributed.")]
Out = Annotated[Path, typer.Option("--out", help="Output folder (created atomically).")]
FrameSize = Annotated[
    tuple[int, int] | None,
    typer.Option("--frame-size", metavar="H W", help="Stored frame height and width (default: per dataset)."),
]
Workers = Annotated[
    int | None, typer.Option("--workers", min=1, help="Processes converting videos in parallel (default: 1).")
]
Shards = Annotated[
    int | None, typer.Option("--shards", min=1, help="Shards per split (default: about 1 per 64 videos).")
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace a complete output folder.")]
Labeled = Annotated[
    list[float] | None,
    typer.Option(
        "--labeled",
        help="Labeled fraction of the training videos for a split file; repeatable (default: per dataset).",
    ),
]
Seed = Annotated[int | None, typer.Option("--seed", help="Seed of the labeled/unlabeled/val split (default: 0).")]
ValFraction = Annotated[
    float | None,
    typer.Option("--val-fraction", help="Share of training videos held out for validation (default: 0.1)."),
]
Strict = Annotated[
    bool, typer.Option("--strict", help="Refuse boxes partly outside the image instead of clipping them.")
]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]


def converter_options(**options) -> dict:
    """The options the user gave (those not None): the converters own every default, so a
    command passes only what was typed."""
    return {name: value for name, value in options.items() if value is not None}


def print_summary(summary: ConversionSummary) -> None:
    """Print what a conversion wrote (or found complete) as a table plus a few lines."""
    if summary.already_complete:
        console.print(
            f"{summary.out} is already complete; nothing converted (use --overwrite to redo it).",
            soft_wrap=True, highlight=False,
        )
    table = Table(title=f"{summary.source} -> {summary.out}")
    for column in ("split", "videos", "frames", "shards"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for name, split in summary.splits.items():
        table.add_row(name, str(split.videos), str(split.frames), str(split.shards))
    table.add_row("total", str(summary.num_videos), str(summary.num_frames),
                  str(sum(s.shards for s in summary.splits.values())), style="bold")
    console.print(table)
    clipped = summary.clipped_boxes
    if clipped:
        shown = ", ".join(f"{video} ({count})" for video, count in sorted(clipped.items())[:10])
        more = f" and {len(clipped) - 10} more" if len(clipped) > 10 else ""
        console.print(
            f"clipped boxes: {sum(clipped.values())} in {len(clipped)} videos: {shown}{more}",
            soft_wrap=True, highlight=False,
        )
    else:
        console.print("clipped boxes: 0")
    for path in summary.split_files:
        console.print(f"split file: {path}", soft_wrap=True, highlight=False)
    console.print(f"time: {summary.seconds:.1f} s")


@prepare_app.command("ucf101-24")
def prepare_ucf101_24(
    root: Root,
    out: Out,
    frame_size: FrameSize = None,
    split_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--split-file",
            help="The paper's released split pickle (e.g. train_annots_20_labeled.pkl); repeatable. "
            "Written as splits/labeled-from-file.json.",
        ),
    ] = None,
    strict: Strict = False,
    workers: Workers = None,
    shards: Shards = None,
    overwrite: Overwrite = False,
    labeled: Labeled = None,
    seed: Seed = None,
    val_fraction: ValFraction = None,
    quiet: Quiet = False,
) -> None:
    """UCF101-24 (ACT layout: UCF101v2-GT.pkl + rgb-images/ or videos/)."""
    print_summary(ucf101.convert_ucf101_24(root, out, strict=strict, overwrite=overwrite, progress=not quiet, **converter_options(
        frame_size=frame_size, split_files=split_file, workers=workers, shards=shards, labeled=labeled,
        seed=seed, val_fraction=val_fraction,
    )))


@prepare_app.command("jhmdb-21")
def prepare_jhmdb_21(
    root: Root,
    out: Out,
    split: Annotated[
        int | None, typer.Option("--split", min=1, max=3, help="Official split 1, 2 or 3 (default: 1).")
    ] = None,
    frame_size: FrameSize = None,
    strict: Strict = False,
    workers: Workers = None,
    shards: Shards = None,
    overwrite: Overwrite = False,
    labeled: Labeled = None,
    seed: Seed = None,
    val_fraction: ValFraction = None,
    quiet: Quiet = False,
) -> None:
    """JHMDB-21 (JHMDB-GT.pkl + Frames/ + puppet_mask/)."""
    print_summary(jhmdb.convert_jhmdb_21(root, out, strict=strict, overwrite=overwrite, progress=not quiet, **converter_options(
        split=split, frame_size=frame_size, workers=workers, shards=shards, labeled=labeled, seed=seed,
        val_fraction=val_fraction,
    )))


@prepare_app.command("youtube-vos")
def prepare_youtube_vos(
    root: Root,
    out: Out,
    frame_size: FrameSize = None,
    workers: Workers = None,
    shards: Shards = None,
    overwrite: Overwrite = False,
    labeled: Labeled = None,
    seed: Seed = None,
    val_fraction: ValFraction = None,
    quiet: Quiet = False,
) -> None:
    """YouTube-VOS (train|valid/JPEGImages, Annotations palette PNGs, meta.json)."""
    print_summary(youtube_vos.convert_youtube_vos(root, out, overwrite=overwrite, progress=not quiet, **converter_options(
        frame_size=frame_size, workers=workers, shards=shards, labeled=labeled, seed=seed,
        val_fraction=val_fraction,
    )))


AnnotationChoice = enum.StrEnum("AnnotationChoice", {name: name for name in synthetic.ANNOTATIONS})
VocabularyChoice = enum.StrEnum("VocabularyChoice", {name: name for name in synthetic.VOCABULARIES})


@prepare_app.command("synthetic")
def prepare_synthetic(
    out: Out,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the videos and of the split (default: 0).")] = None,
    vocabulary: Annotated[
        VocabularyChoice,
        typer.Option(
            help="scenes: classes differ by actor, object, scene and motion (UCF101-24-like, the "
            "default benchmark); motion: classes differ by motion only; pretrain: the disjoint "
            "classes `ssvad pretrain` draws from.",
        ),
    ] = VocabularyChoice[synthetic.DEFAULT_VOCABULARY],
    videos: Annotated[
        int | None, typer.Option("--videos", min=1, help="Training videos [default: the vocabulary's].")
    ] = None,
    test_videos: Annotated[
        int | None, typer.Option("--test-videos", min=1, help="Test videos [default: the vocabulary's].")
    ] = None,
    frame_size: FrameSize = None,
    annotation: Annotated[
        AnnotationChoice,
        typer.Option(
            help="masks: silhouettes and boxes (JHMDB-21-like); boxes: boxes only, used as filled "
            "boxes (UCF101-24-like, what `make demo` trains on).",
        ),
    ] = AnnotationChoice.masks,
    workers: Workers = None,
    shards: Shards = None,
    overwrite: Overwrite = False,
    labeled: Labeled = None,
    val_fraction: ValFraction = None,
    quiet: Quiet = False,
) -> None:
    """The built-in synthetic benchmark, generated procedurally, no downloads."""
    print_summary(synthetic.generate_synthetic(
        out, annotation=annotation.value, vocab=vocabulary.value, overwrite=overwrite,
        progress=not quiet, **converter_options(
            seed=seed, num_train=videos, num_test=test_videos, frame_size=frame_size, workers=workers,
            shards=shards, labeled=labeled, val_fraction=val_fraction,
        ),
    ))


@prepare_app.command("synthetic-vos")
def prepare_synthetic_vos(
    out: Out,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the videos (default: 0).")] = None,
    videos: Annotated[
        int | None,
        typer.Option("--videos", min=1, help=f"Training videos (default: {synthetic_vos.DEFAULT_TRAIN_VIDEOS})."),
    ] = None,
    valid_videos: Annotated[
        int | None,
        typer.Option("--valid-videos", min=1, help=f"Validation videos (default: {synthetic_vos.DEFAULT_VALID_VIDEOS})."),
    ] = None,
    frame_size: FrameSize = None,
    camouflage: Annotated[
        float | None,
        typer.Option("--camouflage", min=0.0, max=1.0,
                     help="Chance that an object wears the background's colours (default: 0)."),
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """The built-in VOS benchmark in the YouTube-VOS layout (train/, valid/, valid_gt/ with full
    ground truth): moving textured shapes, some categories only in valid ("unseen")."""
    path = synthetic_vos.generate_synthetic_vos(out, overwrite=overwrite, progress=not quiet, **converter_options(
        seed=seed, num_train=videos, num_valid=valid_videos, frame_size=frame_size, camouflage=camouflage,
    ))
    console.print(f"wrote {path} (train/, valid/, valid_gt/)", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add `ssvad prepare` and its sources to `app`."""
    app.add_typer(
        prepare_app,
        name="prepare",
        help="Convert UCF101-24, JHMDB-21, YouTube-VOS or the synthetic benchmark to TFRecords.",
    )
