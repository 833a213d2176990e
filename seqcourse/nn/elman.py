"""Elman and Jordan networks: the two classic simple recurrent networks, written as explicit time loops.

Elman network (the hidden state is fed back, lecture notation U, W, V, b, c)::

    h_t = f(U x_t + W h_{t-1} + b)          # (B, n_h)
    y_t = g(V h_t + c)                      # (B, n_out)

Jordan network (the previous *output* is fed back through W_o)::

    h_t = f(U x_t + W_o y_{t-1} + b)        # (B, n_h)
    y_t = g(V h_t + c)                      # (B, n_out)

Inputs are batch-first, ``x: (B, T, n_in)``. Both activations are configurable (``"tanh"``, ``"sigmoid"``,
``"relu"``, ``"identity"``, ``"softmax"`` or any callable), so the all-ones linear example of the lecture is
``ElmanRNN(2, 2, 2, activation="identity", bias=False)`` with every weight set to 1.

These modules are didactic: one readable loop over time. The general, fast recurrent layers (RNN, LSTM,
GRU) live in ``seqcourse.nn.recurrent``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from seqcourse.utils import check_ndim, check_positive, check_shape

__all__ = ["ACTIVATIONS", "ElmanRNN", "JordanRNN", "get_activation", "state_jacobian_norms"]

Activation = Callable[[torch.Tensor], torch.Tensor]

ACTIVATIONS: dict[str, Activation] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "identity": lambda a: a,
    "softmax": lambda a: torch.softmax(a, dim=-1),
}


def get_activation(activation: str | Activation) -> Activation:
    """Return the activation function named ``activation`` (see ``ACTIVATIONS``), or ``activation`` itself."""
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a callable, got {activation!r}")


def _check_sequence(x: torch.Tensor, n_in: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (B, T, {n_in}), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    check_ndim("x", x, 3)
    check_shape("x", x, ("B", "T", n_in))


class _SimpleRecurrent(nn.Module):
    """Shared parameters and helpers of the Elman and Jordan networks (U, b, V, c and the activations).

    Constructor: ``(input_size, hidden_size, output_size, activation="tanh", output_activation="identity",
    bias=True)``; ``activation`` is f, ``output_activation`` is g (a name from ``ACTIVATIONS`` or a callable),
    ``bias=False`` drops b and c. Subclasses add their feedback weight in ``_init_feedback`` and write the
    time loop in ``forward``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        activation: str | Activation = "tanh",
        output_activation: str | Activation = "identity",
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive(input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.f = get_activation(activation)
        self.g = get_activation(output_activation)
        self.U = nn.Parameter(torch.empty(hidden_size, input_size))  # input -> hidden
        self.V = nn.Parameter(torch.empty(output_size, hidden_size))  # hidden -> output
        self.b = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.c = nn.Parameter(torch.empty(output_size)) if bias else None
        self._init_feedback()  # W (Elman) or W_o (Jordan)
        self.reset_parameters()

    def _init_feedback(self) -> None:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(n_h), 1/sqrt(n_h)) for every parameter, the same rule as ``torch.nn.RNN``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _input_part(self, x: torch.Tensor) -> torch.Tensor:
        """U x_t + b for every step at once, hoisted out of the time loop: (B, T, n_in) -> (B, T, n_h)."""
        a = x @ self.U.T  # (B, T, n_h)
        return a + self.b if self.b is not None else a

    def _output(self, h: torch.Tensor) -> torch.Tensor:
        """y_t = g(V h_t + c): (B, n_h) -> (B, n_out)."""
        o = h @ self.V.T  # (B, n_out)
        return self.g(o + self.c if self.c is not None else o)

    def _initial(self, name: str, given: torch.Tensor | None, x: torch.Tensor, size: int) -> torch.Tensor:
        if given is None:
            return x.new_zeros(x.shape[0], size)  # (B, size)
        if not isinstance(given, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (B, {size}), got {type(given).__name__}")
        check_shape(name, given, (x.shape[0], size))
        return given.to(x)  # same device and dtype as x

    def _stack(
        self, ys: list[torch.Tensor], hs: list[torch.Tensor], x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the per-step outputs along time: -> (B, T, n_out), (B, T, n_h); handles T = 0."""
        if not hs:
            return x.new_zeros(x.shape[0], 0, self.output_size), x.new_zeros(x.shape[0], 0, self.hidden_size)
        return torch.stack(ys, dim=1), torch.stack(hs, dim=1)  # (B, T, n_out), (B, T, n_h)

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}, bias={self.b is not None}"
        )


class ElmanRNN(_SimpleRecurrent):
    """Elman network: the hidden state h_{t-1} is fed back (lecture's U, W, V, b, c).

    h_t = f(U x_t + W h_{t-1} + b),  y_t = g(V h_t + c)

    Shapes: U (n_h, n_in), W (n_h, n_h), V (n_out, n_h), b (n_h,), c (n_out,).
    ``forward(x, h0)`` takes ``x: (B, T, n_in)`` and optional ``h0: (B, n_h)`` (zeros by default) and returns
    ``(y, h)`` with ``y: (B, T, n_out)`` the outputs and ``h: (B, T, n_h)`` the hidden state of every step.
    """

    def _init_feedback(self) -> None:
        self.W = nn.Parameter(torch.empty(self.hidden_size, self.hidden_size))  # hidden -> hidden

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        _check_sequence(x, self.input_size)
        a_in = self._input_part(x)  # (B, T, n_h)
        h = self._initial("h0", h0, x, self.hidden_size)  # (B, n_h)
        hs, ys = [], []
        for t in range(x.shape[1]):
            h = self.f(a_in[:, t] + h @ self.W.T)  # (B, n_h)
            hs.append(h)
            ys.append(self._output(h))  # (B, n_out)
        return self._stack(ys, hs, x)


class JordanRNN(_SimpleRecurrent):
    """Jordan network: the previous output y_{t-1} is fed back through W_o.

    h_t = f(U x_t + W_o y_{t-1} + b),  y_t = g(V h_t + c)

    Shapes: U (n_h, n_in), W_o (n_h, n_out), V (n_out, n_h), b (n_h,), c (n_out,).
    ``forward(x, y0)`` takes ``x: (B, T, n_in)`` and optional ``y0: (B, n_out)`` (zeros by default) and
    returns ``(y, h)`` with ``y: (B, T, n_out)`` and ``h: (B, T, n_h)``.
    """

    def _init_feedback(self) -> None:
        self.W_o = nn.Parameter(torch.empty(self.hidden_size, self.output_size))  # previous output -> hidden

    def forward(self, x: torch.Tensor, y0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        _check_sequence(x, self.input_size)
        a_in = self._input_part(x)  # (B, T, n_h)
        y = self._initial("y0", y0, x, self.output_size)  # (B, n_out)
        hs, ys = [], []
        for t in range(x.shape[1]):
            h = self.f(a_in[:, t] + y @ self.W_o.T)  # (B, n_h)
            y = self._output(h)  # (B, n_out)
            hs.append(h)
            ys.append(y)
        return self._stack(ys, hs, x)


def state_jacobian_norms(net: ElmanRNN, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Frobenius norms ||∂h_t/∂h_0||_F for t = 1..T along one input sequence (how far a gradient travels).

    By the chain rule ∂h_t/∂h_0 = Π_{s=t..1} diag(f'(a_s)) W, so for a linear network with W = ρ Q (Q
    orthogonal) the norm is exactly ρ^t sqrt(n_h). ``x`` is (T, n_in) or (1, T, n_in); ``h0`` (n_h,) or
    (1, n_h), zeros by default. The whole Jacobian comes from one backward pass per step: the sequence is
    run as a batch of n_h identical copies, and copy i carries row i of ∂h_t/∂h_0. Returns (T,) detached.
    """
    if not isinstance(net, ElmanRNN):
        raise TypeError(f"net must be an ElmanRNN, got {type(net).__name__}")
    if isinstance(x, torch.Tensor) and x.ndim == 2:
        x = x.unsqueeze(0)  # (1, T, n_in)
    _check_sequence(x, net.input_size)
    if x.shape[0] != 1:
        raise ValueError(f"x must hold one sequence, (T, n_in) or (1, T, n_in); got shape {tuple(x.shape)}")
    n, T = net.hidden_size, x.shape[1]
    if h0 is None:
        h0 = x.new_zeros(1, n)
    h0 = h0.detach().to(x).reshape(-1)
    check_shape("h0", h0, (n,))
    h0_batch = h0.expand(n, n).clone().requires_grad_(True)  # (n, n): copy i of the initial state
    _, h = net(x.expand(n, T, net.input_size), h0_batch)  # (n, T, n)
    eye = torch.eye(n, device=x.device, dtype=x.dtype)  # (n, n): picks component i of copy i
    norms = []
    for t in range(T):
        (jac,) = torch.autograd.grad((h[:, t] * eye).sum(), h0_batch, retain_graph=t < T - 1)  # (n, n)
        norms.append(jac.norm())
    return torch.stack(norms).detach()  # (T,)
