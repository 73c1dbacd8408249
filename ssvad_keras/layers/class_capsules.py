"""Class capsules: 1x1 convolutional capsules with routing, one capsule per action class."""

from __future__ import annotations

import keras
from keras import ops

from ssvad_keras.layers.routing import dynamic_routing, em_routing, em_routing_released

ROUTINGS = ("em_released", "em", "dynamic")


@keras.saving.register_keras_serializable(package="ssvad")
class ClassCapsules(keras.layers.Layer):
    """1x1 convolutional capsules from B primary types to one capsule per class, with routing.

    At every grid position each input capsule i votes for each class j with `pose_i @ W_ij`
    (a learned P x P matrix per type pair, W ~ N(0, 1) as released); the votes of the B inputs
    are routed to the C outputs independently per position. The class score of a clip is the
    mean of its class-capsule activations over the grid (done by the detector).

    Routing (`routing`):
    - `"em_released"` (default): EM exactly as the paper's released code computes it (see
      `em_routing_released`). It is the default because it is what produced the paper's
      numbers; its activations behave unlike textbook EM (SPEC 2).
    - `"em"`: textbook EM routing (Hinton et al. 2018).
    - `"dynamic"`: routing by agreement (Sabour et al. 2017), which the paper's text cites.

    Args:
        num_classes: int. Output capsules C.
        pose_size: int. P. Defaults to 4.
        routing: str. One of `"em_released"`, `"em"`, `"dynamic"`. Defaults to `"em_released"`.
        iterations: int. Routing iterations. Defaults to 3.
        rematerialize: bool. Recompute the routing's intermediates in the backward pass
            (`keras.remat`) instead of keeping them: every routing iteration keeps a few
            votes-sized tensors (20 MB per clip each at the paper's shapes), so this saves about
            106 MB per clip in TensorFlow's allocator statistics, 0.8-1.2 GB of peak memory at
            the paper preset's batch 8 with both views, for one extra routing forward pass.
            Values and gradients are unchanged. Defaults to True.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        poses: (batch, h, w, B, P*P) tensor.
        activations: (batch, h, w, B) tensor.

    Returns:
        `(poses, activations)`: (batch, h, w, C, P*P) and (batch, h, w, C) in (0, 1).

    Example:

    >>> caps = ClassCapsules(5, pose_size=4)
    >>> poses, acts = caps(keras.ops.ones((2, 3, 3, 8, 16)), keras.ops.ones((2, 3, 3, 8)))
    >>> poses.shape, acts.shape
    ((2, 3, 3, 5, 16), (2, 3, 3, 5))
    """

    def __init__(
        self,
        num_classes: int,
        pose_size: int = 4,
        routing: str = "em_released",
        iterations: int = 3,
        rematerialize: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if routing not in ROUTINGS:
            raise ValueError(f"unknown routing {routing!r} (known: {', '.join(ROUTINGS)})")
        self.num_classes = int(num_classes)
        self.pose_size = int(pose_size)
        self.routing = routing
        self.iterations = int(iterations)
        self.rematerialize = bool(rematerialize)

    def build(self, poses_shape, activations_shape=None):
        input_types = poses_shape[-2]
        p = self.pose_size
        normal = keras.initializers.RandomNormal(stddev=1.0)
        self.transform = self.add_weight(
            name="transform", shape=(input_types, self.num_classes, p, p), initializer=normal
        )
        if self.routing != "dynamic":
            self.beta_u = self.add_weight(
                name="beta_u", shape=(self.num_classes, p * p), initializer=normal
            )
            self.beta_a = self.add_weight(name="beta_a", shape=(self.num_classes,), initializer=normal)

    def votes(self, poses):
        """Votes `pose_i @ W_ij`: (batch, h, w, B, P*P) -> (batch, h, w, B, C, P*P)."""
        p = self.pose_size
        matrices = ops.reshape(poses, (*ops.shape(poses)[:-1], p, p))
        votes = ops.einsum("...iab,ijbc->...ijac", matrices, self.transform)
        return ops.reshape(votes, (*ops.shape(votes)[:-2], p * p))

    def _route(self, votes, activations):
        """Routing on flattened votes; returns (poses, activations) (the coupling is dropped).

        The betas are read here, not passed in: `keras.remat` tracks the variables a function
        reads, and a variable passed as an argument as well would get its gradient twice.
        """
        if self.routing == "em_released":
            poses, acts, _ = em_routing_released(votes, activations, self.beta_u, self.beta_a, self.iterations)
        elif self.routing == "em":
            poses, acts, _ = em_routing(votes, activations, self.beta_u, self.beta_a, self.iterations)
        else:
            poses, acts, _ = dynamic_routing(votes, activations, self.iterations)
        return poses, acts

    def call(self, poses, activations):
        votes = self.votes(poses)
        batch, height, width = ops.shape(poses)[0], ops.shape(poses)[1], ops.shape(poses)[2]
        input_types = ops.shape(poses)[3]
        # Each grid position is its own routing problem.
        flat_votes = ops.reshape(votes, (-1, input_types, self.num_classes, self.pose_size**2))
        flat_acts = ops.reshape(activations, (-1, input_types))
        route = keras.remat(self._route) if self.rematerialize else self._route
        out_poses, out_acts = route(flat_votes, flat_acts)
        out_poses = ops.reshape(
            out_poses, (batch, height, width, self.num_classes, self.pose_size**2)
        )
        out_acts = ops.reshape(out_acts, (batch, height, width, self.num_classes))
        return out_poses, out_acts


    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "pose_size": self.pose_size,
                "routing": self.routing,
                "iterations": self.iterations,
                "rematerialize": self.rematerialize,
            }
        )
        return config
