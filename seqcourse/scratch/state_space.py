"""Lecture 003's sigmoid state-space RNN: epochwise BPTT, truncated BPTT and real-time recurrent learning.

Model, for k = 1..n with input x_k ∈ R^m, state s_k ∈ R^q, output y_k ∈ R^p::

    v_k = W_a s_{k-1} + W_b x_k        W_a: (q, q), W_b: (q, m)
    s_k = σ(v_k),  σ(v) = 1 / (1 + exp(-a v))   (slope a; σ'(v) = a σ(v)(1 - σ(v)))
    y_k = W_c s_k                      W_c: (p, q)

Loss: L = Σ_k L(y_k) with the squared error L(y_k) = ½ ||y_k - d_k||², so L'(y_k) = y_k - d_k.

Epochwise BPTT uses the local gradients δ_k = ∂L/∂v_k, computed backwards from the last step n::

    δ_n = diag(σ'(v_n)) W_c^T L'(y_n)
    δ_k = diag(σ'(v_k)) (W_c^T L'(y_k) + W_a^T δ_{k+1})
    ∇_{W_a} L = Σ_k δ_k s_{k-1}^T,   ∇_{W_b} L = Σ_k δ_k x_k^T,   ∇_{W_c} L = Σ_k L'(y_k) s_k^T

(The slides' update rules write "δ_k Σ_k s_{k-1}^T"; the sum runs over the products δ_k s_{k-1}^T.)

Real-time recurrent learning (RTRL) runs forwards instead: it carries the sensitivities
Π_k = ∂s_k/∂W_a (q, q, q) and Λ_k = ∂s_k/∂W_b (q, q, m)::

    Π_k[j, a, b] = σ'(v_k)[j] (1[j = a] s_{k-1}[b] + Σ_i W_a[j, i] Π_{k-1}[i, a, b])
    Λ_k[j, a, b] = σ'(v_k)[j] (1[j = a] x_k[b]     + Σ_i W_a[j, i] Λ_{k-1}[i, a, b])
    ∂L(y_k)/∂W_a = Σ_j e_k[j] Π_k[j], with e_k = W_c^T L'(y_k)

so the exact gradient of each L(y_k) is available at step k, and the weights can be updated online
(continuous training). The lecture's online rule W_a ← W_a - η δ_k s_{k-1}^T with
δ_k = diag(σ'(v_k)) W_c^T L'(y_k) drops the Σ_i W_a Π_{k-1} term: it is truncated BPTT of depth 1.
Cost per step: O(q⁴ + q³ m) for RTRL versus O(q² + q m) for BPTT, but no memory of the past.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from seqcourse.utils import check_ndim, check_params, check_positive, check_shape

__all__ = [
    "StateSpaceForward",
    "RTRLResult",
    "init_params",
    "forward",
    "epochwise_bptt",
    "truncated_bptt",
    "rtrl",
    "rtrl_train",
]

PARAM_NAMES = ("W_a", "W_b", "W_c")
Params = Mapping[str, np.ndarray]


@dataclass
class StateSpaceForward:
    """``v`` and ``s`` (n, q), ``y`` (n, p), ``loss`` (½ Σ ||y_k - d_k||², or None without targets)."""

    v: np.ndarray
    s: np.ndarray
    y: np.ndarray
    loss: float | None = None


@dataclass
class RTRLResult:
    """Summed loss and gradient, and the gradient of each L(y_k) alone as known at step k."""

    loss: float
    grads: dict[str, np.ndarray]
    step_grads: list[dict[str, np.ndarray]] = field(default_factory=list)


def init_params(m: int, q: int, p: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Random float64 weights ~ N(0, 1/fan_in): W_a (q, q), W_b (q, m), W_c (p, q)."""
    check_positive(m=m, q=q, p=p)
    rng = np.random.default_rng(0) if rng is None else rng
    return {
        "W_a": rng.normal(0.0, 1.0 / np.sqrt(q), size=(q, q)),
        "W_b": rng.normal(0.0, 1.0 / np.sqrt(m), size=(q, m)),
        "W_c": rng.normal(0.0, 1.0 / np.sqrt(q), size=(p, q)),
    }


def _sigmoid(v: np.ndarray, slope: float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * slope * v))  # = 1 / (1 + exp(-a v)), without overflow


def _check(
    params: Params, xs: np.ndarray, ds: np.ndarray | None, s0: np.ndarray | None, slope: float
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    size = check_params(params, {"W_a": ("q", "q"), "W_b": ("q", "m"), "W_c": ("p", "q")})
    q, m, p = size["q"], size["m"], size["p"]
    xs = np.asarray(xs, dtype=np.float64)
    check_ndim("xs", xs, 2)
    check_shape("xs", xs, ("n", m))
    if xs.shape[0] == 0:
        raise ValueError("xs is an empty sequence (n = 0); at least one time step is needed")
    if ds is not None:
        ds = np.asarray(ds, dtype=np.float64)
        check_shape("ds", ds, (xs.shape[0], p))
    s0 = np.zeros(q) if s0 is None else np.asarray(s0, dtype=np.float64)
    check_shape("s0", s0, (q,))
    if not slope > 0:
        raise ValueError(f"slope must be positive, got {slope!r}")
    return xs, ds, s0


def forward(
    params: Params,
    xs: np.ndarray,
    s0: np.ndarray | None = None,
    ds: np.ndarray | None = None,
    slope: float = 1.0,
) -> StateSpaceForward:
    """Run the model over ``xs`` (n, m) from ``s0`` (q,) (zeros if None); add the loss if ``ds`` (n, p)."""
    xs, ds, s0 = _check(params, xs, ds, s0, slope)
    W_a, W_b, W_c = (params[k] for k in PARAM_NAMES)
    bx = xs @ W_b.T  # (n, q): W_b x_k for every k, outside the loop
    v, s = np.empty_like(bx), np.empty_like(bx)
    s_prev = s0
    for k in range(xs.shape[0]):
        v[k] = W_a @ s_prev + bx[k]
        s[k] = s_prev = _sigmoid(v[k], slope)
    y = s @ W_c.T  # (n, p)
    loss = None if ds is None else 0.5 * float(np.sum((y - ds) ** 2))
    return StateSpaceForward(v=v, s=s, y=y, loss=loss)


def _grads(xs, s0, fw: StateSpaceForward, err: np.ndarray, delta: np.ndarray) -> dict[str, np.ndarray]:
    s_prev = np.vstack([s0[None, :], fw.s[:-1]])  # (n, q): s_{k-1}
    return {"W_a": delta.T @ s_prev, "W_b": delta.T @ xs, "W_c": err.T @ fw.s}


def epochwise_bptt(
    params: Params, xs: np.ndarray, ds: np.ndarray, s0: np.ndarray | None = None, slope: float = 1.0
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and exact gradients by epochwise BPTT with the lecture's local gradients δ_k = ∂L/∂v_k."""
    xs, ds, s0 = _check(params, xs, ds, s0, slope)
    fw = forward(params, xs, s0, ds, slope)
    W_a, W_c = params["W_a"], params["W_c"]
    err = fw.y - ds  # (n, p): L'(y_k)
    sp = slope * fw.s * (1.0 - fw.s)  # (n, q): σ'(v_k)
    delta = np.empty_like(fw.s)  # (n, q)
    delta_next = np.zeros(W_a.shape[0])
    for k in reversed(range(xs.shape[0])):
        delta[k] = sp[k] * (W_c.T @ err[k] + W_a.T @ delta_next)
        delta_next = delta[k]
    assert fw.loss is not None
    return fw.loss, _grads(xs, s0, fw, err, delta)


def truncated_bptt(
    params: Params, xs: np.ndarray, ds: np.ndarray, s0: np.ndarray | None, depth: int, slope: float = 1.0
) -> tuple[float, dict[str, np.ndarray]]:
    """BPTT where each L(y_k) sends its error back through at most ``depth`` steps (v_k .. v_{k-depth+1}).

    depth >= n is epochwise BPTT; depth = 1 is the lecture's online (RTRL-style) rule.
    """
    check_positive(depth=depth)
    xs, ds, s0 = _check(params, xs, ds, s0, slope)
    fw = forward(params, xs, s0, ds, slope)
    W_a, W_c = params["W_a"], params["W_c"]
    err = fw.y - ds  # (n, p)
    sp = slope * fw.s * (1.0 - fw.s)  # (n, q)
    delta = np.zeros_like(fw.s)  # (n, q): Σ over losses of ∂L(y_k)/∂v_j
    for k in range(xs.shape[0]):
        d = sp[k] * (W_c.T @ err[k])
        for j in range(k, max(k - depth, -1), -1):
            delta[j] += d
            if j > 0:
                d = sp[j - 1] * (W_a.T @ d)
    assert fw.loss is not None
    return fw.loss, _grads(xs, s0, fw, err, delta)


def _rtrl_run(params, xs, ds, s0, slope, lr: float, exact: bool):
    """Shared forward-mode loop: returns per-step losses and gradients; updates ``params`` if lr > 0."""
    W = {k: np.array(params[k], dtype=np.float64) for k in PARAM_NAMES}  # private copies
    q, m = W["W_b"].shape
    P = np.zeros((q, q, q))  # Π_k = ∂s_k/∂W_a
    Lam = np.zeros((q, q, m))  # Λ_k = ∂s_k/∂W_b
    diag = np.arange(q)
    s_prev, losses, step_grads = s0, [], []
    for k in range(xs.shape[0]):
        v = W["W_a"] @ s_prev + W["W_b"] @ xs[k]  # (q,)
        s = _sigmoid(v, slope)
        sp = slope * s * (1.0 - s)  # σ'(v_k)
        if exact:  # carry the sensitivities through W_a
            P = np.einsum("ji,iab->jab", W["W_a"], P)
            Lam = np.einsum("ji,iab->jab", W["W_a"], Lam)
        else:  # the lecture's online rule: s_{k-1} treated as a constant
            P, Lam = np.zeros_like(P), np.zeros_like(Lam)
        P[diag, diag, :] += s_prev
        Lam[diag, diag, :] += xs[k]
        P *= sp[:, None, None]
        Lam *= sp[:, None, None]
        err = W["W_c"] @ s - ds[k]  # (p,): L'(y_k)
        e = W["W_c"].T @ err  # (q,): ∂L(y_k)/∂s_k
        g = {
            "W_a": np.einsum("j,jab->ab", e, P),
            "W_b": np.einsum("j,jab->ab", e, Lam),
            "W_c": np.outer(err, s),
        }
        losses.append(0.5 * float(err @ err))
        step_grads.append(g)
        if lr:
            for name in PARAM_NAMES:
                W[name] -= lr * g[name]
        s_prev = s
    return losses, step_grads, W


def rtrl(
    params: Params, xs: np.ndarray, ds: np.ndarray, s0: np.ndarray | None = None, slope: float = 1.0
) -> RTRLResult:
    """Exact gradients by real-time recurrent learning (forward sensitivities), weights held fixed.

    ``step_grads[k]`` is ∂L(y_k)/∂W, known at step k; ``grads`` is their sum and equals epochwise BPTT.
    """
    xs, ds, s0 = _check(params, xs, ds, s0, slope)
    losses, step_grads, _ = _rtrl_run(params, xs, ds, s0, slope, lr=0.0, exact=True)
    grads = {k: sum(g[k] for g in step_grads) for k in PARAM_NAMES}
    return RTRLResult(loss=float(sum(losses)), grads=grads, step_grads=step_grads)


def rtrl_train(
    params: Params,
    xs: np.ndarray,
    ds: np.ndarray,
    lr: float,
    s0: np.ndarray | None = None,
    slope: float = 1.0,
    exact: bool = True,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Continuous training: after every step k, W ← W - lr ∂L(y_k)/∂W, and the run goes on.

    ``exact=False`` uses the lecture's online rule (depth-1 truncation, no sensitivities carried).
    Returns the new parameters (``params`` is not modified) and the loss L(y_k) of every step (n,).
    """
    if not lr >= 0:
        raise ValueError(f"lr must be non-negative, got {lr!r}")
    xs, ds, s0 = _check(params, xs, ds, s0, slope)
    losses, _, W = _rtrl_run(params, xs, ds, s0, slope, lr=lr, exact=exact)
    return W, np.array(losses)
