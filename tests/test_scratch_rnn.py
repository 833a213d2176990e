"""NumPy RNN (design pattern 1): forward, BPTT and truncated BPTT against float64 autograd and gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqcourse.scratch import gradcheck as gc
from seqcourse.scratch import rnn

M, N, K, T = 3, 4, 5, 6


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    params = rnn.init_params(M, N, K, rng)
    params["b"] = rng.normal(size=N)  # non-zero biases so that dropping one is caught
    params["c"] = rng.normal(size=K)
    xs = rng.normal(size=(T, M))
    ys = rng.integers(0, K, size=T)
    h0 = rng.normal(size=N) * 0.5
    return params, xs, ys, h0


def torch_loss_and_grads(params, xs, ys, h0, depth=None):
    """Oracle: autograd in float64. With ``depth``, L_t is rebuilt from h_{t-depth}.detach()."""
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x, y = torch.tensor(xs), torch.tensor(ys)

    def step(h, t):
        return torch.tanh(p["b"] + p["W"] @ h + p["U"] @ x[t])

    def loss_t(h, t):
        o = p["c"] + p["V"] @ h
        return F.cross_entropy(o[None], y[t : t + 1], reduction="sum")

    steps = len(xs)
    if depth is None:
        h, total = torch.tensor(h0), 0.0
        for t in range(steps):
            h = step(h, t)
            total = total + loss_t(h, t)
    else:
        with torch.no_grad():  # all states, to restart each truncated graph from
            hs, h = [torch.tensor(h0)], torch.tensor(h0)
            for t in range(steps):
                h = step(h, t)
                hs.append(h)
        total = 0.0
        for t in range(steps):
            start = max(t - depth + 1, 0)
            h = hs[start].detach()  # h_{start-1} (index shifted by h0): a constant
            for k in range(start, t + 1):
                h = step(h, k)
            total = total + loss_t(h, t)
    total.backward()
    return total.item(), {k: v.grad.numpy() for k, v in p.items()}


def test_forward_matches_torch_rnn(problem):
    params, xs, ys, h0 = problem
    cell = torch.nn.RNN(M, N, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih_l0.copy_(torch.tensor(params["U"]))
        cell.weight_hh_l0.copy_(torch.tensor(params["W"]))
        cell.bias_ih_l0.copy_(torch.tensor(params["b"]))
        cell.bias_hh_l0.zero_()
        h_ref, _ = cell(torch.tensor(xs)[:, None], torch.tensor(h0)[None, None])
    fw = rnn.forward(params, xs, h0, ys=ys)
    np.testing.assert_allclose(fw.h, h_ref[:, 0].numpy(), rtol=1e-12, atol=1e-14)
    o_ref = fw.h @ params["V"].T + params["c"]
    np.testing.assert_allclose(fw.o, o_ref, rtol=1e-12)
    np.testing.assert_allclose(fw.y_hat.sum(axis=1), 1.0, rtol=1e-12)
    loss_ref = F.cross_entropy(torch.tensor(fw.o), torch.tensor(ys), reduction="sum").item()
    assert fw.loss == pytest.approx(loss_ref, rel=1e-12)
    assert rnn.forward(params, xs, h0).loss is None


def test_bptt_matches_autograd(problem):
    params, xs, ys, h0 = problem
    loss, grads = rnn.bptt(params, xs, ys, h0)
    loss_ref, grads_ref = torch_loss_and_grads(params, xs, ys, h0)
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    assert set(grads) == set(rnn.PARAM_NAMES)
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_ref[k], rtol=1e-7, atol=1e-12, err_msg=k)


def test_bptt_passes_gradcheck(problem):
    params, xs, ys, h0 = problem
    _, grads = rnn.bptt(params, xs, ys, h0)
    err = gc.gradcheck(lambda p: rnn.forward(p, xs, h0, ys=ys).loss, params, grads)
    assert err < 1e-6


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_truncated_bptt_matches_detached_autograd(problem, depth):
    params, xs, ys, h0 = problem
    loss, grads = rnn.truncated_bptt(params, xs, ys, h0, depth)
    loss_ref, grads_ref = torch_loss_and_grads(params, xs, ys, h0, depth=depth)
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    full = rnn.bptt(params, xs, ys, h0)[1]
    assert not np.allclose(grads["W"], full["W"])  # truncation really changes the gradient
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_ref[k], rtol=1e-7, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("depth", [T, T + 5])
def test_truncated_bptt_with_full_depth_is_bptt(problem, depth):
    params, xs, ys, h0 = problem
    loss, grads = rnn.truncated_bptt(params, xs, ys, h0, depth)
    loss_full, grads_full = rnn.bptt(params, xs, ys, h0)
    assert loss == loss_full
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_full[k], rtol=1e-12, atol=1e-15, err_msg=k)


def test_default_h0_is_zeros(problem):
    params, xs, ys, _ = problem
    a = rnn.bptt(params, xs, ys)
    b = rnn.bptt(params, xs, ys, np.zeros(N))
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1]["W"], b[1]["W"])


def test_gradcheck_detects_a_wrong_gradient(problem):
    params, xs, ys, h0 = problem
    _, grads = rnn.bptt(params, xs, ys, h0)
    grads["W"] = grads["W"].T.copy()  # a classic bug: transposed outer product
    err = gc.gradcheck(lambda p: rnn.forward(p, xs, h0, ys=ys).loss, params, grads)
    assert err > 1e-2


def test_numerical_gradient_of_a_quadratic():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    params = {"x": np.array([0.5, -1.0])}
    num = gc.numerical_gradient(lambda p: 0.5 * p["x"] @ A @ p["x"], params)
    np.testing.assert_allclose(num["x"], A @ params["x"], rtol=1e-8, atol=1e-8)
    np.testing.assert_array_equal(params["x"], [0.5, -1.0])  # restored after perturbation


def test_gradcheck_rejects_bad_arguments():
    with pytest.raises(TypeError, match="float64"):
        gc.numerical_gradient(lambda p: 0.0, {"x": np.zeros(2, dtype=np.float32)})
    with pytest.raises(ValueError, match="keys"):
        gc.gradcheck(lambda p: 0.0, {"x": np.zeros(2)}, {"y": np.zeros(2)})
    with pytest.raises(ValueError, match="shape"):
        gc.gradcheck(lambda p: 0.0, {"x": np.zeros(2)}, {"x": np.zeros(3)})


def test_bad_inputs_raise_clear_errors(problem):
    params, xs, ys, h0 = problem
    with pytest.raises(ValueError, match=r"xs must have shape \(T, 3\), got \(6, 4\)"):
        rnn.forward(params, np.zeros((T, M + 1)), h0)
    with pytest.raises(ValueError, match="empty sequence"):
        rnn.forward(params, np.zeros((0, M)), h0)
    with pytest.raises(ValueError, match=r"ys must have shape \(6,?\)"):
        rnn.bptt(params, xs, ys[:-1], h0)
    with pytest.raises(ValueError, match="integer class labels"):
        rnn.bptt(params, xs, ys.astype(float), h0)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        rnn.bptt(params, xs, np.full(T, K), h0)
    with pytest.raises(ValueError, match="h0 must have shape"):
        rnn.forward(params, xs, np.zeros(N + 1))
    with pytest.raises(ValueError, match="depth"):
        rnn.truncated_bptt(params, xs, ys, h0, 0)
    with pytest.raises(ValueError, match="missing"):
        rnn.forward({k: v for k, v in params.items() if k != "c"}, xs, h0)
    with pytest.raises(ValueError, match="params\\['W'\\]"):
        rnn.forward({**params, "W": np.zeros((N, N + 1))}, xs, h0)


# --- design pattern 2: teacher forcing vs free running ---------------------------------------------------


@pytest.fixture
def pattern2():
    from seqcourse.scratch import teacher_forcing as tf

    rng = np.random.default_rng(4)
    params = tf.init_params(M, N, K, rng)
    params["b"], params["c"] = rng.normal(size=N), rng.normal(size=K)
    return tf, params, rng.normal(size=(T, M)), rng.integers(0, K, size=T)


def test_teacher_forcing_grads_match_autograd(pattern2):
    tf, params, xs, ys = pattern2
    loss, grads = tf.teacher_forcing_grads(params, xs, ys)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    onehot = F.one_hot(torch.tensor(ys), K).double()
    y_prev = torch.cat([torch.zeros(1, K, dtype=torch.float64), onehot[:-1]])  # (T, K)
    h = torch.tanh(p["b"] + y_prev @ p["W"].T + torch.tensor(xs) @ p["U"].T)
    ref = F.cross_entropy(p["c"] + h @ p["V"].T, torch.tensor(ys), reduction="sum")
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    for k in params:
        np.testing.assert_allclose(grads[k], p[k].grad.numpy(), rtol=1e-7, atol=1e-13, err_msg=k)
    assert gc.gradcheck(lambda q: tf.teacher_forcing(q, xs, ys).loss, params, grads) < 1e-6


def test_free_running_equals_teacher_forcing_only_when_predictions_are_right(pattern2):
    tf, params, xs, ys = pattern2
    own = tf.free_running(params, xs).y_hat.argmax(axis=1)  # the model's greedy predictions
    forced_on_own = tf.teacher_forcing(params, xs, own)
    np.testing.assert_allclose(forced_on_own.h, tf.free_running(params, xs).h, rtol=0, atol=0)
    wrong = own.copy()
    wrong[1] = (own[1] + 1) % K  # one label the model gets wrong at step 2 ...
    forced, free = tf.teacher_forcing(params, xs, wrong), tf.free_running(params, xs, wrong)
    np.testing.assert_array_equal(forced.h[:2], free.h[:2])  # ... leaves steps 1-2 alike
    assert not np.allclose(forced.h[2], free.h[2])  # ... and changes the input of step 3
    assert forced.loss != free.loss


def test_pattern2_bad_inputs(pattern2):
    tf, params, xs, ys = pattern2
    with pytest.raises(ValueError, match=r"params\['W'\] must have shape \(4, 5\)"):
        tf.teacher_forcing(rnn.init_params(M, N, K), xs, ys)
    with pytest.raises(ValueError, match="labels"):
        tf.teacher_forcing(params, xs, None)
    with pytest.raises(ValueError, match=r"ys must have shape \(6,?\)"):
        tf.teacher_forcing(params, xs, ys[:3])
