"""Rendering a `ScenePlan`: frames plus each actor's visible silhouette per frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tfrecords_tools.synthetic.figures import ATTACHED_PROPS, Pose, draw_prop, paint, rasterise
from tfrecords_tools.synthetic.motions import action_pose, idle_pose
from tfrecords_tools.synthetic.scene import ActorPlan, DriftingShape, ScenePlan, Spectator


@dataclass
class RenderedVideo:
    """Pixels and what the ground truth is made of.

    Attributes:
        frames: RGB uint8 (H, W, 3) per frame.
        acting: per frame, whether the action is performed (the annotated frames).
        silhouettes: per frame, one bool (H, W) visible silhouette per actor (after occlusion by
            distractors in front), empty while the actor is absent.
    """

    frames: list[np.ndarray]
    acting: list[bool]
    silhouettes: list[list[np.ndarray]]


def _draw_distractor(frame: np.ndarray, distractor: Spectator | DriftingShape, t: int) -> np.ndarray:
    """Paint a distractor at frame `t` (in place); return its pixels."""
    shape = frame.shape[:2]
    if isinstance(distractor, Spectator):
        pose = idle_pose(t, distractor.x + distractor.vx * t, distractor.ground, distractor.params)
        return paint(frame, distractor.figure, rasterise(distractor.figure, pose, shape))
    mask = np.zeros(shape, np.uint8)
    cx, cy = distractor.center + distractor.velocity * t
    axes = (int(distractor.axes[0]), int(distractor.axes[1]))
    cv2.ellipse(mask, (int(cx), int(cy)), axes, distractor.angle, 0, 360, 1, -1)
    drawn = mask.astype(bool)
    frame[drawn] = distractor.colour * distractor.texture[drawn][:, None]
    return drawn


def _actor_pose(plan: ScenePlan, actor: ActorPlan, t: int) -> Pose | None:
    """The actor's pose at frame `t`, or None while it is absent."""
    x = actor.x0 + actor.speed * actor.params.facing * (min(max(t, plan.start), plan.end) - plan.start)
    if plan.start <= t < plan.end:
        return action_pose(plan.action.motion, t - plan.start, x, actor.ground, actor.params)
    if plan.outside == "idle":
        since = t - (plan.start if t < plan.start else plan.end)
        return idle_pose(t, x + actor.idle_drift * since, actor.ground, actor.params)
    return None


def render_plan(plan: ScenePlan, rng: np.random.Generator) -> RenderedVideo:
    """Draw `plan`: back distractors, actors (with props), front distractors, sensor noise.

    `rng` draws only the per-frame sensor noise, after every planned decision.
    """
    frames, acting, silhouettes = [], [], []
    empty = np.zeros(plan.frame_size, bool)
    for t in range(plan.num_frames):
        frame = plan.camera.view(t, plan.frame_size)
        for d in plan.distractors:
            if not d.front:
                _draw_distractor(frame, d, t)
        drawn = []
        for actor in plan.actors:
            pose = _actor_pose(plan, actor, t)
            if pose is None:
                drawn.append(empty)
                continue
            body = paint(frame, actor.figure, rasterise(actor.figure, pose, plan.frame_size))
            prop = draw_prop(frame, actor.prop, actor.figure, pose)
            drawn.append(body | prop if actor.prop.kind in ATTACHED_PROPS else body & ~prop)
        front = np.zeros(plan.frame_size, bool)
        for d in plan.distractors:
            if d.front:
                front |= _draw_distractor(frame, d, t)
        # Later actors are drawn over earlier ones.
        visible, covered = [], front.copy()
        for silhouette in reversed(drawn):
            visible.append(silhouette & ~covered)
            covered |= silhouette
        frame += rng.normal(0, plan.noise_level, frame.shape).astype(np.float32)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        acting.append(plan.start <= t < plan.end)
        silhouettes.append(visible[::-1])
    return RenderedVideo(frames, acting, silhouettes)
