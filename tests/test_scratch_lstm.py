"""NumPy LSTM: forward vs torch.nn.LSTM, backward vs float64 autograd, the two lecture notations agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqcourse import count
from seqcourse.scratch import gradcheck as gc
from seqcourse.scratch import lstm

M, N, T = 3, 4, 5


@pytest.fixture
def problem():
    rng = np.random.default_rng(2)
    params = lstm.init_params(M, N, rng)
    for g in lstm.GATES:
        params[f"b_{g}"] = rng.normal(size=N)
    xs = rng.normal(size=(T, M))
    h0, C0 = rng.normal(size=N), rng.normal(size=N)
    R = rng.normal(size=(T, N))  # loss L = Σ_t R_t · h_t
    return params, xs, h0, C0, R


def to_torch_lstm(params):
    """torch.nn.LSTM stacks (i, f, g, o) and splits [h, x] into weight_hh and weight_ih."""
    ref = torch.nn.LSTM(M, N, dtype=torch.float64)
    order = ("i", "f", "C", "o")
    with torch.no_grad():
        ref.weight_hh_l0.copy_(torch.tensor(np.vstack([params[f"W_{g}"][:, :N] for g in order])))
        ref.weight_ih_l0.copy_(torch.tensor(np.vstack([params[f"W_{g}"][:, N:] for g in order])))
        ref.bias_ih_l0.copy_(torch.tensor(np.concatenate([params[f"b_{g}"] for g in order])))
        ref.bias_hh_l0.zero_()
    return ref


def test_forward_matches_torch_lstm(problem):
    params, xs, h0, C0, _ = problem
    fw = lstm.forward(params, xs, h0, C0)
    with torch.no_grad():
        out, (_, c_n) = to_torch_lstm(params)(
            torch.tensor(xs), (torch.tensor(h0)[None], torch.tensor(C0)[None])
        )
    np.testing.assert_allclose(fw.h, out.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fw.C[-1], c_n[0].numpy(), rtol=1e-12, atol=1e-14)


def test_backward_matches_autograd(problem):
    params, xs, h0, C0, R = problem
    fw = lstm.forward(params, xs, h0, C0)
    grads = lstm.backward(params, xs, fw, R, h0, C0)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h, C = torch.tensor(h0), torch.tensor(C0)
    loss = 0.0
    for t in range(T):
        hx = torch.cat([h, torch.tensor(xs[t])])
        f = torch.sigmoid(p["W_f"] @ hx + p["b_f"])
        i = torch.sigmoid(p["W_i"] @ hx + p["b_i"])
        Ct = torch.tanh(p["W_C"] @ hx + p["b_C"])
        o = torch.sigmoid(p["W_o"] @ hx + p["b_o"])
        C = f * C + i * Ct
        h = o * torch.tanh(C)
        loss = loss + (torch.tensor(R[t]) * h).sum()
    loss.backward()
    assert set(grads) == set(params)
    for k in params:
        np.testing.assert_allclose(grads[k], p[k].grad.numpy(), rtol=1e-7, atol=1e-13, err_msg=k)


def test_backward_passes_gradcheck(problem):
    params, xs, h0, C0, R = problem
    grads = lstm.backward(params, xs, lstm.forward(params, xs, h0, C0), R, h0, C0)
    err = gc.gradcheck(lambda q: float(np.sum(R * lstm.forward(q, xs, h0, C0).h)), params, grads)
    assert err < 1e-6


def test_the_two_notations_give_the_same_model(problem):
    params, xs, h0, C0, _ = problem
    matrix = lstm.concat_to_matrix(params)
    assert matrix["U_in"].shape == (N, M) and matrix["W_in"].shape == (N, N) and matrix["b"].shape == (N,)
    h, s = lstm.forward_matrix(matrix, xs, h0, C0)
    fw = lstm.forward(params, xs, h0, C0)
    np.testing.assert_allclose(h, fw.h, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(s, fw.C, rtol=1e-13, atol=1e-15)
    back = lstm.matrix_to_concat(matrix)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])


def test_parameter_count_is_the_lecture_formula():
    params = lstm.init_params(M, N)
    assert sum(v.size for v in params.values()) == count.lstm_params(M, N) == 4 * ((M + N) * N + N)


def test_bad_inputs_raise_clear_errors(problem):
    params, xs, h0, C0, R = problem
    with pytest.raises(ValueError, match=r"xs must have shape \(T, 3\)"):
        lstm.forward(params, np.zeros((T, M + 1)))
    with pytest.raises(ValueError, match="empty"):
        lstm.forward(params, np.zeros((0, M)))
    with pytest.raises(ValueError, match="missing"):
        lstm.forward({k: v for k, v in params.items() if k != "b_o"}, xs)
    with pytest.raises(ValueError, match=r"dh must have shape \(5, 4\)"):
        lstm.backward(params, xs, lstm.forward(params, xs), R[:-1])
    with pytest.raises(ValueError, match="C0 must have shape"):
        lstm.forward(params, xs, h0, np.zeros(N + 1))
    with pytest.raises(ValueError, match="missing"):
        lstm.forward_matrix(params, xs)
