"""The built-in VOS benchmark: multi-object videos in the YouTube-VOS layout (`ssvad prepare
synthetic-vos`).

    <out>/train/JPEGImages/<vid>/00000.jpg ...   every frame
    <out>/train/Annotations/<vid>/00000.png ...  every 5th frame (00000, 00005, ...), as YouTube-VOS
    <out>/train/meta.json                        {"videos": {vid: {"objects": {"1": {"category",
                                                 "frames"}}}}}, frames = annotated frames with it
    <out>/valid/JPEGImages/<vid>/...             every frame
    <out>/valid/Annotations/<vid>/<first>.png    each object's mask on its first-appearance frame only
    <out>/valid/meta.json                        frames = every frame from the first appearance on
    <out>/valid_gt/Annotations/<vid>/...         full ground truth of every frame (our own scoring;
    <out>/valid_gt/meta.json                     YouTube-VOS keeps it on its server)

Objects are textured shapes of a few categories (a shape and a texture kind each; colours are
random, so colour does not give the category away; with `camouflage` they are the background's
own, so colour does not give the object away either) that move, bounce, enter late, leave, and
occlude each other in a fixed depth order, over a slowly panning smooth-noise background. The
categories in `UNSEEN_CATEGORIES` appear only in `valid`, so "unseen" means what it means on
YouTube-VOS. Deterministic per seed (one generator per split and video), NumPy and OpenCV only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ssvad_keras.errors import DataError
from ssvad_keras.evaluation.vos import write_palette_png
from ssvad_keras.io import atomic_path, write_json_atomic
from ssvad_keras.progress import progress_bar

SEEN_CATEGORIES = ("disc", "square", "triangle", "ring")
UNSEEN_CATEGORIES = ("star", "cross")
# Each category's texture kind: shape and texture together make the category.
CATEGORY_TEXTURE = {
    "disc": "blotches", "square": "stripes", "triangle": "checker", "ring": "plain",
    "star": "dots", "cross": "stripes",
}
ANNOTATION_STEP = 5
DEFAULT_FRAME_SIZE = (72, 96)
DEFAULT_TRAIN_VIDEOS = 60
DEFAULT_VALID_VIDEOS = 20
DEFAULT_FRAMES = (24, 40)
# An object "appears" once this many of its pixels are visible.
MIN_VISIBLE_PIXELS = 12
_COMPLETE = ".complete"


@dataclass
class _Object:
    category: str
    colour: np.ndarray
    radius: float
    position: np.ndarray  # (x, y) at frame 0
    velocity: np.ndarray
    spin: float
    angle: float
    enter: int
    leave_after: int | None  # from this frame on it stops bouncing and drifts out
    texture: np.ndarray  # (2r+1, 2r+1) brightness multiplier


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    grid = rng.random((cells, cells)).astype(np.float32)
    return np.clip(cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), 0, 1)


def _texture(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "stripes":
        angle = rng.uniform(0, math.pi)
        base = 0.5 + 0.5 * np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / 4.0)
    elif kind == "checker":
        base = ((xx // 3 + yy // 3) % 2).astype(np.float32)
    elif kind == "dots":
        base = ((np.sin(xx * 1.6) * np.sin(yy * 1.6)) > 0.4).astype(np.float32)
    elif kind == "blotches":
        base = _smooth_noise(rng, (size, size), 4)
    else:
        base = np.full((size, size), 0.5, np.float32)
    return 0.55 + 0.7 * base


def _shape_mask(category: str, radius: float, angle: float, size: int) -> np.ndarray:
    """The category's silhouette, centred in a (size, size) canvas."""
    canvas = np.zeros((size, size), np.uint8)
    c = (size - 1) / 2.0
    r = radius

    def polygon(points):
        pts = np.array([[c + x * math.cos(angle) - y * math.sin(angle),
                         c + x * math.sin(angle) + y * math.cos(angle)] for x, y in points])
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)

    if category == "disc":
        cv2.circle(canvas, (round(c), round(c)), round(r), 1, -1)
    elif category == "ring":
        cv2.circle(canvas, (round(c), round(c)), round(r), 1, -1)
        cv2.circle(canvas, (round(c), round(c)), round(0.5 * r), 0, -1)
    elif category == "square":
        s = 0.8 * r
        polygon([(-s, -s), (s, -s), (s, s), (-s, s)])
    elif category == "triangle":
        polygon([(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)])
    elif category == "star":
        polygon([((r if k % 2 == 0 else 0.45 * r) * math.cos(math.pi * k / 5 - math.pi / 2),
                  (r if k % 2 == 0 else 0.45 * r) * math.sin(math.pi * k / 5 - math.pi / 2))
                 for k in range(10)])
    elif category == "cross":
        a, b = r, 0.35 * r
        polygon([(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a),
                 (-b, b), (-a, b), (-a, -b), (-b, -b)])
    else:
        raise ValueError(f"unknown category {category!r}")
    return canvas.astype(bool)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(120, 256), rng.integers(140, 256)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _make_object(rng, category, frame_size, num_frames, first: bool) -> _Object:
    height, width = frame_size
    radius = rng.uniform(0.13, 0.2) * min(height, width)
    speed = rng.uniform(0.8, 2.2) * min(height, width) / 64
    heading = rng.uniform(0, 2 * math.pi)
    velocity = speed * np.array([math.cos(heading), math.sin(heading)])
    enter = 0 if first or rng.random() < 0.5 else int(rng.integers(3, max(4, num_frames // 2)))
    if enter == 0:
        position = np.array([rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)])
    else:
        # Enters from a random edge, moving inwards, so its first appearance is partial.
        edge = int(rng.integers(0, 4))
        x, y = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
        if edge == 0:
            x, velocity[0] = -0.6 * radius, abs(velocity[0]) + 0.5
        elif edge == 1:
            x, velocity[0] = width + 0.6 * radius, -abs(velocity[0]) - 0.5
        elif edge == 2:
            y, velocity[1] = -0.6 * radius, abs(velocity[1]) + 0.5
        else:
            y, velocity[1] = height + 0.6 * radius, -abs(velocity[1]) - 0.5
        position = np.array([x, y]) - velocity * enter  # where it "would" be at frame 0
    leave_after = int(rng.integers(num_frames // 2, num_frames)) if rng.random() < 0.3 else None
    size = 2 * math.ceil(radius) + 3
    return _Object(
        category, _random_colour(rng), radius, position, velocity,
        spin=rng.uniform(-0.12, 0.12), angle=rng.uniform(0, 2 * math.pi), enter=enter,
        leave_after=leave_after, texture=_texture(CATEGORY_TEXTURE[category], rng, size),
    )


def _trajectory(obj: _Object, num_frames: int, frame_size: tuple[int, int]) -> np.ndarray:
    """(num_frames, 2) centre positions: straight lines bouncing off the walls once inside."""
    height, width = frame_size
    positions = np.zeros((num_frames, 2))
    position, velocity = obj.position + obj.velocity * obj.enter, obj.velocity.copy()
    for t in range(num_frames):
        if t >= obj.enter:
            positions[t] = position
            position = position + velocity
            bouncing = obj.leave_after is None or t < obj.leave_after
            inside_x = obj.radius <= positions[t][0] <= width - obj.radius
            inside_y = obj.radius <= positions[t][1] <= height - obj.radius
            if bouncing and inside_x and not obj.radius <= position[0] <= width - obj.radius:
                velocity[0] = -velocity[0]
            if bouncing and inside_y and not obj.radius <= position[1] <= height - obj.radius:
                velocity[1] = -velocity[1]
        else:
            positions[t] = (np.nan, np.nan)
    return positions


def _paste(canvas: np.ndarray, patch: np.ndarray, top: int, left: int) -> tuple[slice, slice, slice, slice] | None:
    """Slices of `canvas` and `patch` where a patch placed at (top, left) overlaps the canvas."""
    h, w = canvas.shape[:2]
    ph, pw = patch.shape[:2]
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + ph, h), min(left + pw, w)
    if y0 >= y1 or x0 >= x1:
        return None
    return slice(y0, y1), slice(x0, x1), slice(y0 - top, y1 - top), slice(x0 - left, x1 - left)


def render_video(
    rng: np.random.Generator, categories: tuple[str, ...], frame_size: tuple[int, int],
    num_frames: int, num_objects: int, camouflage: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Render one video.

    Args:
        rng: the video's generator.
        categories: the categories its objects are drawn from.
        frame_size: (height, width).
        num_frames: frames.
        num_objects: objects (ids 1..num_objects, in depth order: higher ids in front).
        camouflage: the chance that an object takes one of the background's two colours instead
            of its own (its texture then averages to that colour: only its texture, shape and
            motion set it apart). 0 draws nothing more from `rng`, so a video is the same as
            without the option.

    Returns:
        frames (T, H, W, 3) uint8 RGB, ids (T, H, W) uint8 visible object ids, and each
        object's category. Before an object shows `MIN_VISIBLE_PIXELS` pixels it is left out
        of the ids (it has not "appeared" yet).
    """
    height, width = frame_size
    pan = rng.uniform(-0.6, 0.6, 2)
    margin = int(math.ceil(np.abs(pan).max() * num_frames)) + 1
    big = (height + 2 * margin, width + 2 * margin)
    bg_a, bg_b = _random_colour(rng) * 0.55, _random_colour(rng) * 0.55
    blend = _smooth_noise(rng, big, int(rng.integers(4, 9)))[..., None]
    background = bg_a * blend + bg_b * (1 - blend)
    background = background * (0.85 + 0.3 * _smooth_noise(rng, big, 24)[..., None])
    objects = [_make_object(rng, categories[int(rng.integers(len(categories)))], frame_size,
                            num_frames, first=k == 0) for k in range(num_objects)]
    if camouflage > 0:
        for obj in objects:
            if rng.random() < camouflage:
                obj.colour = (bg_a if rng.random() < 0.5 else bg_b) / float(obj.texture.mean())
    paths = [_trajectory(o, num_frames, frame_size) for o in objects]
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    ids = np.zeros((num_frames, height, width), np.uint8)
    appeared = [False] * num_objects
    for t in range(num_frames):
        oy, ox = margin + int(round(pan[1] * t)), margin + int(round(pan[0] * t))
        frame = background[oy : oy + height, ox : ox + width].copy()
        visible = np.zeros((height, width), np.uint8)
        for k, (obj, path) in enumerate(zip(objects, paths, strict=True), start=1):
            if np.isnan(path[t, 0]):
                continue
            size = obj.texture.shape[0]
            silhouette = _shape_mask(obj.category, obj.radius, obj.angle + obj.spin * t, size)
            top = int(round(path[t, 1])) - size // 2
            left = int(round(path[t, 0])) - size // 2
            where = _paste(frame, silhouette, top, left)
            if where is None:
                continue
            fy, fx, py, px = where
            inside = silhouette[py, px]
            colour = obj.colour * obj.texture[py, px][..., None]
            frame[fy, fx][inside] = np.clip(colour, 0, 255)[inside]
            visible[fy, fx][inside] = k
        for k in range(1, num_objects + 1):
            appeared[k - 1] = appeared[k - 1] or int((visible == k).sum()) >= MIN_VISIBLE_PIXELS
            if not appeared[k - 1]:
                visible[visible == k] = 0
        noise = rng.normal(0, 4.0, frame.shape)
        frames[t] = np.clip(frame + noise, 0, 255).astype(np.uint8)
        ids[t] = visible
    return frames, ids, [o.category for o in objects]


def _accept(ids: np.ndarray, num_objects: int, min_frames: int) -> bool:
    """Every object is visible on at least `min_frames` frames."""
    counts = [(ids == k).any(axis=(1, 2)).sum() for k in range(1, num_objects + 1)]
    return min(counts) >= min_frames


def _write_frames(folder: Path, frames: np.ndarray) -> list[str]:
    folder.mkdir(parents=True)
    stems = [f"{t:05d}" for t in range(len(frames))]
    for stem, frame in zip(stems, frames, strict=True):
        cv2.imwrite(str(folder / f"{stem}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
    return stems


def _generate_video(split: str, index: int, seed: int, frame_size, frames_range, camouflage: float = 0.0):
    rng = np.random.default_rng([seed, 1 if split == "valid" else 0, index])
    categories = SEEN_CATEGORIES if split == "train" else SEEN_CATEGORIES + UNSEEN_CATEGORIES
    while True:
        num_frames = int(rng.integers(frames_range[0], frames_range[1] + 1))
        num_objects = int(rng.integers(2, 4))
        frames, ids, cats = render_video(rng, categories, frame_size, num_frames, num_objects, camouflage)
        if _accept(ids, num_objects, min_frames=max(8, num_frames // 3)):
            return frames, ids, cats


def _write_video(root: Path, split: str, video_id: str, frames, ids, cats) -> dict:
    """Write one video's frames and annotations; return its meta entries per folder."""
    stems = _write_frames(root / split / "JPEGImages" / video_id, frames)
    present = {k: [s for s, m in zip(stems, ids, strict=True) if (m == k).any()]
               for k in range(1, len(cats) + 1)}
    if split == "train":
        folder = root / split / "Annotations" / video_id
        folder.mkdir(parents=True)
        annotated = stems[::ANNOTATION_STEP]
        for t in range(0, len(stems), ANNOTATION_STEP):
            write_palette_png(folder / f"{stems[t]}.png", ids[t])
        objects = {str(k): {"category": c, "frames": [s for s in present[k] if s in annotated]}
                   for k, c in enumerate(cats, start=1)}
        return {"train": {"objects": {k: v for k, v in objects.items() if v["frames"]}}}
    given, full = root / "valid" / "Annotations" / video_id, root / "valid_gt" / "Annotations" / video_id
    given.mkdir(parents=True)
    full.mkdir(parents=True)
    firsts = {k: present[k][0] for k in present}
    for t, stem in enumerate(stems):
        write_palette_png(full / f"{stem}.png", ids[t])
        starting = [k for k, first in firsts.items() if first == stem]
        if starting:
            write_palette_png(given / f"{stem}.png", np.where(np.isin(ids[t], starting), ids[t], 0))
    objects = {str(k): {"category": c, "frames": [s for s in stems if s >= firsts[k]]}
               for k, c in enumerate(cats, start=1)}
    return {"valid": {"objects": objects}}


def generate_synthetic_vos(
    out: str | os.PathLike,
    seed: int = 0,
    *,
    num_train: int = DEFAULT_TRAIN_VIDEOS,
    num_valid: int = DEFAULT_VALID_VIDEOS,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    frames: tuple[int, int] = DEFAULT_FRAMES,
    camouflage: float = 0.0,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Generate the synthetic VOS benchmark in the YouTube-VOS layout (module docstring).

    Args:
        out: folder to create (atomically: it appears only when complete).
        seed: makes every video reproducible.
        num_train: training videos (categories `SEEN_CATEGORIES`).
        num_valid: validation videos (seen and `UNSEEN_CATEGORIES`).
        frame_size: (height, width) of the frames.
        frames: (min, max) frames per video.
        camouflage: the chance (0..1) that an object wears the background's colours
            (`render_video`); 0, the default, is the benchmark as it always was.
        overwrite: replace a complete `out`.
        progress: show a rich progress bar.

    Returns:
        `out`.

    Raises:
        DataError: `out` exists and is not a complete benchmark of this kind (or it is and
            `overwrite` is False).

    Example:

    >>> generate_synthetic_vos("data/synthetic-vos", seed=0)  # doctest: +SKIP
    """
    out = Path(out)
    if out.exists() and not overwrite:
        what = "holds a synthetic VOS benchmark" if (out / _COMPLETE).is_file() else "exists"
        raise DataError(f"output folder {what}; pass --overwrite to replace it", out)
    if frames[0] < 2 or frames[1] < frames[0]:
        raise DataError(f"frames per video must be 2 <= min <= max, got {frames}")
    if not 0.0 <= camouflage <= 1.0:
        raise DataError(f"camouflage must be in [0, 1], got {camouflage}")
    metas = {"train": {}, "valid": {}}
    jobs = [("train", i) for i in range(num_train)] + [("valid", i) for i in range(num_valid)]
    with atomic_path(out, directory=True) as tmp, progress_bar(progress) as bar:
        task = bar.add_task("synthetic VOS videos", total=len(jobs), info="")
        for split, index in jobs:
            video_id = f"{split}_{index:04d}"
            video = _generate_video(split, index, seed, tuple(frame_size), frames, camouflage)
            entry = _write_video(tmp, split, video_id, *video)
            metas[split][video_id] = entry[split]
            bar.update(task, advance=1)
        write_json_atomic(tmp / "train" / "meta.json", {"videos": metas["train"]})
        write_json_atomic(tmp / "valid" / "meta.json", {"videos": metas["valid"]})
        write_json_atomic(tmp / "valid_gt" / "meta.json", {"videos": metas["valid"]})
        write_json_atomic(tmp / _COMPLETE, {"seed": seed, "frame_size": list(frame_size),
                                            "train": num_train, "valid": num_valid,
                                            "camouflage": camouflage})
    return out
