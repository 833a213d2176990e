"""Recurrent cells and layers (RNN, LSTM, GRU) written from the equations, shaped like ``torch.nn``'s.

Notation (lectures 000 and 004): U multiplies the input x_t ∈ R^m, W the previous state h_{t-1} ∈ R^n,
b is the bias. The gates of one cell are stacked into one matrix so that each step costs one matmul:

    RNN:  h_t = tanh(U x_t + W h_{t-1} + b)                                U: (n, m),  W: (n, n)
    LSTM: [i; f; g; o] = U x_t + W h_{t-1} + b                              U: (4n, m), W: (4n, n)
          i, f, o = σ(·),  g = tanh(·)          (input, forget, output gates; candidate memory)
          c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
    GRU:  [r; z] = σ(U_rz x_t + W_rz h_{t-1} + b_rz)                       U: (3n, m), W: (3n, n)
          g = tanh(U_g x_t + b_g + r ⊙ (W_g h_{t-1} + b_hg))
          h_t = (1 - z) ⊙ g + z ⊙ h_{t-1}

The gate order (i, f, g, o for the LSTM; r, z, g for the GRU) is the one ``torch.nn`` uses, so
``from_torch`` copies weights without reordering. ``torch.nn`` keeps two biases per gate (b_ih, b_hh);
only their sum matters, so each cell has one bias b = b_ih + b_hh, as in the lectures, except the GRU's
candidate, where b_hh sits inside r ⊙ (...) and is kept separately as ``b_hg``.

Layers run the time loop in Python but hoist the input projections U x_t + b of all time steps into one
matmul before the loop; inside the loop there is one matmul (W h_{t-1}) per step.

Differences from ``torch.nn`` (everything else, shapes included, is the same; h0 is always
(num_layers * D, B, n), even when batch_first):

* ``batch_first`` defaults to **True**, the convention of the whole package (see :mod:`seqcourse.nn`);
  ``torch.nn`` defaults to False. Pass ``batch_first=False`` for (T, B, m) inputs.
* Everything after ``num_layers`` is keyword-only (``bidirectional=``, ``batch_first=``, ``dropout=``,
  ``nonlinearity=``), so a positional argument can never land in the wrong slot; there is no ``bias``
  (always on) and no ``proj_size``. ``from_torch`` copies a module with ``bias=True, proj_size=0``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqcourse.utils import check_ndim, check_positive, check_shape

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # h, or (h, c) for the LSTM


class _Cell(nn.Module):
    """Holds U (G n, m), W (G n, n), b (G n,) for G stacked gates; uniform init in ±1/sqrt(n) like torch."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        check_positive(input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        G, n = self.gates, hidden_size
        self.U = nn.Parameter(torch.empty(G * n, input_size))
        self.W = nn.Parameter(torch.empty(G * n, n))
        self.b = nn.Parameter(torch.empty(G * n))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """U x + b for any leading shape: (..., m) -> (..., G n). Layers call it once for all steps."""
        return torch.nn.functional.linear(x, self.U, self.b)

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {getattr(x, 'dtype', type(x))}")
        check_ndim("x", x, 2)
        check_shape("x", x, ("B", self.input_size))

    def _state(self, x: torch.Tensor, h: torch.Tensor | None, name: str = "h") -> torch.Tensor:
        if h is None:
            return x.new_zeros(x.shape[0], self.hidden_size)  # (B, n)
        check_shape(name, h, (x.shape[0], self.hidden_size))
        return h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_Cell):
    """h_t = φ(U x_t + W h_{t-1} + b), φ = tanh or relu. ``forward(x (B, m), h (B, n) | None) -> (B, n)``."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size)

    def step(self, ux: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step from the precomputed input projection ux = U x_t + b (B, n)."""
        a = torch.addmm(ux, h, self.W.t())  # (B, n)
        return torch.tanh(a) if self.nonlinearity == "tanh" else torch.relu(a)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        return self.step(self.project_input(x), self._state(x, h))


class LSTMCell(_Cell):
    """One LSTM step. ``forward(x (B, m), (h, c) | None) -> (h_t, c_t)``, each (B, n)."""

    gates = 4

    def step(
        self, ux: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step from ux = U x_t + b (B, 4n): all four gates from a single matmul."""
        h, c = state
        z = torch.addmm(ux, h, self.W.t())  # (B, 4n)
        n = h.shape[-1]
        i, f, _, o = torch.sigmoid(z).chunk(4, dim=1)  # one kernel for the gates; the g slot is unused
        g = torch.tanh(z[:, 2 * n : 3 * n])  # (B, n) candidate
        c = torch.addcmul(f * c, i, g)  # (B, n): f ⊙ c + i ⊙ g
        h = o * torch.tanh(c)  # (B, n)
        return h, c

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_input(x)
        if state is None:
            h = c = self._state(x, None)
        else:
            h, c = self._state(x, state[0], "h"), self._state(x, state[1], "c")
        return self.step(self.project_input(x), (h, c))


class GRUCell(_Cell):
    """One GRU step. ``forward(x (B, m), h (B, n) | None) -> h_t (B, n)``."""

    gates = 3

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        bound = 1.0 / math.sqrt(hidden_size)
        self.b_hg = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def step(self, ux: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step from ux = U x_t + b (B, 3n): r, z and W_g h from a single matmul."""
        n = self.hidden_size
        wh = h @ self.W.t()  # (B, 3n)
        rz = torch.sigmoid(ux[:, : 2 * n] + wh[:, : 2 * n])  # (B, 2n)
        r, z = rz[:, :n], rz[:, n:]
        g = torch.tanh(ux[:, 2 * n :] + r * (wh[:, 2 * n :] + self.b_hg))  # (B, n)
        return g + z * (h - g)  # (1 - z) g + z h

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        return self.step(self.project_input(x), self._state(x, h))


class _Recurrent(nn.Module):
    """Stacked, optionally bidirectional layers of one cell type; mirrors the torch.nn constructor."""

    cell_class: type[_Cell] = RNNCell
    torch_class: type[nn.RNNBase] = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bidirectional: bool = False,
        batch_first: bool = True,
        dropout: float = 0.0,
        **cell_kwargs: str,
    ) -> None:
        super().__init__()
        check_positive(num_layers=num_layers)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.batch_first, self.dropout = bool(bidirectional), bool(batch_first), dropout
        self.num_directions = 2 if bidirectional else 1
        self.cells = nn.ModuleList(
            self.cell_class(
                input_size if layer == 0 else hidden_size * self.num_directions, hidden_size, **cell_kwargs
            )
            for layer in range(num_layers)
            for _ in range(self.num_directions)
        )  # cells[layer * D + direction]

    # --- state helpers, overridden by LSTM whose state is a pair -------------------------------------
    def _zero_state(self, x: torch.Tensor, B: int):
        return x.new_zeros(self.num_layers * self.num_directions, B, self.hidden_size)

    def _split_state(self, h0, k: int):
        return h0[k]

    def _stack_states(self, finals: list):
        return torch.stack(finals)  # (L * D, B, n)

    def _check_state(self, h0, B: int, unbatched: bool, name: str = "h0"):
        shape = (self.num_layers * self.num_directions,) + (() if unbatched else (B,)) + (self.hidden_size,)
        check_shape(name, h0, shape)
        return h0 if not unbatched else h0.unsqueeze(1)

    def _run_direction(
        self, cell: _Cell, x: torch.Tensor, state: State, reverse: bool
    ) -> tuple[torch.Tensor, State]:
        """Run one cell over x (B, T, m'); return outputs (B, T, n) and the final state."""
        ux = cell.project_input(x).unbind(1)  # T x (B, G n): all input projections in one matmul
        # (unbind, not ux[:, t]: the backward of T separate slices would write T full-size zero tensors)
        steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
        outputs = [None] * x.shape[1]
        for t in steps:
            state = cell.step(ux[t], state)
            outputs[t] = state[0] if isinstance(state, tuple) else state
        return torch.stack(outputs, dim=1), state  # (B, T, n)

    def forward(self, x: torch.Tensor, h0: State | None = None) -> tuple[torch.Tensor, State]:
        """Run all layers and directions over x; return (output, final state), shaped as in torch.nn."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {getattr(x, 'dtype', type(x))}")
        check_ndim("x", x, (2, 3))
        unbatched = x.ndim == 2
        if unbatched:
            x = x.unsqueeze(0)  # (1, T, m)
        elif not self.batch_first:
            x = x.transpose(0, 1)  # (B, T, m)
        check_shape("x (batch-first view)", x, ("B", "T", self.input_size))
        if x.shape[1] == 0:
            raise ValueError("x is an empty sequence (T = 0)")
        B = x.shape[0]
        h0 = self._zero_state(x, B) if h0 is None else self._check_state(h0, B, unbatched)
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                out, final = self._run_direction(self.cells[k], x, self._split_state(h0, k), reverse=d == 1)
                outs.append(out)
                finals.append(final)
            x = torch.cat(outs, dim=2) if self.num_directions == 2 else outs[0]  # (B, T, D n)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = nn.functional.dropout(x, self.dropout, training=True)
        h_n = self._stack_states(finals)
        if unbatched:
            return x[0], self._squeeze_state(h_n)
        return (x if self.batch_first else x.transpose(0, 1)), h_n

    def _squeeze_state(self, h_n):
        return h_n[:, 0]

    # --- weights from torch.nn ------------------------------------------------------------------------
    def _load_cell(self, cell: _Cell, w_ih, w_hh, b_ih, b_hh) -> None:
        cell.U.copy_(w_ih)
        cell.W.copy_(w_hh)
        cell.b.copy_(b_ih + b_hh)

    @classmethod
    def from_torch(cls, module: nn.RNNBase) -> _Recurrent:
        """A module of this class with the hyper-parameters, weights, dtype and device of ``module``."""
        if not isinstance(module, cls.torch_class):
            raise TypeError(f"expected a torch.nn.{cls.torch_class.__name__}, got {type(module).__name__}")
        if not module.bias or getattr(module, "proj_size", 0):
            raise ValueError("only modules with bias=True and proj_size=0 can be converted")
        kwargs = {"nonlinearity": module.nonlinearity} if isinstance(module, nn.RNN) else {}
        ref = next(module.parameters())
        new = cls(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            bidirectional=module.bidirectional,
            batch_first=module.batch_first,
            dropout=float(module.dropout),
            **kwargs,
        ).to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for layer in range(module.num_layers):
                for d in range(new.num_directions):
                    sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                    w = [
                        getattr(module, f"{name}{sfx}")
                        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                    ]
                    new._load_cell(new.cells[layer * new.num_directions + d], *w)
        return new

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"bidirectional={self.bidirectional}, batch_first={self.batch_first}, dropout={self.dropout}"
        )


class RNN(_Recurrent):
    """Multi-layer Elman-style RNN, h_t = φ(U x_t + W h_{t-1} + b). ``forward(x, h0) -> (output, h_n)``.

    ``RNN(input_size, hidden_size, num_layers=1, *, bidirectional=False, batch_first=True, dropout=0.0,
    nonlinearity="tanh")``. x: (B, T, m) (batch_first) or (T, B, m), or unbatched (T, m); h0: (L * D, B, n).
    output: (B, T, D n) (or (T, B, D n)); h_n: (L * D, B, n).
    """

    cell_class = RNNCell
    torch_class = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bidirectional: bool = False,
        batch_first: bool = True,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bidirectional=bidirectional,
            batch_first=batch_first,
            dropout=dropout,
            nonlinearity=nonlinearity,
        )
        self.nonlinearity = nonlinearity


class GRU(_Recurrent):
    """Multi-layer GRU with the constructor and shapes of :class:`RNN` (no ``nonlinearity``).
    ``forward(x, h0) -> (output, h_n)``."""

    cell_class = GRUCell
    torch_class = nn.GRU

    def _load_cell(self, cell: _Cell, w_ih, w_hh, b_ih, b_hh) -> None:
        n = self.hidden_size
        cell.U.copy_(w_ih)
        cell.W.copy_(w_hh)
        cell.b.copy_(torch.cat([b_ih[: 2 * n] + b_hh[: 2 * n], b_ih[2 * n :]]))
        cell.b_hg.copy_(b_hh[2 * n :])


class LSTM(_Recurrent):
    """Multi-layer LSTM with the constructor of :class:`GRU`.

    ``forward(x, (h0, c0)) -> (output, (h_n, c_n))``; h0, c0, h_n, c_n: (L * D, B, n).
    """

    cell_class = LSTMCell
    torch_class = nn.LSTM

    def _zero_state(self, x: torch.Tensor, B: int):
        h = super()._zero_state(x, B)
        return h, h

    def _split_state(self, h0, k: int):
        return h0[0][k], h0[1][k]

    def _stack_states(self, finals: list):
        return torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals])

    def _check_state(self, h0, B: int, unbatched: bool):
        if not isinstance(h0, (tuple, list)) or len(h0) != 2:
            raise ValueError("the LSTM state must be a pair (h0, c0)")
        return super()._check_state(h0[0], B, unbatched), super()._check_state(h0[1], B, unbatched, "c0")

    def _squeeze_state(self, h_n):
        return h_n[0][:, 0], h_n[1][:, 0]
