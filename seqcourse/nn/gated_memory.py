"""Long-term memory in recurrent networks: a many-to-one model and the Jacobian of the LSTM cell path.

``ManyToOne`` is design pattern 3 (read the whole sequence, answer once) on top of a recurrent layer of
:mod:`seqcourse.nn.recurrent`::

    h_1 .. h_T = RNN / LSTM / GRU (x_1 .. x_T),      y = V h_T + c        x: (B, T, m), y: (B, k)

It is the model of the adding problem (:func:`seqcourse.data.synthetic.adding_task`), where the answer
depends on two inputs that may lie far before the last step. ``forget_bias`` adds a constant to the
forget-gate part of the LSTM bias b_f, so that at the start of training f_t = σ(... + b_f) is close to 1
and the cell keeps its content (Gers et al. 2000; Jozefowicz et al. 2015 recommend b_f = 1).

``cell_state_jacobian_norms`` measures how far a gradient travels along the LSTM cell state. From

    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t,      h_t = o_t ⊙ tanh(c_t)

the Jacobian is ∂c_t/∂c_{t-1} = diag(f_t) + (paths through h_{t-1} and the weights W). With W = 0 only the
first term remains, so ∂c_t/∂c_0 = Π_s diag(f_s), and with U = 0 as well its Frobenius norm is exactly
σ(b_f)^t sqrt(n): no repeated multiplication by W, hence no vanishing as long as the forget gates stay
near 1. With large W the extra paths can still make the norm grow, which is why gated networks are
trained with gradient clipping too.
"""

from __future__ import annotations

import torch
from torch import nn

from seqcourse.nn.recurrent import GRU, LSTM, RNN, LSTMCell
from seqcourse.utils import check_ndim, check_positive, check_shape

__all__ = ["ManyToOne", "set_forget_bias", "cell_state_jacobian_norms"]

_LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def set_forget_bias(lstm: LSTM | LSTMCell, value: float) -> None:
    """Set the forget-gate part b_f of every LSTM bias to ``value`` (gate order i, f, g, o as in torch)."""
    cells = [lstm] if isinstance(lstm, LSTMCell) else getattr(lstm, "cells", None)
    if not isinstance(lstm, (LSTM, LSTMCell)) or cells is None:
        raise TypeError(f"expected a seqcourse LSTM or LSTMCell, got {type(lstm).__name__}")
    with torch.no_grad():
        for cell in cells:
            n = cell.hidden_size
            cell.b[n : 2 * n].fill_(float(value))


class ManyToOne(nn.Module):
    """y = V h_T + c from the last output h_T (B, D n) of a recurrent layer: ``forward(x (B, T, m))`` (B, k).

    ``cell`` is ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``; ``num_layers`` and ``bidirectional`` are passed to
    the layer (for a bidirectional layer h_T concatenates the forward state after x_T and the backward state
    after x_1). ``forget_bias`` (LSTM only; None keeps the random init) sets b_f, see :func:`set_forget_bias`.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int = 1,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        if cell not in _LAYERS:
            raise ValueError(f"cell must be one of {sorted(_LAYERS)}, got {cell!r}")
        check_positive(input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        if forget_bias is not None and cell != "lstm":
            raise ValueError(f"forget_bias applies to cell='lstm' only, got cell={cell!r}")
        self.cell = cell
        layer = _LAYERS[cell]
        self.rnn = layer(input_size, hidden_size, num_layers, bidirectional=bidirectional, batch_first=True)
        directions = 2 if bidirectional else 1
        self.V = nn.Linear(directions * hidden_size, output_size)  # weight V (k, D n), bias c (k,)
        if forget_bias is not None:
            set_forget_bias(self.rnn, forget_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_ndim("x", x, 3)
        out, _ = self.rnn(x)  # (B, T, D n)
        return self.V(out[:, -1])  # (B, k)


def cell_state_jacobian_norms(
    cell: LSTMCell, x: torch.Tensor, h0: torch.Tensor | None = None, c0: torch.Tensor | None = None
) -> torch.Tensor:
    """Frobenius norms ||∂c_t/∂c_0||_F for t = 1..T of an LSTM cell reading one sequence x (T, m).

    ``h0`` and ``c0`` (n,) default to zeros; h_0 is held fixed, so the Jacobian counts every path from c_0
    to c_t (the cell path and the paths through h_1 .. h_{t-1}). The sequence runs as a batch of n identical
    copies and copy i carries row i of the Jacobian (one backward pass per step). Returns (T,) detached.
    """
    if not isinstance(cell, LSTMCell):
        raise TypeError(f"cell must be a seqcourse LSTMCell, got {type(cell).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {getattr(x, 'dtype', type(x))}")
    check_ndim("x", x, 2)
    check_shape("x", x, ("T", cell.input_size))
    n, T = cell.hidden_size, x.shape[0]
    if T == 0:
        raise ValueError("x is an empty sequence (T = 0)")
    states = []
    for name, s in (("h0", h0), ("c0", c0)):
        s = x.new_zeros(n) if s is None else s.detach().to(x)  # (n,)
        check_shape(name, s, (n,))
        states.append(s.expand(n, n).clone())  # (n, n): n copies
    h, c0_batch = states
    c0_batch.requires_grad_(True)
    ux = cell.project_input(x).expand(n, T, 4 * n).unbind(1)  # T x (n, 4n): U x_t + b for every copy
    eye = torch.eye(n, device=x.device, dtype=x.dtype)  # (n, n): picks component i of copy i
    c = c0_batch
    norms = []
    for t in range(T):
        h, c = cell.step(ux[t], (h, c))  # (n, n) each
        (jac,) = torch.autograd.grad((c * eye).sum(), c0_batch, retain_graph=True)  # (n, n) = ∂c_t/∂c_0
        norms.append(jac.norm())
    return torch.stack(norms).detach()  # (T,)
