"""Colours, textures and scene backgrounds of the synthetic benchmark (NumPy and OpenCV only)."""

from __future__ import annotations

import math

import cv2
import numpy as np

# Scene families: what a UCF101-24 class's setting looks like (court, pool, ...). "clutter" is the
# motion-only benchmark's neutral canvas, where colour carries no class information.
SCENES = ("clutter", "court", "field", "pool", "road", "stage", "snow", "wall")

# Base colours (RGB) per scene family: the two colours of the low-frequency blend, and the colour
# of the family's markings (court lines, lane ropes, road dashes, ...).
_SCENE_COLOURS = {
    "court": ((176, 120, 70), (150, 96, 52), (235, 235, 225)),
    "field": ((70, 140, 60), (96, 160, 72), (230, 235, 230)),
    "pool": ((40, 120, 190), (70, 160, 210), (220, 60, 60)),
    "road": ((110, 110, 112), (140, 138, 135), (240, 220, 80)),
    "stage": ((35, 30, 45), (60, 50, 70), (200, 190, 160)),
    "snow": ((225, 230, 240), (195, 210, 230), (120, 140, 170)),
    "wall": ((150, 110, 95), (125, 90, 80), (90, 80, 70)),
}


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a `cells` x `cells` random grid upsampled bicubically."""
    grid = rng.random((cells, cells)).astype(np.float32)
    noise = cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(noise, 0.0, 1.0)


def random_colour(rng: np.random.Generator, hue: tuple[int, int] = (0, 180),
                  saturation: tuple[int, int] = (40, 256), value: tuple[int, int] = (60, 256)) -> np.ndarray:
    """An RGB colour (float32) drawn in an HSV box (OpenCV hue units, 0-180)."""
    h = rng.integers(hue[0], hue[1]) % 180
    hsv = np.array([[[h, rng.integers(*saturation), rng.integers(*value)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A brightness multiplier in about [0.6, 1.3]: stripes, blotches or fine noise."""
    height, width = shape
    kind = rng.integers(0, 3)
    if kind == 0:
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(2.5, 7.0) * max(1.0, min(shape) / 64)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        phase = (xx * math.cos(angle) + yy * math.sin(angle)) * (2 * math.pi / period)
        base = 0.5 + 0.5 * np.sin(phase)
    elif kind == 1:
        base = smooth_noise(rng, shape, int(rng.integers(4, 10)))
    else:
        base = rng.random(shape).astype(np.float32)
    return 0.6 + 0.7 * base.astype(np.float32) * rng.uniform(0.4, 1.0)


def _jitter(colour: tuple[int, int, int], rng: np.random.Generator, amount: float) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) + rng.normal(0, amount, 3), 0, 255)


def _clutter_shapes(rng: np.random.Generator, canvas: np.ndarray, count: int, palette=None) -> None:
    """Ellipses, lines, rectangles and discs of random colours, drawn in place."""
    height, width = canvas.shape[:2]
    scale = min(height, width)
    for _ in range(count):
        colour = random_colour(rng) if palette is None else _jitter(palette, rng, 25)
        colour = tuple(float(c) for c in colour)
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        kind = rng.integers(0, 4)
        if kind == 0:
            axes = (int(rng.integers(2, scale // 8)), int(rng.integers(2, scale // 8)))
            cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        elif kind == 1:
            end = (center[0] + int(rng.integers(-scale // 5, scale // 5)),
                   center[1] + int(rng.integers(-scale // 5, scale // 5)))
            cv2.line(canvas, center, end, colour, max(1, int(rng.integers(1, 4) * scale / 64)))
        elif kind == 2:
            size = (int(rng.integers(3, scale // 6)), int(rng.integers(3, scale // 6)))
            cv2.rectangle(canvas, center, (center[0] + size[0], center[1] + size[1]), colour, -1)
        else:
            cv2.circle(canvas, center, int(rng.integers(2, scale // 10)), colour, -1)


def _markings(rng: np.random.Generator, canvas: np.ndarray, scene: str, colour: np.ndarray) -> None:
    """The scene family's structure: planks and lines, mowing stripes, lanes, dashes, ..."""
    height, width = canvas.shape[:2]
    scale = min(height, width)
    thick = max(1, int(round(scale / 64)))
    c = tuple(float(v) for v in colour)
    if scene == "court":
        for y in range(0, height, max(2, int(scale * rng.uniform(0.04, 0.08)))):
            canvas[y : y + thick] *= 0.85
        for _ in range(int(rng.integers(2, 4))):
            x = int(rng.integers(0, width))
            cv2.line(canvas, (x, 0), (x + int(rng.integers(-width // 4, width // 4)), height), c, thick)
    elif scene == "field":
        period = max(4, int(scale * rng.uniform(0.12, 0.25)))
        for x in range(0, width, 2 * period):
            canvas[:, x : x + period] *= 1.12
        if rng.random() < 0.5:
            cv2.line(canvas, (0, int(height * 0.3)), (width, int(height * 0.35)), c, thick)
    elif scene == "pool":
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        ripple = 0.92 + 0.08 * np.sin(xx / (scale * 0.05) + 2.0 * np.sin(yy / (scale * 0.09)))
        canvas *= ripple[..., None]
        for y in np.linspace(0, height, int(rng.integers(3, 6)))[1:-1]:
            for x in range(0, width, max(3, scale // 16)):
                cv2.circle(canvas, (x, int(y)), thick, c, -1)
    elif scene == "road":
        sky = int(height * rng.uniform(0.15, 0.4))
        canvas[:sky] = _jitter((150, 190, 230), rng, 15)
        y = int(rng.uniform(sky + 0.3 * (height - sky), height - 2))
        for x in range(0, width, max(6, scale // 5)):
            cv2.line(canvas, (x, y), (x + max(3, scale // 10), y), c, 2 * thick)
    elif scene == "stage":
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.3, 0.7) * height
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.3 * scale) ** 2))
        canvas += 90 * spot[..., None]
        cv2.line(canvas, (0, int(height * 0.85)), (width, int(height * 0.85)), c, thick)
    elif scene == "snow":
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        slope = 0.9 + 0.1 * np.tanh((yy - xx * rng.uniform(-0.5, 0.5) - height / 2) / (0.2 * scale))
        canvas *= slope[..., None]
        for _ in range(int(rng.integers(3, 8))):
            x = int(rng.integers(0, width))
            cv2.line(canvas, (x, 0), (x + int(rng.integers(-scale // 6, scale // 6)), scale // 6), c, thick)
    elif scene == "wall":
        brick_h = max(3, int(scale * rng.uniform(0.05, 0.09)))
        for row, y in enumerate(range(0, height, brick_h)):
            canvas[y : y + thick] = c
            shift = (row % 2) * brick_h
            for x in range(shift, width, 2 * brick_h):
                canvas[y : y + brick_h, x : x + thick] = c


def background(rng: np.random.Generator, shape: tuple[int, int], scene: str = "clutter") -> np.ndarray:
    """A scene canvas (float RGB in [0, 255]), larger than the frame so the camera can pan.

    "clutter" blends two random colours and scatters shapes of the kinds and colours the figures
    use, so colour is no class cue. The other families draw their own colours and markings,
    jittered per video, with a little clutter of their own colours.
    """
    if scene not in SCENES:
        raise ValueError(f"scene must be one of {SCENES}, got {scene!r}")
    height, width = shape
    canvas = np.empty((height, width, 3), np.float32)
    low = smooth_noise(rng, shape, int(rng.integers(3, 7)))[..., None]
    if scene == "clutter":
        colour_a, colour_b = random_colour(rng), random_colour(rng)
        canvas[:] = low * colour_a + (1 - low) * colour_b
        _clutter_shapes(rng, canvas, int(rng.integers(12, 30)))
        canvas *= texture(rng, shape)[..., None] * 0.5 + 0.5
        return np.clip(canvas, 0, 255)
    first, second, marks = _SCENE_COLOURS[scene]
    canvas[:] = low * _jitter(first, rng, 18) + (1 - low) * _jitter(second, rng, 18)
    _markings(rng, canvas, scene, _jitter(marks, rng, 15))
    _clutter_shapes(rng, canvas, int(rng.integers(2, 8)), palette=second)
    canvas *= texture(rng, shape)[..., None] * 0.25 + 0.75
    return np.clip(canvas, 0, 255)
