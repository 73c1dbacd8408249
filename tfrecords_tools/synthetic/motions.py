"""Motions: the pose of a figure at action time t, per motion kind.

Every motion is periodic with a random frequency, phase and amplitude (`MotionParams`), so a
class's videos differ in speed and extent. `TRAVELLING` motions move the actor across the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfrecords_tools.synthetic.figures import Figure, Pose

MOTIONS = ("walk", "jump", "wave", "spin", "crouch", "dribble", "ride", "lunge", "swing", "glide", "climb")
TRAVELLING = ("walk", "ride", "glide")


@dataclass(frozen=True)
class MotionParams:
    """One video's draw of a motion's free parameters."""

    freq: float  # cycles per frame
    phase: float
    amp: float
    facing: float  # +1 right, -1 left
    jump_height: float  # pixels
    both_arms: bool
    sway: float
    sway_freq: float
    sway_phase: float

    @classmethod
    def random(cls, rng: np.random.Generator, figure: Figure) -> MotionParams:
        return cls(
            freq=rng.uniform(1 / 14, 1 / 7),
            phase=rng.uniform(0, 2 * math.pi),
            amp=rng.uniform(0.45, 0.8),
            facing=float(rng.choice([-1.0, 1.0])),
            jump_height=rng.uniform(0.15, 0.3) * figure.height,
            both_arms=bool(rng.random() < 0.5),
            sway=rng.uniform(0.02, 0.12),
            sway_freq=rng.uniform(0.1, 0.4),
            sway_phase=rng.uniform(0, 2 * math.pi),
        )


def idle_pose(t: int, x: float, ground: float, params: MotionParams) -> Pose:
    """Standing with small random sway: what spectators and not-yet-acting actors do."""
    sway = params.sway * math.sin(params.sway_freq * t + params.sway_phase)
    return Pose(
        hip=(x, ground),
        shoulders=(0.15 + sway, -0.15 + sway),
        thighs=(0.08, -0.08),
        lean=0.3 * sway,
        facing=params.facing,
    )


def action_pose(motion: str, t: int, x: float, ground: float, params: MotionParams) -> Pose:
    """The pose at action time `t` of `motion` (one of `MOTIONS`), feet at (x, ground)."""
    phase = 2 * math.pi * params.freq * t + params.phase
    amp = params.amp
    facing = params.facing
    if motion == "walk":
        swing = amp * math.sin(phase)
        return Pose(
            hip=(x, ground), thighs=(swing, -swing),
            knees=(0.6 * max(0.0, -math.sin(phase)) * amp, 0.6 * max(0.0, math.sin(phase)) * amp),
            shoulders=(-0.8 * swing, 0.8 * swing), elbows=(0.3, 0.3), facing=facing, prop_phase=phase,
        )
    if motion == "jump":
        air = max(0.0, math.sin(phase))
        tuck = 1.1 * amp * air
        return Pose(
            hip=(x, ground), lift=params.jump_height * air,
            thighs=(0.1 + tuck, -0.1 + tuck), knees=(2 * tuck, 2 * tuck),
            shoulders=(0.3 + 2.4 * air, -0.3 - 2.4 * air), facing=facing,
        )
    if motion == "wave":
        wave = 0.45 * math.sin(phase)
        raised = 2.6 + 0.5 * amp
        right = (raised + wave, 0.6 * math.sin(phase + 1.0))
        left = (-raised - wave, -0.6 * math.sin(phase + 1.0)) if params.both_arms else (-0.15, 0.1)
        return Pose(hip=(x, ground), shoulders=(right[0], left[0]), elbows=(right[1], left[1]), facing=facing)
    if motion == "spin":
        # Turning in place: the figure's width passes through zero and flips, arms held out.
        return Pose(
            hip=(x, ground), shoulders=(1.45, -1.45),
            elbows=(0.2 * math.sin(phase), 0.2 * math.sin(phase)),
            thighs=(0.15, -0.15), facing=facing * math.cos(phase),
        )
    if motion == "crouch":
        # Knees fold and unfold, hip going down; arms reach forward to balance.
        bend = amp * 1.3 * (1 - math.cos(phase)) / 2
        return Pose(
            hip=(x, ground), thighs=(bend, bend * 0.9), knees=(2 * bend, 1.8 * bend),
            lean=0.5 * bend, shoulders=(0.2 + 1.2 * bend, 0.1 + 1.2 * bend), facing=facing,
        )
    if motion == "dribble":
        # Slight crouch, the front arm pumping down and up with the ball's bounce.
        pump = 0.5 * (1 + math.sin(phase))
        return Pose(
            hip=(x, ground), thighs=(0.35, -0.05), knees=(0.6, 0.3), lean=0.25,
            shoulders=(0.5 + 0.5 * pump, -0.3), elbows=(0.2 + 0.5 * (1 - pump), 0.4),
            facing=facing, prop_phase=phase,
        )
    if motion == "ride":
        # Seated, legs pedalling in antiphase, arms forward to the handlebar.
        pedal = amp * math.sin(phase)
        return Pose(
            hip=(x, ground), lift=0.05 * params.jump_height, thighs=(1.1 + 0.4 * pedal, 1.1 - 0.4 * pedal),
            knees=(1.4 + 0.4 * pedal, 1.4 - 0.4 * pedal), lean=0.45,
            shoulders=(1.2, 1.1), elbows=(0.2, 0.2), facing=facing, prop_phase=phase,
        )
    if motion == "lunge":
        # Fencing: the front leg steps out and back, sword arm extended forward.
        out = amp * max(0.0, math.sin(phase))
        return Pose(
            hip=(x, ground), thighs=(0.3 + 0.9 * out, -0.4 - 0.3 * out), knees=(0.2 + 0.6 * out, 0.1),
            lean=0.3 * out, shoulders=(1.5 + 0.1 * out, -2.2), elbows=(-0.05, -0.6), facing=facing,
        )
    if motion == "swing":
        # A club/racket swing: both arms sweep through a large arc, the torso turning with them.
        sweep = 2.4 * math.sin(phase) * (0.6 + 0.5 * amp)
        return Pose(
            hip=(x, ground), thighs=(0.15, -0.15), lean=0.15 * math.sin(phase),
            shoulders=(sweep, sweep - 0.3), elbows=(0.1, 0.3), facing=facing,
        )
    if motion == "glide":
        # Skating / skiing: knees bent, body low, arms out for balance, gentle bob.
        bob = 0.15 * math.sin(phase)
        return Pose(
            hip=(x, ground), thighs=(0.5 + bob, 0.2 + bob), knees=(0.8 + bob, 0.5 + bob), lean=0.35,
            shoulders=(1.2, -1.0 + 0.3 * math.sin(phase)), elbows=(0.3, -0.3), facing=facing,
        )
    if motion == "climb":
        # Climbing a rope: arms reach up alternately, the body rises in steps.
        reach = math.sin(phase)
        return Pose(
            hip=(x, ground), lift=params.jump_height * (1 + 0.5 * math.sin(phase / 2)),
            thighs=(0.6 + 0.4 * reach, 0.6 - 0.4 * reach), knees=(1.0, 1.0),
            shoulders=(2.9 + 0.2 * reach, 2.9 - 0.2 * reach), elbows=(0.3 * reach, -0.3 * reach), facing=facing,
        )
    raise ValueError(f"motion must be one of {MOTIONS}, got {motion!r}")
