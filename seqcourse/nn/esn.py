"""Echo state network: a fixed random reservoir and a linear readout trained in closed form.

Reservoir (never trained), with input u_t ∈ R^m, state x_t ∈ R^N and leak rate α ∈ (0, 1]::

    x_t = (1 - α) x_{t-1} + α tanh(W_in u_t + W x_{t-1})        W_in: (N, m),  W: (N, N)

W is drawn at random (a fraction ``density`` of non-zero entries) and rescaled so that its spectral
radius max |λ_i(W)| equals ``spectral_radius``; a value below 1 usually gives the echo state property
(the state forgets its initial value and becomes a function of the input history).

Readout, on the features z_t = [1, x_t] ∈ R^{N+1}, after dropping the first ``washout`` steps of every
sequence (the transient that still remembers x_0)::

    y_t = W_out z_t,   W_out = Y^T Z (Z^T Z + λ I)^{-1}     (ridge regression, λ = ``ridge``)

where the rows of Z (S, N+1) and Y (S, p) are the kept time steps.
"""

from __future__ import annotations

import torch
from torch import nn

from seqcourse.utils import check_ndim, check_positive, check_shape

__all__ = ["ridge_regression", "EchoStateNetwork"]


def ridge_regression(Z: torch.Tensor, Y: torch.Tensor, ridge: float) -> torch.Tensor:
    """W (p, d) minimising ||Z W^T - Y||² + ridge ||W||², i.e. the solution of (Z^T Z + λI) W^T = Z^T Y.

    Z: (S, d) features, Y: (S, p) targets. With ridge = 0 this is least squares (Z must have full
    column rank); the system is solved in float64 and the result returned in Z's dtype.
    """
    check_ndim("Z", Z, 2)
    check_shape("Y", Y, (Z.shape[0], None))
    if ridge < 0:
        raise ValueError(f"ridge must be non-negative, got {ridge!r}")
    Z64, Y64 = Z.double(), Y.double()
    A = Z64.T @ Z64 + ridge * torch.eye(Z.shape[1], dtype=torch.float64, device=Z.device)  # (d, d)
    return torch.linalg.solve(A, Z64.T @ Y64).T.to(Z.dtype)  # (p, d)


class EchoStateNetwork(nn.Module):
    """Leaky echo state network with a ridge-regression readout. Inputs (B, T, m) or (T, m).

    ``fit(u, y)`` sets the readout from targets y (B, T, p); ``forward(u)`` returns predictions
    (B, T, p); ``states(u)`` returns the reservoir states (B, T, N). The reservoir is seeded by
    ``seed`` and drawn in float64, then stored in ``dtype`` (default: torch's default dtype); all
    weights are buffers (they move with ``.to()`` but are not trained by autograd).
    """

    def __init__(
        self,
        input_size: int,
        reservoir_size: int,
        output_size: int,
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float = 1.0,
        density: float = 1.0,
        ridge: float = 1e-6,
        washout: int = 0,
        seed: int = 0,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_positive(input_size=input_size, reservoir_size=reservoir_size, output_size=output_size)
        if not spectral_radius > 0:
            raise ValueError(f"spectral_radius must be positive, got {spectral_radius!r}")
        if not 0 < leak_rate <= 1:
            raise ValueError(f"leak_rate must be in (0, 1], got {leak_rate!r}")
        if not 0 < density <= 1:
            raise ValueError(f"density must be in (0, 1], got {density!r}")
        self.m, self.N, self.p = input_size, reservoir_size, output_size
        self.spectral_radius, self.leak_rate, self.ridge = spectral_radius, leak_rate, ridge
        self.washout = self._check_washout(washout)
        g = torch.Generator().manual_seed(seed)
        W_in = input_scaling * (
            2 * torch.rand(reservoir_size, input_size, generator=g, dtype=torch.float64) - 1
        )
        W = 2 * torch.rand(reservoir_size, reservoir_size, generator=g, dtype=torch.float64) - 1
        W = W * (torch.rand(W.shape, generator=g, dtype=torch.float64) < density)
        radius = torch.linalg.eigvals(W).abs().max().item()
        if radius == 0:
            raise ValueError("the random reservoir has spectral radius 0; increase density or reservoir_size")
        dtype = torch.get_default_dtype() if dtype is None else dtype
        self.register_buffer("W_in", W_in.to(dtype))  # (N, m)
        self.register_buffer("W", (W * (spectral_radius / radius)).to(dtype))  # (N, N)
        self.register_buffer("W_out", torch.zeros(output_size, reservoir_size + 1, dtype=dtype))  # (p, N + 1)

    @staticmethod
    def _check_washout(washout: int) -> int:
        if not isinstance(washout, int) or isinstance(washout, bool) or washout < 0:
            raise ValueError(f"washout must be a non-negative int, got {washout!r}")
        return washout

    def _batched(self, u: torch.Tensor) -> torch.Tensor:
        if not isinstance(u, torch.Tensor) or not u.is_floating_point():
            raise TypeError(f"u must be a floating-point tensor, got {getattr(u, 'dtype', type(u))}")
        check_ndim("u", u, (2, 3))
        u = u.unsqueeze(0) if u.ndim == 2 else u
        check_shape("u", u, ("B", "T", self.m))
        return u

    @torch.no_grad()
    def states(self, u: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        """Reservoir states x_1..x_T (B, T, N) for inputs u (B, T, m) or (T, m), from x0 (B, N) or zeros."""
        u = self._batched(u).to(self.W.dtype)
        x = u.new_zeros(u.shape[0], self.N) if x0 is None else x0.to(u.dtype)  # (B, N)
        check_shape("x0", x, (u.shape[0], self.N))
        a = self.leak_rate
        wu = u @ self.W_in.T  # (B, T, N): W_in u_t for every step at once
        out = []
        for t in range(u.shape[1]):
            x = (1 - a) * x + a * torch.tanh(wu[:, t] + x @ self.W.T)
            out.append(x)
        return torch.stack(out, dim=1)  # (B, T, N)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """z_t = [1, x_t]: (..., N) -> (..., N + 1)."""
        return torch.cat([torch.ones_like(x[..., :1]), x], dim=-1)

    @torch.no_grad()
    def fit(self, u: torch.Tensor, y: torch.Tensor, washout: int | None = None) -> EchoStateNetwork:
        """Set W_out by ridge regression on all kept steps of all sequences; returns self."""
        washout = self.washout if washout is None else self._check_washout(washout)
        u = self._batched(u)
        y = y.unsqueeze(0) if y.ndim == 2 else y
        check_shape("y", y, (u.shape[0], u.shape[1], self.p))
        if washout >= u.shape[1]:
            raise ValueError(f"washout={washout} leaves no step of sequences of length {u.shape[1]}")
        Z = self.features(self.states(u)[:, washout:]).reshape(-1, self.N + 1)  # (S, N + 1)
        Y = y[:, washout:].reshape(-1, self.p).to(Z.dtype)  # (S, p)
        self.W_out.copy_(ridge_regression(Z, Y, self.ridge))
        return self

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions W_out [1, x_t] for every step: (B, T, p), or (T, p) for unbatched input."""
        y = self.features(self.states(u, x0)) @ self.W_out.T  # (B, T, p)
        return y[0] if u.ndim == 2 else y

    @torch.no_grad()
    def generate(self, u_warm: torch.Tensor, n_steps: int) -> torch.Tensor:
        """Free-running prediction for a one-step-ahead ESN (input size = output size, y_t predicts u_{t+1}).

        Drive the reservoir with the warm-up inputs u_warm (T, m), then feed each prediction back as the
        next input for ``n_steps`` steps; returns the predictions (n_steps, m).
        """
        if self.m != self.p:
            raise ValueError(f"generate needs input_size == output_size, got {self.m} and {self.p}")
        check_positive(n_steps=n_steps)
        x = self.states(u_warm)[:, -1]  # (1, N): the state after the warm-up
        y = self.features(x) @ self.W_out.T  # (1, p): prediction of the next input
        out = [y]
        for _ in range(n_steps - 1):
            x = self.states(y[:, None, :], x0=x)[:, -1]
            y = self.features(x) @ self.W_out.T
            out.append(y)
        return torch.cat(out)  # (n_steps, p)
