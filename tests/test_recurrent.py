"""seqcourse.nn.recurrent against torch.nn.RNN/LSTM/GRU and their cells, with copied weights (float64)."""

from __future__ import annotations

import pytest
import torch

from seqcourse.nn import recurrent as R

M, N, B, T = 3, 4, 2, 5
DT = torch.float64

KINDS = {
    "rnn": (R.RNN, torch.nn.RNN),
    "lstm": (R.LSTM, torch.nn.LSTM),
    "gru": (R.GRU, torch.nn.GRU),
}


def _state(kind, layers, dirs, batch=B, generator=None):
    h = torch.randn(layers * dirs, batch, N, dtype=DT, generator=generator)
    if kind == "lstm":
        return h, torch.randn(layers * dirs, batch, N, dtype=DT, generator=generator)
    return h


def _flat(state):
    return torch.cat([s.reshape(-1) for s in state]) if isinstance(state, tuple) else state.reshape(-1)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    "layers,bidirectional,batch_first,give_h0",
    [
        (1, False, True, False),
        (1, False, False, True),
        (2, False, True, True),
        (2, True, False, False),
        (1, True, True, True),
    ],
)
def test_layer_matches_torch(kind, layers, bidirectional, batch_first, give_h0):
    g = torch.Generator().manual_seed(layers + 2 * bidirectional + 4 * batch_first + 8 * give_h0)
    ours_cls, torch_cls = KINDS[kind]
    torch.manual_seed(0)
    ref = torch_cls(M, N, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first).to(DT)
    with torch.no_grad():  # make the two biases of every gate differ, so a dropped one is caught
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, dtype=DT, generator=g) * 0.5)
    ours = ours_cls.from_torch(ref)
    assert ours.batch_first == batch_first and ours.num_layers == layers
    dirs = 2 if bidirectional else 1
    x = torch.randn((B, T, M) if batch_first else (T, B, M), dtype=DT, generator=g)
    h0 = _state(kind, layers, dirs, generator=g) if give_h0 else None

    outs, grads = [], []
    for module in (ours, ref):
        xi = x.clone().requires_grad_(True)
        out, hn = module(xi, h0) if give_h0 else module(xi)
        w = torch.linspace(-1, 1, out.numel(), dtype=DT).reshape(out.shape)
        loss = (out * w).sum() + (_flat(hn) ** 2).sum()
        loss.backward()
        outs.append((out.detach(), tuple(s.detach() for s in hn) if kind == "lstm" else hn.detach()))
        grads.append(xi.grad)
    (out, hn), (out_ref, hn_ref) = outs
    expected = (B, T, dirs * N) if batch_first else (T, B, dirs * N)
    assert out.shape == out_ref.shape == expected
    torch.testing.assert_close(out, out_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(_flat(hn), _flat(hn_ref), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)

    # parameter gradients: U <-> weight_ih, W <-> weight_hh, b <-> bias_ih (= bias_hh except GRU's candidate)
    for layer in range(layers):
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            cell = ours.cells[layer * dirs + d]
            torch.testing.assert_close(
                cell.U.grad, getattr(ref, "weight_ih" + sfx).grad, rtol=1e-10, atol=1e-12
            )
            torch.testing.assert_close(
                cell.W.grad, getattr(ref, "weight_hh" + sfx).grad, rtol=1e-10, atol=1e-12
            )
            torch.testing.assert_close(
                cell.b.grad, getattr(ref, "bias_ih" + sfx).grad, rtol=1e-10, atol=1e-12
            )
            if kind == "gru":
                torch.testing.assert_close(
                    cell.b_hg.grad, getattr(ref, "bias_hh" + sfx).grad[2 * N :], rtol=1e-10, atol=1e-12
                )


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_input_and_default_batch_first(kind):
    ours_cls, torch_cls = KINDS[kind]
    ref = torch_cls(M, N, num_layers=2).to(DT)
    ours = ours_cls.from_torch(ref)
    x = torch.randn(T, M, dtype=DT)
    out, hn = ours(x)
    out_ref, hn_ref = ref(x)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(_flat(hn), _flat(hn_ref))
    g = torch.Generator().manual_seed(5)
    h = torch.randn(2, N, dtype=DT, generator=g)
    h0 = (h, torch.randn(2, N, dtype=DT, generator=g)) if kind == "lstm" else h  # unbatched: (L * D, n)
    out, hn = ours(x, h0)
    out_ref, hn_ref = ref(x, h0)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(_flat(hn), _flat(hn_ref))
    assert ours_cls(M, N).batch_first  # the course's default differs from torch.nn on purpose


def test_relu_rnn_and_dropout_between_layers():
    torch.manual_seed(0)
    ref = torch.nn.RNN(M, N, num_layers=2, nonlinearity="relu", dropout=0.5).to(DT)
    ours = R.RNN.from_torch(ref)
    assert ours.nonlinearity == "relu" and ours.dropout == 0.5
    x = torch.randn(T, B, M, dtype=DT)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    ours.train()
    torch.manual_seed(0)
    a = ours(x)[0]
    torch.manual_seed(1)
    assert not torch.allclose(a, ours(x)[0])  # dropout is active in training mode


@pytest.mark.parametrize(
    "ours_cls,torch_cls",
    [(R.RNNCell, torch.nn.RNNCell), (R.LSTMCell, torch.nn.LSTMCell), (R.GRUCell, torch.nn.GRUCell)],
)
def test_cells_match_torch(ours_cls, torch_cls):
    g = torch.Generator().manual_seed(3)
    ref = torch_cls(M, N).to(DT)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, dtype=DT, generator=g))
    ours = ours_cls(M, N).to(DT)
    with torch.no_grad():
        ours.U.copy_(ref.weight_ih)
        ours.W.copy_(ref.weight_hh)
        if ours_cls is R.GRUCell:
            ours.b.copy_(torch.cat([ref.bias_ih[: 2 * N] + ref.bias_hh[: 2 * N], ref.bias_ih[2 * N :]]))
            ours.b_hg.copy_(ref.bias_hh[2 * N :])
        else:
            ours.b.copy_(ref.bias_ih + ref.bias_hh)
    x = torch.randn(B, M, dtype=DT, generator=g)
    h = torch.randn(B, N, dtype=DT, generator=g)
    if ours_cls is R.LSTMCell:
        c = torch.randn(B, N, dtype=DT, generator=g)
        for a, b in zip(ours(x, (h, c)), ref(x, (h, c)), strict=True):
            torch.testing.assert_close(a, b)
        for a, b in zip(ours(x), ref(x), strict=True):
            torch.testing.assert_close(a, b)
    else:
        torch.testing.assert_close(ours(x, h), ref(x, h))
        torch.testing.assert_close(ours(x), ref(x))


def test_parameter_counts_follow_the_lectures():
    from seqcourse import count

    n_params = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    assert n_params(R.LSTM(M, N)) == count.lstm_params(M, N)  # 4[(m + n) n + n]
    assert n_params(R.RNN(M, N)) == count.rnn_params(M, N)
    assert n_params(R.GRU(M, N)) == count.gru_params(M, N) + N  # + the candidate's recurrent bias


def test_bad_inputs_raise_clear_errors():
    lstm = R.LSTM(M, N, num_layers=2)
    with pytest.raises(ValueError, match=r"x \(batch-first view\) must have shape \(B, T, 3\)"):
        lstm(torch.zeros(B, T, M + 1))
    with pytest.raises(ValueError, match="2 or 3-D"):
        lstm(torch.zeros(B, T, M, 1))
    with pytest.raises(TypeError, match="floating-point"):
        lstm(torch.zeros(B, T, M, dtype=torch.long))
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 2, 4\)"):
        lstm(torch.zeros(B, T, M), (torch.zeros(1, B, N), torch.zeros(2, B, N)))
    with pytest.raises(ValueError, match=r"c0 must have shape"):
        lstm(torch.zeros(B, T, M), (torch.zeros(2, B, N), torch.zeros(2, B + 1, N)))
    with pytest.raises(ValueError, match="pair"):
        lstm(torch.zeros(B, T, M), torch.zeros(2, B, N))
    with pytest.raises(ValueError, match="empty sequence"):
        lstm(torch.zeros(B, 0, M))
    with pytest.raises(ValueError, match="nonlinearity"):
        R.RNN(M, N, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="num_layers"):
        R.GRU(M, N, num_layers=0)
    with pytest.raises(TypeError, match="torch.nn.LSTM"):
        R.LSTM.from_torch(torch.nn.GRU(M, N))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3\)"):
        R.GRUCell(M, N)(torch.zeros(B, M + 2))
