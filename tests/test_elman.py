"""Oracle tests for seqcourse.nn.elman (Elman / Jordan networks) and the RNN widget demo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqcourse.nn.elman import ElmanRNN, JordanRNN


def _random_elman(n_in: int, n_h: int, n_out: int, **kwargs) -> ElmanRNN:
    torch.manual_seed(0)
    return ElmanRNN(n_in, n_h, n_out, **kwargs).double()


@pytest.mark.parametrize("with_h0", [False, True])
def test_elman_tanh_matches_torch_rnn(with_h0: bool) -> None:
    B, T, n_in, n_h, n_out = 3, 6, 4, 5, 2
    model = _random_elman(n_in, n_h, n_out)
    ref = torch.nn.RNN(n_in, n_h, nonlinearity="tanh", batch_first=True).double()
    with torch.no_grad():
        # nn.RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh); split our b into b_ih + b_hh = b.
        ref.weight_ih_l0.copy_(model.U)
        ref.weight_hh_l0.copy_(model.W)
        ref.bias_ih_l0.copy_(0.25 * model.b)
        ref.bias_hh_l0.copy_(0.75 * model.b)
    x = torch.randn(B, T, n_in, dtype=torch.float64)
    h0 = torch.randn(B, n_h, dtype=torch.float64) if with_h0 else None
    y, h = model(x, h0)
    h_ref, h_last = ref(x, None if h0 is None else h0[None])
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(h[:, -1], h_last[0])
    # outputs: an independent linear layer with the copied V, c
    torch.testing.assert_close(y, torch.nn.functional.linear(h_ref, model.V, model.c))
    assert y.shape == (B, T, n_out) and h.shape == (B, T, n_h)


def test_elman_softmax_output_and_gradients_match_torch_rnn() -> None:
    model = _random_elman(3, 4, 5, output_activation="softmax", activation="relu")
    ref = torch.nn.RNN(3, 4, nonlinearity="relu", batch_first=True, bias=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(model.U)
        ref.weight_hh_l0.copy_(model.W)
        ref.bias_ih_l0.copy_(model.b)
        ref.bias_hh_l0.zero_()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    y, _ = model(x)
    y_ref = torch.softmax(torch.nn.functional.linear(ref(x)[0], model.V, model.c), dim=-1)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(y.sum(-1), torch.ones(2, 5, dtype=torch.float64))
    # the gradient w.r.t. W flows through every step exactly as in nn.RNN
    target = torch.randn_like(y)
    (g_ours,) = torch.autograd.grad((y * target).sum(), model.W)
    (g_ref,) = torch.autograd.grad((y_ref * target).sum(), ref.weight_hh_l0)
    torch.testing.assert_close(g_ours, g_ref)


def _all_ones_by_hand(inputs: list[float]) -> tuple[list[float], list[float]]:
    """The lecture's 2-2-2 linear net with all weights 1, scalar form: each hidden unit and each output unit
    holds the same number, so h_t = 2 x_t + 2 h_{t-1} (two inputs, two memory cells) and y_t = 2 h_t."""
    h, hs, ys = 0.0, [], []
    for x in inputs:
        h = 2 * x + 2 * h
        hs.append(h)
        ys.append(2 * h)
    return hs, ys


def _all_ones_model() -> ElmanRNN:
    model = ElmanRNN(2, 2, 2, activation="identity", bias=False)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    return model


@pytest.mark.parametrize("inputs", [[1.0, 1.0, 2.0], [2.0, 1.0, 1.0], [0.5, -1.0, 3.0, 0.0]])
def test_all_ones_linear_example_matches_hand_computation(inputs: list[float]) -> None:
    x = torch.tensor([[[v, v] for v in inputs]])  # (1, T, 2)
    y, h = _all_ones_model()(x)
    hs, ys = _all_ones_by_hand(inputs)
    torch.testing.assert_close(h[0], torch.tensor([[v, v] for v in hs]))
    torch.testing.assert_close(y[0], torch.tensor([[v, v] for v in ys]))


def test_all_ones_lecture_numbers_and_order_sensitivity() -> None:
    y, h = _all_ones_model()(torch.tensor([[[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]]))
    # lecture: memory 0 -> 2 -> 6, outputs [4, 4] then [12, 12]
    assert h[0, :2, 0].tolist() == [2.0, 6.0]
    assert y[0, :2, 0].tolist() == [4.0, 12.0]
    y_rev, _ = _all_ones_model()(torch.tensor([[[2.0, 2.0], [1.0, 1.0], [1.0, 1.0]]]))
    assert not torch.equal(y, y_rev)  # same inputs, different order, different outputs


def test_jordan_hand_computed_tiny_case() -> None:
    # n_in = 1, n_h = 1, n_out = 1: h_t = tanh(u x_t + w_o y_{t-1} + b), y_t = v h_t + c
    u, w_o, b, v, c = 0.5, -0.8, 0.1, 2.0, -0.3
    model = JordanRNN(1, 1, 1, activation="tanh").double()
    with torch.no_grad():
        model.U.fill_(u)
        model.W_o.fill_(w_o)
        model.b.fill_(b)
        model.V.fill_(v)
        model.c.fill_(c)
    xs, y0 = [1.0, -2.0, 0.5], 0.7
    y_prev, expected_h, expected_y = y0, [], []
    for x in xs:
        h_t = np.tanh(u * x + w_o * y_prev + b)
        y_prev = v * h_t + c
        expected_h.append(h_t)
        expected_y.append(y_prev)
    x = torch.tensor(xs, dtype=torch.float64).reshape(1, 3, 1)
    with torch.no_grad():
        y, h = model(x, torch.tensor([[y0]], dtype=torch.float64))
    np.testing.assert_allclose(h.flatten().numpy(), expected_h, rtol=1e-12)
    np.testing.assert_allclose(y.flatten().numpy(), expected_y, rtol=1e-12)


def test_jordan_feeds_back_outputs_not_hidden_state() -> None:
    # with V = 0 and c = 0 every output is 0, so a Jordan net has no memory: h_t depends on x_t only
    model = JordanRNN(2, 3, 2).double()
    with torch.no_grad():
        model.V.zero_()
        model.c.zero_()
    x = torch.randn(1, 4, 2, dtype=torch.float64)
    _, h = model(x)
    torch.testing.assert_close(h[0], torch.tanh(x[0] @ model.U.T + model.b))


def test_batch_elements_are_independent_and_device_dtype_follow_input() -> None:
    model = _random_elman(3, 4, 2)
    x = torch.randn(4, 5, 3, dtype=torch.float64)
    y, _ = model(x)
    y_single, _ = model(x[2:3])
    torch.testing.assert_close(y[2:3], y_single)
    assert y.dtype == torch.float64 and y.device == x.device
    y_empty, h_empty = model(x[:, :0])
    assert y_empty.shape == (4, 0, 2) and h_empty.shape == (4, 0, 4)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m(torch.randn(5, 3)), ValueError, "3-D"),
        (lambda m: m(torch.randn(2, 5, 4)), ValueError, r"\(B, T, 3\), got \(2, 5, 4\)"),
        (lambda m: m(torch.ones(2, 5, 3, dtype=torch.long)), TypeError, "floating-point"),
        (lambda m: m([[[0.0] * 3]]), TypeError, "torch.Tensor"),
        (lambda m: m(torch.randn(2, 5, 3), torch.zeros(2, 7)), ValueError, r"h0 must have shape \(2, 4\)"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match) -> None:
    model = ElmanRNN(3, 4, 2)
    with pytest.raises(error, match=match):
        call(model)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="activation must be one of"):
        ElmanRNN(2, 2, 2, activation="swish")
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        JordanRNN(2, 0, 2)
    with pytest.raises(ValueError, match=r"y0 must have shape \(1, 2\)"):
        JordanRNN(2, 3, 2)(torch.zeros(1, 2, 2), torch.zeros(1, 3))
