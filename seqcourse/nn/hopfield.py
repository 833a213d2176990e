"""Hopfield network (lecture 004, section 6.9.2): Hebbian storage, sign dynamics, energy, capacity.

States are vectors s in {-1, +1}^N. With P stored patterns xi^1, ..., xi^P (rows of ``patterns`` (P, N)):

    W = (1/N) sum_mu xi^mu (xi^mu)^T,  w_ii = 0,  w_ij = w_ji           Hebbian storage
    s_i <- sgn(sum_j w_ij s_j)                                          one unit (asynchronous) or all at once
    E(s) = -1/2 s^T W s                                                 energy

We use sgn(0) = the unit's current state, so an asynchronous update changes s_i only when the local field
h_i = sum_j w_ij s_j disagrees with it; the flip then lowers E by 2|h_i|, so E never increases and the
dynamics stop at a fixed point s(t+1) = s(t). Synchronous updates may instead cycle with period 2.
Random patterns are stable up to a load P/N of about 0.138 (Amit, Gutfreund and Sompolinsky, 1985).
Correlated patterns (such as images of digits, which share their background) interfere far sooner; the
projection rule W = Xi^+ Xi (Personnaz, Guyon and Dreyfus, 1985) makes every stored pattern a fixed point
as long as the patterns are linearly independent.

The modern (continuous) Hopfield network of Ramsauer et al. (2021) stores the patterns as the rows of X (P, N)
and updates a state xi (N,) by xi <- X^T softmax(beta X xi): attention with the state as the query and the
stored patterns as keys and values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqcourse.utils import check_ndim, check_shape

__all__ = [
    "hebbian_weights",
    "projection_weights",
    "energy",
    "update_unit",
    "update_async",
    "update_sync",
    "recall",
    "trajectory",
    "corrupt",
    "overlap",
    "random_patterns",
    "capacity_experiment",
    "modern_update",
]


def _check_spins(name: str, s: torch.Tensor) -> None:
    if not isinstance(s, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(s).__name__}")
    if not bool(((s == 1) | (s == -1)).all()):
        bad = s[(s != 1) & (s != -1)].flatten()[:3].tolist()
        raise ValueError(f"{name} must contain only -1 and +1 (bipolar states), got values such as {bad}")


def _check_weights(W: torch.Tensor, s: torch.Tensor) -> None:
    check_ndim("W", W, 2)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be square (N, N), got shape {tuple(W.shape)}")
    check_ndim("s", s, (1, 2))
    if s.shape[-1] != W.shape[0]:
        raise ValueError(f"s must have N = {W.shape[0]} units in its last axis, got shape {tuple(s.shape)}")
    _check_spins("s", s)


def _sgn(field: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """sgn with the tie broken by keeping the current state."""
    return torch.where(field > 0, 1.0, torch.where(field < 0, -1.0, current)).to(current.dtype)


def hebbian_weights(patterns: torch.Tensor) -> torch.Tensor:
    """W = (1/N) sum_mu xi^mu (xi^mu)^T, zero diagonal; ``patterns`` (P, N) in {-1, +1}; returns (N, N)."""
    check_ndim("patterns", patterns, 2)
    _check_spins("patterns", patterns)
    N = patterns.shape[1]
    W = patterns.T @ patterns / N  # (N, N)
    return W.fill_diagonal_(0.0)


def projection_weights(patterns: torch.Tensor) -> torch.Tensor:
    """Projection (pseudo-inverse) rule W = Xi^+ Xi, zero diagonal; ``patterns`` Xi (P, N); returns (N, N).

    Xi^+ Xi is the orthogonal projection onto the span of the patterns, so W xi^mu = xi^mu - diag(W) xi^mu
    before the diagonal is removed: each unit's field has the sign of xi^mu_i whenever the projection's
    diagonal entries are below 1, which holds for P linearly independent patterns with P < N in practice.
    """
    check_ndim("patterns", patterns, 2)
    _check_spins("patterns", patterns)
    W = torch.linalg.pinv(patterns) @ patterns  # (N, N), symmetric
    W = (W + W.T) / 2  # remove round-off asymmetry
    return W.fill_diagonal_(0.0)


def energy(W: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """E(s) = -1/2 s^T W s for s (N,) or a batch (B, N); returns a scalar or (B,)."""
    _check_weights(W, s)
    return -0.5 * ((s @ W) * s).sum(-1)


def update_unit(W: torch.Tensor, s: torch.Tensor, i: int) -> torch.Tensor:
    """Asynchronous update of unit i only: s_i <- sgn(sum_j w_ij s_j). Returns a new tensor."""
    _check_weights(W, s)
    out = s.clone()
    field = s @ W[:, i]  # () or (B,): W is symmetric, so column i equals row i
    out[..., i] = _sgn(field, s[..., i])
    return out


def update_async(W: torch.Tensor, s: torch.Tensor, order: Sequence[int] | torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """One asynchronous sweep: every unit once, in ``order`` (default: a random permutation)."""
    _check_weights(W, s)
    if order is None:
        order = torch.randperm(W.shape[0], generator=generator, device=W.device)
    out = s.clone()
    for i in (order.tolist() if isinstance(order, torch.Tensor) else order):
        out[..., i] = _sgn(out @ W[:, i], out[..., i])  # uses the states already updated in this sweep
    return out


def update_sync(W: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Synchronous update: s(t+1) = sgn(W s(t)) for all units at once."""
    _check_weights(W, s)
    return _sgn(s @ W, s)  # (N,) or (B, N); W symmetric


def recall(W: torch.Tensor, s: torch.Tensor, mode: str = "async", max_sweeps: int = 100,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """Run the dynamics from ``s`` until s(t+1) = s(t) or ``max_sweeps``; return (state, sweeps used)."""
    if mode not in ("async", "sync"):
        raise ValueError(f"mode must be 'async' or 'sync', got {mode!r}")
    for sweep in range(1, max_sweeps + 1):
        new = update_async(W, s, generator=generator) if mode == "async" else update_sync(W, s)
        if torch.equal(new, s):
            return new, sweep
        s = new
    return s, max_sweeps


def trajectory(W: torch.Tensor, s: torch.Tensor, n_sweeps: int = 3, every: int = 1,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """States of the asynchronous dynamics, one row after every ``every`` single-unit updates.

    Runs ``n_sweeps`` sweeps (each a fresh random order of all N units) from ``s`` (N,) and returns
    (1 + n_sweeps * N // every, N): the first row is ``s`` itself; rows stop changing at a fixed point.
    """
    _check_weights(W, s)
    check_ndim("s", s, 1)
    N = W.shape[0]
    if n_sweeps < 1 or not 1 <= every <= N or N % every:
        raise ValueError(f"need n_sweeps >= 1 and every a divisor of N = {N}, got {n_sweeps} and {every}")
    rows, state = [s.clone()], s.clone()
    for _ in range(n_sweeps):
        for t, i in enumerate(torch.randperm(N, generator=generator, device=W.device).tolist(), start=1):
            state[i] = _sgn(state @ W[:, i], state[i])
            if t % every == 0:
                rows.append(state.clone())
    return torch.stack(rows)  # (1 + n_sweeps * N // every, N)


def corrupt(pattern: torch.Tensor, n_flips: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip the sign of ``n_flips`` distinct, randomly chosen units of ``pattern`` (N,)."""
    check_ndim("pattern", pattern, 1)
    _check_spins("pattern", pattern)
    if not 0 <= n_flips <= pattern.shape[0]:
        raise ValueError(f"n_flips must lie in [0, {pattern.shape[0]}], got {n_flips}")
    idx = torch.randperm(pattern.shape[0], generator=generator, device=pattern.device)[:n_flips]
    out = pattern.clone()
    out[idx] = -out[idx]
    return out


def overlap(s: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """m = (1/N) s . xi in [-1, 1] (1 = perfect recall); broadcasts over leading axes."""
    check_shape("s", s, xi.shape)
    return (s * xi).sum(-1) / xi.shape[-1]


def random_patterns(P: int, N: int, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """P independent uniform random bipolar patterns (P, N)."""
    return (torch.randint(0, 2, (P, N), generator=generator) * 2 - 1).to(dtype)


def capacity_experiment(
    N: int = 200,
    loads: Sequence[float] = (0.05, 0.1, 0.125, 0.15, 0.2, 0.25),
    trials: int = 2,
    min_overlap: float = 0.95,
    seed: int = 0,
) -> list[tuple[float, float]]:
    """Recall rate versus load alpha = P/N for random patterns.

    For each load, store P = round(alpha N) random patterns, start the asynchronous dynamics at each stored
    pattern and count it as recalled when the final overlap is >= ``min_overlap`` (at most a few percent of
    the bits wrong). Returns [(alpha, recall rate)], the rate averaged over ``trials`` pattern sets. The rate
    falls sharply near alpha = 0.138, the capacity of the Hebbian Hopfield network.
    """
    if N < 2 or trials < 1:
        raise ValueError(f"need N >= 2 and trials >= 1, got N={N}, trials={trials}")
    gen = torch.Generator().manual_seed(seed)
    results = []
    for alpha in loads:
        P = max(1, round(alpha * N))
        recalled = 0
        for _ in range(trials):
            xi = random_patterns(P, N, gen)  # (P, N)
            final, _ = recall(hebbian_weights(xi), xi.clone(), "async", generator=gen)  # all P in a batch
            recalled += int((overlap(final, xi) >= min_overlap).sum())
        results.append((float(alpha), recalled / (P * trials)))
    return results


def modern_update(X: torch.Tensor, xi: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """One update of the modern Hopfield network: xi <- X^T softmax(beta X xi).

    ``X`` (P, N) stored patterns (any real values), ``xi`` (N,) or a batch of states (B, N); returns the same
    shape as ``xi``. This is softmax attention with query xi, keys and values X and scale beta.
    """
    check_ndim("X", X, 2)
    check_ndim("xi", xi, (1, 2))
    if xi.shape[-1] != X.shape[1]:
        raise ValueError(f"xi must have N = {X.shape[1]} entries in its last axis, got {tuple(xi.shape)}")
    p = torch.softmax(beta * xi @ X.T, dim=-1)  # (P,) or (B, P): the attention weights over stored patterns
    return p @ X  # (N,) or (B, N)
