"""Articulated figures and their props: body plan, pose, skeleton, rasterisation.

A figure is a stick-and-blob body (torso, head, two-segment arms and legs) of filled shapes. A
`Pose` holds joint angles; `skeleton` turns a pose into image-space joints; `rasterise` draws the
body parts as masks; `draw_prop` draws a held or accompanying object (ball, club, sword, bike,
board, dog) from the joints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from tfrecords_tools.synthetic.appearance import random_colour, texture

PROPS = ("none", "ball", "club", "sword", "bike", "board", "dog")
# Props that move with the actor's body count as part of the actor (UCF101-24's boxes cover a
# rider and the bike); a ball or a dog is a separate object and is not annotated.
ATTACHED_PROPS = ("club", "sword", "bike", "board")


@dataclass(frozen=True)
class ActorStyle:
    """How a class's actors look: a hue range of the clothing, a body build, a size range.

    Attributes:
        hue: OpenCV hue range (0-180) of the clothing; (0, 180) = any colour.
        saturation: saturation range of the clothing.
        height: actor height as a share of the frame height (min, max).
        build: torso width as a share of the height (min, max).
    """

    hue: tuple[int, int] = (0, 180)
    saturation: tuple[int, int] = (40, 256)
    height: tuple[float, float] = (0.38, 0.62)
    build: tuple[float, float] = (0.12, 0.2)


@dataclass
class Figure:
    """An articulated figure's body plan and appearance, in pixels."""

    height: float
    colours: np.ndarray  # (4, 3): torso, head, arms, legs
    texture: np.ndarray  # (H, W) brightness multiplier
    limb: int  # limb thickness
    torso_width: int

    @classmethod
    def random(cls, rng: np.random.Generator, frame_size: tuple[int, int],
               style: ActorStyle = ActorStyle()) -> Figure:
        height = rng.uniform(*style.height) * frame_size[0]
        base = random_colour(rng, hue=style.hue, saturation=style.saturation)
        skin = random_colour(rng, hue=(5, 20), saturation=(60, 160), value=(120, 240))
        colours = np.stack([
            np.clip(base + rng.normal(0, 25, 3), 0, 255),  # torso
            skin,  # head
            np.clip(base + rng.normal(0, 45, 3), 0, 255),  # arms
            np.clip(random_colour(rng) * 0.6 + base * 0.4, 0, 255),  # legs
        ])
        limb = max(1, int(round(height * rng.uniform(0.05, 0.09))))
        torso = max(limb + 1, int(round(height * rng.uniform(*style.build))))
        return cls(height, colours, texture(rng, frame_size), limb, torso)


@dataclass
class Pose:
    """Joint angles (radians, 0 = hanging straight down, + towards the figure's front)."""

    hip: tuple[float, float] = (0.0, 0.0)  # foot position (x) and ground line (y), pixels
    lift: float = 0.0  # body raised above the ground (pixels, jumps)
    lean: float = 0.0
    shoulders: tuple[float, float] = (0.15, -0.15)
    elbows: tuple[float, float] = (0.1, 0.1)
    thighs: tuple[float, float] = (0.08, -0.08)
    knees: tuple[float, float] = (0.0, 0.0)
    facing: float = 1.0  # horizontal scale: +-1 facing right/left, |.| < 1 while turning
    prop_phase: float = 0.0  # drives a prop's own motion (ball bounce, wheel spin)


def _limb_end(start: np.ndarray, angle: float, length: float) -> np.ndarray:
    return start + length * np.array([math.sin(angle), math.cos(angle)])


def skeleton(figure: Figure, pose: Pose) -> dict[str, np.ndarray]:
    """Image-space joints (x, y) of `figure` in `pose`: hip, neck, head, shoulder, knees, feet,
    elbows, hands (pairs are stacked: index 0 front, 1 back)."""
    h = figure.height
    thigh_len, shin_len = 0.24 * h, 0.24 * h
    torso_len, head_r = 0.3 * h, 0.1 * h
    upper_arm, fore_arm = 0.17 * h, 0.16 * h
    # Hip height so that the lower foot touches the ground (crouching lowers the hip).
    leg_drop = max(
        thigh_len * math.cos(t) + shin_len * math.cos(t - k) for t, k in zip(pose.thighs, pose.knees, strict=True)
    )
    hip = np.array([0.0, -leg_drop - pose.lift])
    up = np.array([math.sin(pose.lean), -math.cos(pose.lean)])
    neck = hip + torso_len * up
    head = neck + (head_r + 0.02 * h) * up
    shoulder = hip + 0.85 * (neck - hip)
    knees, feet, elbows, hands = [], [], [], []
    for thigh, knee in zip(pose.thighs, pose.knees, strict=True):
        knees.append(_limb_end(hip, thigh, thigh_len))
        feet.append(_limb_end(knees[-1], thigh - knee, shin_len))
    for shoulder_angle, elbow in zip(pose.shoulders, pose.elbows, strict=True):
        elbows.append(_limb_end(shoulder, shoulder_angle, upper_arm))
        hands.append(_limb_end(elbows[-1], shoulder_angle + elbow, fore_arm))
    foot_x, ground = pose.hip

    def to_image(points) -> np.ndarray:
        points = np.asarray(points, np.float64)
        return np.stack([foot_x + pose.facing * points[..., 0], ground + points[..., 1]], axis=-1)

    return {
        "hip": to_image(hip), "neck": to_image(neck), "head": to_image(head),
        "shoulder": to_image(shoulder), "knees": to_image(knees), "feet": to_image(feet),
        "elbows": to_image(elbows), "hands": to_image(hands),
    }


def _pt(point: np.ndarray) -> tuple[int, int]:
    return int(round(point[0])), int(round(point[1]))


def rasterise(figure: Figure, pose: Pose, shape: tuple[int, int]) -> list[tuple[np.ndarray, int]]:
    """The figure's body parts as (mask, colour index) pairs, in drawing order."""
    joints = skeleton(figure, pose)
    segments = [(joints["hip"], joints["neck"], figure.torso_width, 0)]
    for i in range(2):
        segments += [(joints["hip"], joints["knees"][i], figure.limb + 1, 3),
                     (joints["knees"][i], joints["feet"][i], figure.limb, 3)]
    for i in range(2):
        segments += [(joints["shoulder"], joints["elbows"][i], figure.limb, 2),
                     (joints["elbows"][i], joints["hands"][i], figure.limb, 2)]
    parts = []
    for start, end, thickness, colour in segments:
        mask = np.zeros(shape, np.uint8)
        cv2.line(mask, _pt(start), _pt(end), 1, int(thickness))
        parts.append((mask, colour))
    head_r = 0.1 * figure.height
    mask = np.zeros(shape, np.uint8)
    axes = (max(1, int(round(head_r * max(abs(pose.facing), 0.35)))), max(1, int(round(head_r))))
    cv2.ellipse(mask, _pt(joints["head"]), axes, 0, 0, 360, 1, -1)
    parts.append((mask, 1))
    return parts


def paint(frame: np.ndarray, figure: Figure, parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Paint a figure's parts onto `frame` (in place); return its silhouette."""
    silhouette = np.zeros(frame.shape[:2], bool)
    for mask, colour in parts:
        on = mask.astype(bool)
        frame[on] = figure.colours[colour] * figure.texture[on][:, None]
        silhouette |= on
    return silhouette


@dataclass
class Prop:
    """An object a class's actor handles, with its own colour (drawn relative to the joints)."""

    kind: str
    colour: np.ndarray
    size: float  # pixels: ball radius, club/sword length, wheel radius, dog length

    @classmethod
    def random(cls, rng: np.random.Generator, kind: str, figure: Figure) -> Prop:
        if kind not in PROPS:
            raise ValueError(f"prop must be one of {PROPS}, got {kind!r}")
        colours = {
            "ball": random_colour(rng, hue=(5, 20), saturation=(180, 256), value=(160, 256)),
            "club": random_colour(rng, saturation=(0, 40), value=(180, 256)),
            "sword": np.array([230, 230, 235], np.float32),
            "bike": random_colour(rng, saturation=(150, 256)),
            "board": random_colour(rng, saturation=(120, 256)),
            "dog": random_colour(rng, hue=(5, 25), saturation=(60, 200), value=(60, 200)),
        }
        sizes = {"ball": 0.07, "club": 0.45, "sword": 0.5, "bike": 0.17, "board": 0.5, "dog": 0.45}
        colour = colours.get(kind, np.zeros(3, np.float32))
        return cls(kind, np.asarray(colour, np.float32), sizes.get(kind, 0.0) * figure.height)


def draw_prop(frame: np.ndarray, prop: Prop, figure: Figure, pose: Pose) -> np.ndarray:
    """Paint `prop` for `figure` in `pose` onto `frame` (in place); return its pixels."""
    shape = frame.shape[:2]
    mask = np.zeros(shape, np.uint8)
    if prop.kind == "none":
        return mask.astype(bool)
    joints = skeleton(figure, pose)
    hand = joints["hands"][0]
    thick = max(1, figure.limb - 1)
    forearm = joints["hands"][0] - joints["elbows"][0]
    direction = forearm / (np.linalg.norm(forearm) + 1e-6)
    if prop.kind == "ball":
        # Bounces between the hand and the ground with the pose's prop phase.
        ground = pose.hip[1]
        y = hand[1] + (ground - hand[1]) * abs(math.sin(pose.prop_phase))
        cv2.circle(mask, _pt((hand[0] + pose.facing * prop.size, y)), max(1, int(prop.size)), 1, -1)
    elif prop.kind in ("club", "sword"):
        end = hand + direction * prop.size
        cv2.line(mask, _pt(hand), _pt(end), 1, thick if prop.kind == "club" else max(1, thick - 1))
        if prop.kind == "club":
            cv2.circle(mask, _pt(end), max(1, figure.limb), 1, -1)
    elif prop.kind == "bike":
        r = prop.size
        base = np.array([pose.hip[0], pose.hip[1] - r])
        wheels = [base + np.array([-1.3 * r, 0.0]), base + np.array([1.3 * r, 0.0])]
        for wheel in wheels:
            cv2.circle(mask, _pt(wheel), max(1, int(r)), 1, max(1, thick))
        cv2.line(mask, _pt(wheels[0]), _pt(joints["hip"]), 1, thick)
        cv2.line(mask, _pt(joints["hip"]), _pt(wheels[1]), 1, thick)
        cv2.line(mask, _pt(wheels[1]), _pt(joints["hands"][0]), 1, thick)
    elif prop.kind == "board":
        feet = joints["feet"]
        y = float(max(feet[0][1], feet[1][1])) + thick
        x = float(feet[0][0] + feet[1][0]) / 2
        cv2.line(mask, _pt((x - prop.size / 2, y)), _pt((x + prop.size / 2, y)), 1, thick + 1)
    elif prop.kind == "dog":
        length = prop.size
        x = pose.hip[0] - pose.facing * 0.8 * figure.height
        ground = pose.hip[1]
        body = (x, ground - 0.35 * length)
        trot = 0.15 * length * math.sin(pose.prop_phase)
        cv2.ellipse(mask, _pt(body), (max(1, int(length / 2)), max(1, int(length / 5))), 0, 0, 360, 1, -1)
        cv2.circle(mask, _pt((x + pose.facing * 0.55 * length, ground - 0.55 * length)),
                   max(1, int(length / 6)), 1, -1)
        for dx, swing in ((-0.35, trot), (0.35, -trot)):
            top = (x + dx * length, ground - 0.3 * length)
            cv2.line(mask, _pt(top), _pt((top[0] + swing, ground)), 1, max(1, thick))
    drawn = mask.astype(bool)
    frame[drawn] = prop.colour
    return drawn
