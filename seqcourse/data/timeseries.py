"""Chaotic time series generated locally: the Mackey–Glass delay differential equation.

    dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t)

(Mackey & Glass 1977). With beta = 0.2, gamma = 0.1, n = 10 and tau = 17 the solution is chaotic; it is
the classic benchmark of echo state networks (Jaeger & Haas 2004). We integrate with Euler steps of
``dt`` and keep one sample per time unit.
"""

from __future__ import annotations

import torch

from seqcourse.utils import check_positive

__all__ = ["mackey_glass"]


def mackey_glass(n_steps: int, tau: int = 17, beta: float = 0.2, gamma: float = 0.1, n: float = 10.0,
                 x0: float = 1.2, dt: float = 0.1, washout: int = 200) -> torch.Tensor:
    """``n_steps`` samples (float64, one per time unit) after discarding ``washout`` time units.

    The history x(t) for t <= 0 is the constant ``x0``. Deterministic: the same arguments give the same
    series.
    """
    check_positive(n_steps=n_steps, tau=tau)
    sub = round(1 / dt)
    if sub < 1 or abs(sub * dt - 1) > 1e-9:
        raise ValueError(f"dt must be 1 / k for an integer k, got {dt}")
    lag = tau * sub  # delay in Euler steps
    total = (n_steps + washout) * sub
    x = torch.full((lag + total + 1,), x0, dtype=torch.float64)
    for t in range(lag, lag + total):
        delayed = x[t - lag]
        x[t + 1] = x[t] + dt * (beta * delayed / (1 + delayed**n) - gamma * x[t])
    return x[lag + washout * sub :: sub][:n_steps].clone()
