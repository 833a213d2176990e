"""The four basic recurrent structures of lecture 003, as small PyTorch modules.

1. :class:`NARX`: input-output recurrence with delay lines,
   y_{n+1} = F(y_n, ..., y_{n-q+1}; u_n, ..., u_{n-q+1}), F a one-hidden-layer perceptron.
2. :class:`StateSpaceRNN` (simple recurrent network): x_{n+1} = φ(W_a x_n + W_b u_n), y_n = W_c x_n.
3. :class:`RecurrentMLP`: every layer feeds back its own state,
   x_{I,n+1} = φ(x_{I,n}, u_n), x_{II,n+1} = φ(x_{II,n}, x_{I,n+1}), ...
4. :class:`SecondOrderNetwork`: v_{k,n} = b_k + Σ_i Σ_j w_{kij} x_{i,n} u_{j,n}, x_{k,n+1} = σ(v_{k,n}).

All take u of shape (B, T, m) (batch first) and run on the device and dtype of their parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from seqcourse.nn.recurrent import RNNCell
from seqcourse.utils import check_ndim, check_positive, check_shape

__all__ = ["NARX", "StateSpaceRNN", "RecurrentMLP", "SecondOrderNetwork"]

_ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _check_sequence(u: torch.Tensor, m: int) -> None:
    if not isinstance(u, torch.Tensor) or not u.is_floating_point():
        raise TypeError(f"u must be a floating-point tensor, got {getattr(u, 'dtype', type(u))}")
    check_ndim("u", u, 3)
    check_shape("u", u, ("B", "T", m))
    if u.shape[1] == 0:
        raise ValueError("u is an empty sequence (T = 0)")


class NARX(nn.Module):
    """Nonlinear autoregressive model with exogenous inputs: tapped delay lines on u and on y.

    ``forward(u (B, T, m), y=None) -> (B, T, p)``; output[:, n] is the prediction ŷ_{n+1}.
    The output delay line holds the q previous outputs (zeros before the start): the true ones
    ``y`` (B, T, p), aligned with the output, when given (open loop, "series-parallel", i.e. teacher
    forcing); otherwise the model's own predictions (closed loop, "parallel").
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int, q: int) -> None:
        super().__init__()
        check_positive(input_size=input_size, output_size=output_size, hidden_size=hidden_size, q=q)
        self.m, self.p, self.q = input_size, output_size, q
        self.hidden = nn.Linear(q * (output_size + input_size), hidden_size)  # acts on [y taps, u taps]
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, u: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        _check_sequence(u, self.m)
        B, T, _ = u.shape
        if y is not None:
            check_shape("y", y, (B, T, self.p))
        y_taps = [u.new_zeros(B, self.p) for _ in range(self.q)]  # y_n, y_{n-1}, ..., newest first
        u_taps = [u.new_zeros(B, self.m) for _ in range(self.q)]
        outputs = []
        for n in range(T):
            u_taps = [u[:, n], *u_taps[:-1]]  # u_n, ..., u_{n-q+1}
            z = torch.cat(y_taps + u_taps, dim=1)  # (B, q (p + m))
            y_next = self.out(torch.tanh(self.hidden(z)))  # (B, p): ŷ_{n+1}
            outputs.append(y_next)
            y_taps = [y[:, n] if y is not None else y_next, *y_taps[:-1]]
        return torch.stack(outputs, dim=1)  # (B, T, p)


class StateSpaceRNN(nn.Module):
    """x_{n+1} = φ(W_a x_n + W_b u_n), y_n = W_c x_n, with W_a (q, q), W_b (q, m), W_c (p, q); no biases.

    ``forward(u (B, T, m), x0 (B, q) | None) -> (y (B, T, p), x (B, T, q))`` where x[:, n] = x_{n+1}
    and y[:, n] = W_c x_{n+1}. φ is the logistic sigmoid (lecture 003) or tanh.
    """

    def __init__(
        self, input_size: int, state_size: int, output_size: int, nonlinearity: str = "sigmoid"
    ) -> None:
        super().__init__()
        check_positive(input_size=input_size, state_size=state_size, output_size=output_size)
        if nonlinearity not in _ACTIVATIONS:
            raise ValueError(f"nonlinearity must be one of {sorted(_ACTIVATIONS)}, got {nonlinearity!r}")
        self.m, self.q, self.nonlinearity = input_size, state_size, nonlinearity
        self.W_a = nn.Parameter(torch.empty(state_size, state_size).uniform_(-1, 1) / math.sqrt(state_size))
        self.W_b = nn.Parameter(torch.empty(state_size, input_size).uniform_(-1, 1) / math.sqrt(input_size))
        self.W_c = nn.Parameter(torch.empty(output_size, state_size).uniform_(-1, 1) / math.sqrt(state_size))

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        _check_sequence(u, self.m)
        phi = _ACTIVATIONS[self.nonlinearity]
        x = u.new_zeros(u.shape[0], self.q) if x0 is None else x0  # (B, q)
        check_shape("x0", x, (u.shape[0], self.q))
        bu = (u @ self.W_b.T).unbind(1)  # T x (B, q): W_b u_n for all n at once
        states = []
        for n in range(u.shape[1]):
            x = phi(x @ self.W_a.T + bu[n])  # (B, q)
            states.append(x)
        xs = torch.stack(states, dim=1)  # (B, T, q)
        return xs @ self.W_c.T, xs  # (B, T, p), (B, T, q)


class RecurrentMLP(nn.Module):
    """Layers I, II, ..., O, each with its own recurrence, run in step with time::

        x_{1,n+1} = tanh(U_1 u_n + W_1 x_{1,n} + b_1),   x_{l,n+1} = tanh(U_l x_{l-1,n+1} + W_l x_{l,n} + b_l)

    Each layer is a :class:`seqcourse.nn.recurrent.RNNCell`; sizes may differ between layers.
    ``forward(u (B, T, m), states=None) -> (x_O (B, T, n_O), final states [ (B, n_l) per layer ])``.
    """

    def __init__(self, input_size: int, layer_sizes: Sequence[int], nonlinearity: str = "tanh") -> None:
        super().__init__()
        if not layer_sizes:
            raise ValueError("layer_sizes must name at least one layer")
        check_positive(input_size=input_size, **{f"layer_sizes[{i}]": s for i, s in enumerate(layer_sizes)})
        self.m, self.layer_sizes = input_size, list(layer_sizes)
        sizes = [input_size, *layer_sizes]
        self.layers = nn.ModuleList(
            RNNCell(a, b, nonlinearity) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(
        self, u: torch.Tensor, states: Sequence[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        _check_sequence(u, self.m)
        B = u.shape[0]
        if states is None:
            states = [u.new_zeros(B, n) for n in self.layer_sizes]
        elif len(states) != len(self.layers):
            raise ValueError(f"states must hold {len(self.layers)} tensors, got {len(states)}")
        states = list(states)
        for i, (s, n) in enumerate(zip(states, self.layer_sizes, strict=True)):
            check_shape(f"states[{i}]", s, (B, n))
        ux = self.layers[0].project_input(u).unbind(1)  # T x (B, n_1): the first layer's input part, hoisted
        top = []
        for n in range(u.shape[1]):
            below = None
            for i, cell in enumerate(self.layers):
                proj = ux[n] if i == 0 else cell.project_input(below)
                states[i] = below = cell.step(proj, states[i])  # x_{i,n+1}
            top.append(below)
        return torch.stack(top, dim=1), states


class SecondOrderNetwork(nn.Module):
    """Multiplicative (second-order) recurrence: v_k = b_k + Σ_ij w_kij x_i u_j, x_{n+1} = σ(v_n).

    w: (q, q, m), b: (q,). ``forward(u (B, T, m), x0 (B, q) | None) -> states (B, T, q)``, x[:, n] = x_{n+1};
    x0 defaults to zeros. With one-hot states and inputs, w_kij is the transition "state i reads symbol
    j, goes to state k", which is how such networks encode finite automata.
    """

    def __init__(self, input_size: int, state_size: int) -> None:
        super().__init__()
        check_positive(input_size=input_size, state_size=state_size)
        self.m, self.q = input_size, state_size
        bound = 1.0 / math.sqrt(state_size * input_size)
        self.w = nn.Parameter(torch.empty(state_size, state_size, input_size).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.zeros(state_size))

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        _check_sequence(u, self.m)
        x = u.new_zeros(u.shape[0], self.q) if x0 is None else x0  # (B, q)
        check_shape("x0", x, (u.shape[0], self.q))
        states = []
        for n in range(u.shape[1]):
            v = self.b + torch.einsum("kij,bi,bj->bk", self.w, x, u[:, n])  # (B, q)
            x = torch.sigmoid(v)
            states.append(x)
        return torch.stack(states, dim=1)  # (B, T, q)
