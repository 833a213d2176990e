"""seqcourse.nn.gated_memory (many-to-one model, forget bias, LSTM cell-state Jacobian)
of the chapters 长短期记忆网络与门控循环单元 and 序列到序列与注意力机制."""

import math

import pytest
import torch
from torch import nn

from seqcourse.nn.gated_memory import ManyToOne, cell_state_jacobian_norms, set_forget_bias
from seqcourse.nn.recurrent import GRU, LSTM, LSTMCell


@pytest.mark.parametrize(
    ("cell", "torch_class", "ours", "layers", "bidirectional"),
    [("lstm", nn.LSTM, LSTM, 1, False), ("gru", nn.GRU, GRU, 2, True), ("lstm", nn.LSTM, LSTM, 2, True)],
)
def test_many_to_one_matches_torch_layer_and_linear(cell, torch_class, ours, layers, bidirectional):
    torch.manual_seed(0)
    ref_rnn = torch_class(3, 5, layers, batch_first=True, bidirectional=bidirectional).double()
    ref_head = nn.Linear(10 if bidirectional else 5, 2).double()
    model = ManyToOne(3, 5, 2, cell=cell, num_layers=layers, bidirectional=bidirectional).double()
    model.rnn = ours.from_torch(ref_rnn)
    model.V.load_state_dict(ref_head.state_dict())
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    expected = ref_head(ref_rnn(x)[0][:, -1])  # (B, k): V h_T + c
    torch.testing.assert_close(model(x), expected)
    assert model(x).shape == (4, 2)


def test_forget_bias_sets_only_the_forget_gate_of_every_layer():
    torch.manual_seed(0)
    model = ManyToOne(2, 4, cell="lstm", num_layers=2)
    before = [c.b.detach().clone() for c in model.rnn.cells]
    set_forget_bias(model.rnn, 3.0)
    for cell, b in zip(model.rnn.cells, before, strict=True):
        torch.testing.assert_close(cell.b[4:8], torch.full((4,), 3.0))  # i, f, g, o: f is rows n..2n
        torch.testing.assert_close(cell.b[:4], b[:4])
        torch.testing.assert_close(cell.b[8:], b[8:])
    assert torch.all(ManyToOne(2, 4, forget_bias=1.5).rnn.cells[0].b[4:8] == 1.5)


def test_forget_bias_is_the_gate_torch_uses_as_forget():
    # with U = W = 0 the cell is c_t = f c_{t-1} + i g: a huge forget bias must keep c_0, a tiny one erase it
    cell = LSTMCell(2, 3)
    with torch.no_grad():
        cell.U.zero_()
        cell.W.zero_()
        cell.b.zero_()
    ref = nn.LSTMCell(2, 3)
    with torch.no_grad():
        ref.weight_ih.zero_()
        ref.weight_hh.zero_()
        ref.bias_hh.zero_()
    x, h0, c0 = torch.randn(1, 2), torch.zeros(1, 3), torch.ones(1, 3)
    for value in (-20.0, 20.0):
        set_forget_bias(cell, value)
        with torch.no_grad():
            ref.bias_ih.copy_(cell.b)
        torch.testing.assert_close(cell(x, (h0, c0))[1], ref(x, (h0, c0))[1])
    assert cell(x, (h0, c0))[1].detach().mean().item() == pytest.approx(1.0, abs=1e-6)  # b_f = 20 keeps c_0


def test_jacobian_norms_match_autograd_jacobian():
    torch.manual_seed(1)
    cell = LSTMCell(2, 4).double()
    with torch.no_grad():
        cell.W.mul_(3.0)  # strong recurrent paths through h
    x = torch.randn(6, 2, dtype=torch.float64)
    h0, c0 = 0.5 * torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)

    def all_cells(c: torch.Tensor) -> torch.Tensor:
        h, cs = h0[None], []
        for t in range(6):
            h, c = cell(x[t : t + 1], (h, c))
            cs.append(c[0])
        return torch.stack(cs)  # (T, n)

    jac = torch.autograd.functional.jacobian(all_cells, c0[None])  # (T, n, 1, n)
    expected = jac.flatten(1).norm(dim=1)  # (T,)
    torch.testing.assert_close(cell_state_jacobian_norms(cell, x, h0, c0), expected)


def test_jacobian_with_no_recurrent_weights_is_the_product_of_forget_gates():
    torch.manual_seed(2)
    cell = LSTMCell(3, 5).double()
    with torch.no_grad():
        cell.W.zero_()
    x = torch.randn(8, 3, dtype=torch.float64)
    f = torch.sigmoid(x @ cell.U[5:10].T + cell.b[5:10])  # (T, n): forget gates, independent of h when W = 0
    expected = torch.cumprod(f, dim=0).norm(dim=1)  # ||Π_s diag(f_s)||_F
    torch.testing.assert_close(cell_state_jacobian_norms(cell, x), expected)


@pytest.mark.parametrize("b_f", [-1.0, 1.0, 4.0])
def test_jacobian_closed_form_sigma_power(b_f):
    cell = LSTMCell(1, 6).double()
    with torch.no_grad():
        cell.U.zero_()
        cell.W.zero_()
    set_forget_bias(cell, b_f)
    norms = cell_state_jacobian_norms(cell, torch.randn(10, 1, dtype=torch.float64))
    t = torch.arange(1, 11, dtype=torch.float64)
    torch.testing.assert_close(norms, (1 / (1 + math.exp(-b_f))) ** t * math.sqrt(6))


def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="cell must be one of"):
        ManyToOne(2, 3, cell="transformer")
    with pytest.raises(ValueError, match="forget_bias"):
        ManyToOne(2, 3, cell="gru", forget_bias=1.0)
    with pytest.raises(ValueError, match="hidden_size"):
        ManyToOne(2, 0)
    with pytest.raises(ValueError, match="3-D"):
        ManyToOne(2, 3)(torch.zeros(5, 2))
    with pytest.raises(TypeError, match="LSTM"):
        set_forget_bias(GRU(2, 3), 1.0)
    cell = LSTMCell(2, 3)
    with pytest.raises(ValueError, match=r"x must have shape \(T, 2\)"):
        cell_state_jacobian_norms(cell, torch.zeros(5, 3))
    with pytest.raises(ValueError, match="c0"):
        cell_state_jacobian_norms(cell, torch.zeros(5, 2), c0=torch.zeros(4))
    with pytest.raises(TypeError, match="LSTMCell"):
        cell_state_jacobian_norms(nn.LSTMCell(2, 3), torch.zeros(5, 2))
