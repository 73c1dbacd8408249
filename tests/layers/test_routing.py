"""Routing invariants and the released EM's exact arithmetic."""

import math

import numpy as np
import pytest
from keras import ops

from ssvad_keras.layers import dynamic_routing, em_routing, em_routing_released


def _problem(seed=0, n=6, inputs=5, outputs=4, dims=16):
    rng = np.random.default_rng(seed)
    votes = rng.normal(size=(n, inputs, outputs, dims)).astype("float32")
    acts = rng.uniform(0.05, 0.95, size=(n, inputs)).astype("float32")
    beta_u = rng.normal(size=(outputs, dims)).astype("float32")
    beta_a = rng.normal(size=(outputs,)).astype("float32")
    return votes, acts, beta_u, beta_a


def _released_reference(v, a_in, beta_u, beta_a, iters=3, lam=1e-6, eps=1e-8):
    """The released PyTorch ConvCaps.caps_em_routing, transcribed to NumPy (float64)."""
    b, B, C, _ = v.shape
    r = np.full((b, B, C), 1.0 / C)
    a_in = a_in[..., None]
    for it in range(iters):
        rr = r * a_in
        rr = rr / (rr.sum(2, keepdims=True) + eps)
        r_sum = rr.sum(1, keepdims=True)
        coeff = (rr / (r_sum + eps))[..., None]
        mu = (coeff * v).sum(1, keepdims=True)
        sigma_sq = (coeff * (v - mu) ** 2).sum(1, keepdims=True) + eps
        cost = ((beta_u + np.log(np.sqrt(sigma_sq[:, 0]))) * r_sum.reshape(b, C, 1)).sum(2)
        mean = cost.mean(1, keepdims=True)
        std = np.sqrt(((cost - mean).sum(1, keepdims=True)) ** 2 / C + eps)
        a_out = 1 / (1 + np.exp(-lam * (beta_a - (mean - cost) / (std + eps))))
        if it < iters - 1:
            ln_p = (-((v - mu) ** 2) / (2 * sigma_sq) - np.log(np.sqrt(sigma_sq))
                    - 0.5 * math.log(2 * math.pi)).sum(3) + np.log(eps + a_out[:, None, :])
            ln_p -= ln_p.max(2, keepdims=True)
            r = np.exp(ln_p) / np.exp(ln_p).sum(2, keepdims=True)
    return mu[:, 0], a_out


@pytest.mark.parametrize(("iterations", "atol"), [(1, 1e-5), (3, 5e-3)])
def test_released_em_matches_a_transcription_of_the_released_code(iterations, atol):
    # The released "std" is a difference of nearly equal numbers, so float32 rounding moves
    # later iterations slightly; one iteration agrees tightly.
    votes, acts, beta_u, beta_a = _problem()
    poses, activations, _ = em_routing_released(votes, acts, beta_u, beta_a, iterations)
    ref_poses, ref_acts = _released_reference(
        votes.astype("float64"), acts.astype("float64"), beta_u, beta_a, iterations
    )
    np.testing.assert_allclose(ops.convert_to_numpy(poses), ref_poses, atol=10 * atol)
    np.testing.assert_allclose(ops.convert_to_numpy(activations), ref_acts, atol=atol)


def test_released_em_activation_is_about_sigmoid_of_scaled_cost_gap():
    # SPEC 2: std ~ sqrt(eps) -> a_j ~ sigmoid(0.01 (cost_j - mean cost)); lambda*beta_a ~ 1e-6.
    votes, acts, beta_u, beta_a = _problem(seed=1)
    _, activations, _ = em_routing_released(votes, acts, beta_u, beta_a, iterations=1)
    r_sum = votes.shape[1] / votes.shape[2]  # uniform responsibilities on the first M-step
    mu = votes.mean(1, keepdims=True)
    var = ((votes - mu) ** 2).mean(1) + 1e-8
    cost = ((beta_u + 0.5 * np.log(var)) * r_sum).sum(-1)
    expected = 1 / (1 + np.exp(-0.01 * (cost - cost.mean(1, keepdims=True))))
    np.testing.assert_allclose(ops.convert_to_numpy(activations), expected, atol=2e-3)


def test_released_em_ignores_a_uniform_scaling_of_input_activations():
    # The M-step renormalises r * a_in over the outputs: a_in only matters through epsilon.
    votes, acts, beta_u, beta_a = _problem(seed=2)
    p1, a1, _ = em_routing_released(votes, acts, beta_u, beta_a, iterations=1)
    p2, a2, _ = em_routing_released(votes, 0.5 * acts, beta_u, beta_a, iterations=1)
    np.testing.assert_allclose(ops.convert_to_numpy(a1), ops.convert_to_numpy(a2), atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(p1), ops.convert_to_numpy(p2), atol=1e-6)


@pytest.mark.parametrize("routing", ["em_released", "em", "dynamic"])
def test_couplings_sum_to_one_and_activations_in_unit_interval(routing):
    votes, acts, beta_u, beta_a = _problem(seed=3)
    if routing == "dynamic":
        poses, activations, coupling = dynamic_routing(votes, acts)
    else:
        fn = em_routing_released if routing == "em_released" else em_routing
        poses, activations, coupling = fn(votes, acts, beta_u, beta_a)
    coupling = ops.convert_to_numpy(coupling)
    activations = ops.convert_to_numpy(activations)
    np.testing.assert_allclose(coupling.sum(axis=2), 1.0, atol=1e-5)
    assert np.all(activations > 0.0) and np.all(activations < 1.0)
    assert tuple(poses.shape) == (6, 4, 16)


def test_textbook_em_uses_input_activations():
    votes, acts, beta_u, beta_a = _problem(seed=4)
    a1 = ops.convert_to_numpy(em_routing(votes, acts, beta_u, beta_a)[1])
    a2 = ops.convert_to_numpy(em_routing(votes, 0.5 * acts, beta_u, beta_a)[1])
    assert np.max(np.abs(a1 - a2)) > 1e-3


def test_dynamic_routing_activation_is_length_of_squashed_pose():
    votes, acts, _, _ = _problem(seed=5)
    poses, activations, _ = dynamic_routing(votes, acts, iterations=2)
    lengths = np.linalg.norm(ops.convert_to_numpy(poses), axis=-1)
    np.testing.assert_allclose(ops.convert_to_numpy(activations), lengths, atol=1e-5)
