"""The four recurrent structures of lecture 003: shapes, one hand-checked tiny case each, oracles."""

from __future__ import annotations

import math

import pytest
import torch

from seqcourse.nn import recurrent as R
from seqcourse.nn import structures as S

DT = torch.float64


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_narx_hand_checked_and_teacher_forcing():
    net = S.NARX(input_size=1, output_size=1, hidden_size=1, q=2).to(DT)
    with torch.no_grad():  # y_{n+1} = tanh(y_n + 2 y_{n-1} + u_n + 3 u_{n-1})
        net.hidden.weight.copy_(torch.tensor([[1.0, 2.0, 1.0, 3.0]]))
        net.hidden.bias.zero_()
        net.out.weight.fill_(1.0)
        net.out.bias.zero_()
    u = torch.tensor([[[0.5], [-1.0], [0.25]]], dtype=DT)
    y1 = math.tanh(0.5)
    y2 = math.tanh(y1 - 1.0 + 1.5)
    y3 = math.tanh(y2 + 2 * y1 + 0.25 - 3.0)
    torch.testing.assert_close(net(u)[0, :, 0], torch.tensor([y1, y2, y3], dtype=DT))
    # open loop: the delay line holds the given outputs instead of the predictions
    y = torch.tensor([[[1.0], [2.0], [0.0]]], dtype=DT)
    forced = [math.tanh(0.5), math.tanh(1.0 - 1.0 + 1.5), math.tanh(2.0 + 2.0 + 0.25 - 3.0)]
    torch.testing.assert_close(net(u, y)[0, :, 0], torch.tensor(forced, dtype=DT))


def test_narx_shapes_and_causality():
    net = S.NARX(3, 2, 8, q=3)
    u = torch.randn(4, 7, 3)
    out = net(u)
    assert out.shape == (4, 7, 2)
    u2 = u.clone()
    u2[:, 5:] += 1.0  # changing the future leaves past predictions alone
    torch.testing.assert_close(net(u2)[:, :5], out[:, :5])


def test_state_space_hand_checked():
    net = S.StateSpaceRNN(1, 1, 1).to(DT)
    with torch.no_grad():
        net.W_a.fill_(2.0)
        net.W_b.fill_(1.0)
        net.W_c.fill_(3.0)
    u = torch.tensor([[[0.0], [1.0]]], dtype=DT)
    y, x = net(u, x0=torch.tensor([[0.5]], dtype=DT))
    x1 = sigmoid(1.0)
    x2 = sigmoid(2 * x1 + 1.0)
    torch.testing.assert_close(x[0, :, 0], torch.tensor([x1, x2], dtype=DT))
    torch.testing.assert_close(y[0, :, 0], torch.tensor([3 * x1, 3 * x2], dtype=DT))
    y, x = S.StateSpaceRNN(3, 5, 2, nonlinearity="tanh")(torch.randn(4, 6, 3))
    assert y.shape == (4, 6, 2) and x.shape == (4, 6, 5)


def test_state_space_equals_the_scratch_reference():
    import numpy as np

    from seqcourse.scratch import state_space as ss

    net = S.StateSpaceRNN(2, 3, 2).to(DT)
    u = torch.randn(1, 5, 2, dtype=DT)
    params = {k: getattr(net, k).detach().numpy() for k in ("W_a", "W_b", "W_c")}
    ref = ss.forward(params, u[0].numpy())
    y, x = net(u)
    np.testing.assert_allclose(x[0].detach().numpy(), ref.s, rtol=1e-12)
    np.testing.assert_allclose(y[0].detach().numpy(), ref.y, rtol=1e-12)


def test_recurrent_mlp_equals_a_stacked_rnn_when_sizes_agree():
    mlp = S.RecurrentMLP(3, [4, 4, 4]).to(DT)
    ref = R.RNN(3, 4, num_layers=3).to(DT)
    with torch.no_grad():
        for cell, ref_cell in zip(mlp.layers, ref.cells, strict=True):
            for name in ("U", "W", "b"):
                getattr(ref_cell, name).copy_(getattr(cell, name))
    u = torch.randn(2, 6, 3, dtype=DT)
    out, states = mlp(u)
    out_ref, h_n = ref(u)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(torch.stack(states), h_n)


def test_recurrent_mlp_hand_checked_and_shapes():
    mlp = S.RecurrentMLP(1, [1, 1]).to(DT)
    with torch.no_grad():
        for cell, (U, W) in zip(mlp.layers, [(1.0, 0.5), (2.0, -1.0)], strict=True):
            cell.U.fill_(U)
            cell.W.fill_(W)
            cell.b.zero_()
    out, _ = mlp(torch.tensor([[[1.0], [2.0]]], dtype=DT))
    a1 = math.tanh(1.0)
    b1 = math.tanh(2 * a1)
    a2 = math.tanh(2.0 + 0.5 * a1)
    b2 = math.tanh(2 * a2 - b1)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([b1, b2], dtype=DT))
    out, states = S.RecurrentMLP(3, [5, 2, 7])(torch.randn(4, 6, 3))
    assert out.shape == (4, 6, 7) and [s.shape for s in states] == [(4, 5), (4, 2), (4, 7)]


def test_second_order_hand_checked():
    net = S.SecondOrderNetwork(1, 1).to(DT)
    with torch.no_grad():
        net.w.fill_(2.0)
        net.b.fill_(-1.0)
    x = net(torch.tensor([[[1.0], [0.5]]], dtype=DT), x0=torch.tensor([[1.0]], dtype=DT))
    x1 = sigmoid(-1.0 + 2.0)
    x2 = sigmoid(-1.0 + 2.0 * x1 * 0.5)
    torch.testing.assert_close(x[0, :, 0], torch.tensor([x1, x2], dtype=DT))


def test_second_order_matches_a_brute_force_double_sum():
    net = S.SecondOrderNetwork(3, 2).to(DT)
    u = torch.randn(2, 4, 3, dtype=DT)
    x0 = torch.rand(2, 2, dtype=DT)
    out = net(u, x0)
    w, b = net.w.detach(), net.b.detach()
    for batch in range(2):
        x = x0[batch].tolist()
        for n in range(4):
            v = [
                b[k] + sum(w[k, i, j] * x[i] * u[batch, n, j] for i in range(2) for j in range(3))
                for k in range(2)
            ]
            x = [sigmoid(float(vk)) for vk in v]
            torch.testing.assert_close(out[batch, n], torch.tensor(x, dtype=DT))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"u must have shape \(B, T, 3\)"):
        S.NARX(3, 1, 4, q=2)(torch.zeros(1, 5, 2))
    with pytest.raises(ValueError, match="q must be a positive int"):
        S.NARX(3, 1, 4, q=0)
    with pytest.raises(ValueError, match="3-D"):
        S.StateSpaceRNN(2, 3, 1)(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="nonlinearity"):
        S.StateSpaceRNN(2, 3, 1, nonlinearity="relu")
    with pytest.raises(ValueError, match="x0 must have shape"):
        S.SecondOrderNetwork(2, 3)(torch.zeros(1, 4, 2), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="states must hold 2"):
        S.RecurrentMLP(2, [3, 3])(torch.zeros(1, 4, 2), [torch.zeros(1, 3)])
    with pytest.raises(ValueError, match="empty"):
        S.SecondOrderNetwork(2, 3)(torch.zeros(1, 0, 2))
    with pytest.raises(TypeError, match="floating-point"):
        S.RecurrentMLP(2, [3])(torch.zeros(1, 4, 2, dtype=torch.long))
