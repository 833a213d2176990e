"""Lecture 003's state-space RNN: epochwise BPTT vs autograd, truncated depth, RTRL vs BPTT, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqcourse.scratch import gradcheck as gc
from seqcourse.scratch import state_space as ss

M, Q, P, N_STEPS, SLOPE = 2, 3, 2, 6, 1.5


@pytest.fixture
def problem():
    rng = np.random.default_rng(7)
    params = ss.init_params(M, Q, P, rng)
    params["W_a"] *= 2.0  # a strong recurrence, so truncation matters
    xs = rng.normal(size=(N_STEPS, M))
    ds = rng.normal(size=(N_STEPS, P))
    s0 = rng.uniform(size=Q)
    return params, xs, ds, s0


def autograd(params, xs, ds, s0, depth=None):
    """Float64 autograd oracle; with ``depth`` each L(y_k) restarts from a detached s_{k-depth}."""
    W = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x, d = torch.tensor(xs), torch.tensor(ds)

    def step(s, k):
        return torch.sigmoid(SLOPE * (W["W_a"] @ s + W["W_b"] @ x[k]))

    with torch.no_grad():
        states = [torch.tensor(s0)]
        for k in range(len(xs)):
            states.append(step(states[-1], k))
    total = 0.0
    for k in range(len(xs)):
        start = 0 if depth is None else max(k - depth + 1, 0)
        s = states[start].detach() if depth is not None else torch.tensor(s0)
        for j in range(start, k + 1):
            s = step(s, j)
        total = total + 0.5 * ((W["W_c"] @ s - d[k]) ** 2).sum()
    total.backward()
    return total.item(), {k: v.grad.numpy() for k, v in W.items()}


def test_forward_hand_checked_one_unit():
    params = {"W_a": np.array([[2.0]]), "W_b": np.array([[1.0]]), "W_c": np.array([[3.0]])}
    fw = ss.forward(params, np.array([[0.0], [1.0]]), s0=np.array([0.5]), ds=np.array([[0.0], [0.0]]))
    s1 = 1 / (1 + np.exp(-1.0))  # v_1 = 2 * 0.5 + 0
    s2 = 1 / (1 + np.exp(-(2 * s1 + 1)))
    np.testing.assert_allclose(fw.s[:, 0], [s1, s2], rtol=1e-14)
    np.testing.assert_allclose(fw.y[:, 0], [3 * s1, 3 * s2], rtol=1e-14)
    assert fw.loss == pytest.approx(0.5 * 9 * (s1**2 + s2**2), rel=1e-14)


def test_epochwise_bptt_matches_autograd_and_gradcheck(problem):
    params, xs, ds, s0 = problem
    loss, grads = ss.epochwise_bptt(params, xs, ds, s0, slope=SLOPE)
    loss_ref, grads_ref = autograd(params, xs, ds, s0)
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_ref[k], rtol=1e-7, atol=1e-13, err_msg=k)
    err = gc.gradcheck(lambda p: ss.forward(p, xs, s0, ds, SLOPE).loss, params, grads)
    assert err < 1e-6


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_truncated_depth_matches_detached_autograd(problem, depth):
    params, xs, ds, s0 = problem
    _, grads = ss.truncated_bptt(params, xs, ds, s0, depth, slope=SLOPE)
    _, grads_ref = autograd(params, xs, ds, s0, depth=depth)
    _, full = ss.epochwise_bptt(params, xs, ds, s0, slope=SLOPE)
    assert not np.allclose(grads["W_a"], full["W_a"])
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_ref[k], rtol=1e-7, atol=1e-13, err_msg=k)


def test_full_depth_is_epochwise_bptt(problem):
    params, xs, ds, s0 = problem
    _, grads = ss.truncated_bptt(params, xs, ds, s0, N_STEPS, slope=SLOPE)
    _, full = ss.epochwise_bptt(params, xs, ds, s0, slope=SLOPE)
    for k in grads:
        np.testing.assert_allclose(grads[k], full[k], rtol=1e-12, atol=1e-15)


def test_rtrl_equals_bptt_for_the_summed_loss(problem):
    params, xs, ds, s0 = problem
    res = ss.rtrl(params, xs, ds, s0, slope=SLOPE)
    loss, full = ss.epochwise_bptt(params, xs, ds, s0, slope=SLOPE)
    assert res.loss == pytest.approx(loss, rel=1e-12)
    for k in full:
        np.testing.assert_allclose(res.grads[k], full[k], rtol=1e-10, atol=1e-14, err_msg=k)


def test_rtrl_step_gradient_equals_bptt_of_that_single_loss(problem):
    params, xs, ds, s0 = problem
    res = ss.rtrl(params, xs, ds, s0, slope=SLOPE)
    k = N_STEPS - 2
    # oracle: autograd of L(y_k) alone
    W = {name: torch.tensor(v, requires_grad=True) for name, v in params.items()}
    s = torch.tensor(s0)
    for j in range(k + 1):
        s = torch.sigmoid(SLOPE * (W["W_a"] @ s + W["W_b"] @ torch.tensor(xs[j])))
    (0.5 * ((W["W_c"] @ s - torch.tensor(ds[k])) ** 2).sum()).backward()
    # and BPTT's difference of two prefixes is the same single-step gradient
    _, upto_k = ss.epochwise_bptt(params, xs[: k + 1], ds[: k + 1], s0, slope=SLOPE)
    _, upto_km1 = ss.epochwise_bptt(params, xs[:k], ds[:k], s0, slope=SLOPE)
    for name in params:
        np.testing.assert_allclose(res.step_grads[k][name], W[name].grad.numpy(), rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(
            res.step_grads[k][name], upto_k[name] - upto_km1[name], rtol=1e-8, atol=1e-13
        )


def test_lecture_online_rule_is_depth_one_truncation(problem):
    params, xs, ds, s0 = problem
    _, depth1 = ss.truncated_bptt(params, xs, ds, s0, 1, slope=SLOPE)
    # with lr -> tiny, the summed updates of the online rule are -lr times its summed gradient
    lr = 1e-9
    new, _ = ss.rtrl_train(params, xs, ds, lr, s0, slope=SLOPE, exact=False)
    for k in params:
        np.testing.assert_allclose((params[k] - new[k]) / lr, depth1[k], rtol=1e-5, atol=1e-9, err_msg=k)


def test_continuous_rtrl_training_reduces_the_loss():
    rng = np.random.default_rng(0)
    params = ss.init_params(1, 4, 1, rng)
    u = rng.uniform(-1, 1, size=(1500, 1))
    d = np.vstack([[0.0], 0.5 * u[:-1]]) + 0.5  # target: the previous input, shifted into (0, 1)
    before = params["W_a"].copy()
    new, losses = ss.rtrl_train(params, u, d, lr=0.1, slope=1.0)
    np.testing.assert_array_equal(params["W_a"], before)  # the input dict is not modified
    assert losses.shape == (1500,)
    assert losses[-300:].mean() < 0.5 * losses[:300].mean()


def test_bad_inputs_raise_clear_errors(problem):
    params, xs, ds, s0 = problem
    with pytest.raises(ValueError, match=r"xs must have shape \(n, 2\)"):
        ss.forward(params, np.zeros((3, M + 1)))
    with pytest.raises(ValueError, match=r"ds must have shape \(6, 2\)"):
        ss.epochwise_bptt(params, xs, ds[:-1], s0)
    with pytest.raises(ValueError, match="empty"):
        ss.rtrl(params, xs[:0], ds[:0], s0)
    with pytest.raises(ValueError, match="s0 must have shape"):
        ss.forward(params, xs, np.zeros(Q + 1))
    with pytest.raises(ValueError, match="depth"):
        ss.truncated_bptt(params, xs, ds, s0, 0)
    with pytest.raises(ValueError, match="slope"):
        ss.forward(params, xs, slope=0.0)
    with pytest.raises(ValueError, match="lr"):
        ss.rtrl_train(params, xs, ds, -1.0)
