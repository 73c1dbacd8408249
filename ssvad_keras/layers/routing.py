"""Capsule routing algorithms on flattened votes (functions, `keras.ops` only).

All three take votes of shape (n, I, J, D) (n routing problems, I input capsules, J output
capsules, D pose entries) and input activations (n, I); they return output poses (n, J, D),
output activations (n, J) in (0, 1) and the final coupling (n, I, J), which sums to 1 over J.
"""

from __future__ import annotations

import math

from keras import ops

# The released code's constants (models/capsules_ucf101.py, `ConvCaps`).
RELEASED_EPSILON = 1e-8
RELEASED_INVERSE_TEMPERATURE = 1e-6
# A fixed inverse temperature for textbook EM; Hinton et al. schedule it, common ports fix 1e-2.
EM_INVERSE_TEMPERATURE = 1e-2
_LN_2PI = math.log(2.0 * math.pi)


def _m_step_moments(coeff, votes, epsilon: float):
    """Weighted mean, squared deviations and variance of the votes (M-step).

    `coeff` (n, I, J, 1) weights each vote; returns `mean` (n, 1, J, D), `(V - mean)^2`
    (n, I, J, D) and `variance` (n, 1, J, D) = weighted mean of the squared deviations + eps.
    The squared deviations are returned so that the E-step reuses them: every votes-sized
    tensor kept for the backward pass costs 20 MB per clip at the paper's shapes.
    """
    mean = ops.sum(coeff * votes, axis=1, keepdims=True)
    squared_deviations = ops.square(votes - mean)
    variance = ops.sum(coeff * squared_deviations, axis=1, keepdims=True) + epsilon
    return mean, squared_deviations, variance


def _gaussian_log_likelihood(squared_deviations, variance):
    """sum_h log N(V_ij^h | mu_j^h, sigma_j^h) for every (i, j): (n, I, J).

    From the M-step's squared deviations `(V - mu)^2` and variances; the per-output terms
    are summed over h before broadcasting, so no further votes-sized tensor is formed.
    """
    quadratic = ops.sum(squared_deviations * (-0.5 / variance), axis=-1)  # (n, I, J)
    normaliser = ops.sum(-0.5 * ops.log(variance) - 0.5 * _LN_2PI, axis=-1)  # (n, 1, J)
    return quadratic + normaliser


def em_routing_released(
    votes,
    input_activations,
    beta_u,
    beta_a,
    iterations: int = 3,
    inverse_temperature: float = RELEASED_INVERSE_TEMPERATURE,
    epsilon: float = RELEASED_EPSILON,
):
    """EM routing exactly as the paper's released code computes it (SPEC 2).

    Differences from textbook EM, kept on purpose to reproduce the paper's numbers:
    the M-step renormalises `r * a_in` over the outputs, so input activations only matter
    through `epsilon`; the activation is `sigmoid(lambda * (beta_a - (mean_cost - cost_j) /
    (std + eps)))` with `lambda = 1e-6`, where "std" squares the *sum* of the deviations
    (about 0), making it about `sqrt(eps)`: activations are about
    `sigmoid(0.01 * (cost_j - mean_cost))`, the opposite sign of textbook EM. No coordinate
    addition (the released 1x1 class capsules route each grid position on its own).

    Args:
        votes: (n, I, J, D) tensor.
        input_activations: (n, I) tensor.
        beta_u: (J, D) tensor. Per-output, per-dimension cost offset.
        beta_a: (J,) tensor. Per-output activation offset.
        iterations: int. EM iterations. Defaults to 3.
        inverse_temperature: float. lambda. Defaults to 1e-6 (released).
        epsilon: float. Defaults to 1e-8 (released).

    Returns:
        (poses (n, J, D), activations (n, J), responsibilities (n, I, J)).
    """
    num_out = ops.shape(votes)[2]
    a_in = ops.expand_dims(input_activations, -1)
    r = ops.ones_like(votes[..., 0]) / ops.cast(num_out, votes.dtype)
    for iteration in range(iterations):
        # M-step (released `m_step`).
        weighted = r * a_in
        weighted = weighted / (ops.sum(weighted, axis=2, keepdims=True) + epsilon)
        r_sum = ops.sum(weighted, axis=1, keepdims=True)  # (n, 1, J)
        coeff = ops.expand_dims(weighted / (r_sum + epsilon), -1)
        mean, squared_deviations, variance = _m_step_moments(coeff, votes, epsilon)  # (n, 1, J, D)
        cost = (beta_u + 0.5 * ops.log(variance[:, 0])) * ops.transpose(r_sum, (0, 2, 1))
        cost = ops.sum(cost, axis=-1)  # (n, J)
        cost_mean = ops.mean(cost, axis=1, keepdims=True)
        # Sic: the square of the summed deviations, not the summed squares (SPEC 2).
        cost_std = ops.sqrt(
            ops.square(ops.sum(cost - cost_mean, axis=1, keepdims=True))
            / ops.cast(num_out, votes.dtype)
            + epsilon
        )
        activations = ops.sigmoid(
            inverse_temperature * (beta_a - (cost_mean - cost) / (cost_std + epsilon))
        )
        if iteration < iterations - 1:
            # E-step (released `e_step`).
            log_ap = _gaussian_log_likelihood(squared_deviations, variance) + ops.log(
                epsilon + ops.expand_dims(activations, 1)
            )
            r = ops.softmax(log_ap, axis=2)
    return mean[:, 0], activations, r


def em_routing(
    votes,
    input_activations,
    beta_u,
    beta_a,
    iterations: int = 3,
    inverse_temperature: float = EM_INVERSE_TEMPERATURE,
    epsilon: float = RELEASED_EPSILON,
):
    """Textbook EM routing (Hinton, Sabour & Frosst, "Matrix capsules with EM routing", 2018).

    M-step: `R_ij <- R_ij a_i`; `mu_j`, `sigma_j^2` are the R-weighted mean and variance of the
    votes; `cost_j = sum_h (beta_u + log sigma_j^h) sum_i R_ij`; `a_j = logistic(lambda (beta_a -
    cost_j))`. E-step: `R_ij = a_j p_j(V_ij) / sum_k a_k p_k(V_ik)` with Gaussian `p`.

    Args and returns as `em_routing_released`; `inverse_temperature` defaults to 1e-2.
    """
    num_out = ops.shape(votes)[2]
    a_in = ops.expand_dims(input_activations, -1)
    r = ops.ones_like(votes[..., 0]) / ops.cast(num_out, votes.dtype)
    for iteration in range(iterations):
        weighted = r * a_in
        r_sum = ops.sum(weighted, axis=1, keepdims=True)  # (n, 1, J)
        coeff = ops.expand_dims(weighted / (r_sum + epsilon), -1)
        mean, squared_deviations, variance = _m_step_moments(coeff, votes, epsilon)
        cost = (beta_u + 0.5 * ops.log(variance[:, 0])) * ops.transpose(r_sum, (0, 2, 1))
        activations = ops.sigmoid(inverse_temperature * (beta_a - ops.sum(cost, axis=-1)))
        if iteration < iterations - 1:
            log_ap = _gaussian_log_likelihood(squared_deviations, variance) + ops.log(
                epsilon + ops.expand_dims(activations, 1)
            )
            r = ops.softmax(log_ap, axis=2)
    return mean[:, 0], activations, r


def squash(vectors, axis: int = -1, epsilon: float = 1e-7):
    """Sabour et al.'s non-linearity: `|s|^2 / (1 + |s|^2) * s / |s|`; lengths land in [0, 1)."""
    norm_sq = ops.sum(ops.square(vectors), axis=axis, keepdims=True)
    return vectors * norm_sq / ((1.0 + norm_sq) * ops.sqrt(norm_sq + epsilon))


def dynamic_routing(votes, input_activations, iterations: int = 3):
    """Dynamic routing by agreement (Sabour, Frosst & Hinton, NeurIPS 2017).

    Couplings `c = softmax_J(b)`; `s_j = sum_i c_ij a_i u_ij` (votes weighted by the primary
    capsules' sigmoid activations, which here are separate from the pose); `v_j = squash(s_j)`;
    `b_ij += u_ij . v_j`. The output activation is the length of `v_j`.

    Args:
        votes: (n, I, J, D) tensor.
        input_activations: (n, I) tensor.
        iterations: int. Routing iterations. Defaults to 3.

    Returns:
        (poses (n, J, D), activations (n, J), couplings (n, I, J)).
    """
    a_in = ops.expand_dims(ops.expand_dims(input_activations, -1), -1)
    logits = ops.zeros_like(votes[..., 0])
    weighted_votes = votes * a_in
    for iteration in range(iterations):
        couplings = ops.softmax(logits, axis=2)
        s = ops.sum(ops.expand_dims(couplings, -1) * weighted_votes, axis=1)  # (n, J, D)
        v = squash(s)
        if iteration < iterations - 1:
            logits = logits + ops.sum(votes * ops.expand_dims(v, 1), axis=-1)
    activations = ops.sqrt(ops.sum(ops.square(v), axis=-1) + 1e-12)
    return v, activations, couplings
