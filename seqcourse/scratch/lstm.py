"""An LSTM layer in NumPy with a hand-written backward pass, in the two notations of the lectures.

Concatenated form (lecture 002): each gate has one weight matrix (n, n + m) acting on [h_{t-1}, x_t]::

    f_t = σ(W_f [h_{t-1}, x_t] + b_f)          forget gate
    i_t = σ(W_i [h_{t-1}, x_t] + b_i)          input gate
    C̃_t = tanh(W_C [h_{t-1}, x_t] + b_C)       candidate memory
    o_t = σ(W_o [h_{t-1}, x_t] + b_o)          output gate
    C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t,   h_t = o_t ⊙ tanh(C_t)

Parameters: 4 [(m + n) n + n], the count of ``seqcourse.count.lstm_params``.

Matrix form (lecture 004): separate input weights U (n, m), recurrent weights W (n, n) and bias b::

    f_t  = σ(b_f + U_f x_t + W_f h_{t-1}),    in_t = σ(b_in + U_in x_t + W_in h_{t-1})
    o_t  = σ(b_o + U_o x_t + W_o h_{t-1}),    c_t  = tanh(b + U x_t + W h_{t-1})
    s_t  = f_t ⊙ s_{t-1} + in_t ⊙ c_t,        h_t  = o_t ⊙ tanh(s_t)

It is the same model: W_gate[:, :n] is the recurrent W and W_gate[:, n:] the input U
(:func:`concat_to_matrix`, :func:`matrix_to_concat`). Note the clash of names between the lectures:
lecture 004's c_t is the candidate (lecture 002's C̃_t) and its s_t is the cell state (lecture 002's C_t).

The forward pass stacks the four gates into one (4n, n + m) matrix: one matmul per step, and the input
half is applied to all time steps before the loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from seqcourse.utils import check_ndim, check_params, check_positive, check_shape

__all__ = [
    "LSTMForward",
    "init_params",
    "forward",
    "backward",
    "forward_matrix",
    "concat_to_matrix",
    "matrix_to_concat",
]

GATES = ("f", "i", "C", "o")  # lecture 002's gate order, also the order of the stacked matrix
MATRIX_GATES = ("f", "in", "", "o")  # lecture 004's suffixes for the same gates ("" = candidate: U, W, b)
Params = Mapping[str, np.ndarray]


@dataclass
class LSTMForward:
    """Per-step values: h, C (cell state), and the gates f, i, C_tilde, o, each (T, n)."""

    h: np.ndarray
    C: np.ndarray
    f: np.ndarray
    i: np.ndarray
    C_tilde: np.ndarray
    o: np.ndarray


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def init_params(m: int, n: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Concatenated-form parameters: W_f, W_i, W_C, W_o (n, n + m) ~ N(0, 1/(n + m)); b_* (n,) zero."""
    check_positive(m=m, n=n)
    rng = np.random.default_rng(0) if rng is None else rng
    params = {}
    for g in GATES:
        params[f"W_{g}"] = rng.normal(0.0, 1.0 / np.sqrt(n + m), size=(n, n + m))
        params[f"b_{g}"] = np.zeros(n)
    return params


def _sizes(params: Params) -> tuple[int, int]:
    """Validate concatenated-form params; return (m, n)."""
    spec = {f"{p}_{g}": shape for g in GATES for p, shape in (("W", ("n", "n + m")), ("b", ("n",)))}
    size = check_params(params, spec)
    n, nm = size["n"], size["n + m"]
    if nm <= n:
        raise ValueError(f"params['W_f'] must have shape (n, n + m) with m > 0, got {params['W_f'].shape}")
    return nm - n, n


def _inputs(xs, h0, C0, m: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = np.asarray(xs, dtype=np.float64)
    check_ndim("xs", xs, 2)
    check_shape("xs", xs, ("T", m))
    if xs.shape[0] == 0:
        raise ValueError("xs is an empty sequence (T = 0)")
    h0 = np.zeros(n) if h0 is None else np.asarray(h0, dtype=np.float64)
    C0 = np.zeros(n) if C0 is None else np.asarray(C0, dtype=np.float64)
    check_shape("h0", h0, (n,))
    check_shape("C0", C0, (n,))
    return xs, h0, C0


def _stacked(params: Params) -> tuple[np.ndarray, np.ndarray]:
    W = np.concatenate([params[f"W_{g}"] for g in GATES])  # (4n, n + m)
    b = np.concatenate([params[f"b_{g}"] for g in GATES])  # (4n,)
    return W, b


def forward(
    params: Params, xs: np.ndarray, h0: np.ndarray | None = None, C0: np.ndarray | None = None
) -> LSTMForward:
    """Run the LSTM (concatenated form) over xs (T, m) from h0, C0 (n,) (zeros if None)."""
    m, n = _sizes(params)
    xs, h0, C0 = _inputs(xs, h0, C0, m, n)
    W, b = _stacked(params)
    W_h, W_x = W[:, :n], W[:, n:]  # (4n, n), (4n, m): the halves acting on h_{t-1} and on x_t
    zx = xs @ W_x.T + b  # (T, 4n): input part of all steps at once
    T = xs.shape[0]
    out = {k: np.empty((T, n)) for k in ("h", "C", "f", "i", "C_tilde", "o")}
    h, C = h0, C0
    for t in range(T):
        z = zx[t] + W_h @ h  # (4n,)
        f, i, o = _sigmoid(z[:n]), _sigmoid(z[n : 2 * n]), _sigmoid(z[3 * n :])
        C_tilde = np.tanh(z[2 * n : 3 * n])
        C = f * C + i * C_tilde
        h = o * np.tanh(C)
        for k, v in (("h", h), ("C", C), ("f", f), ("i", i), ("C_tilde", C_tilde), ("o", o)):
            out[k][t] = v
    return LSTMForward(**out)


def backward(
    params: Params,
    xs: np.ndarray,
    fw: LSTMForward,
    dh: np.ndarray,
    h0: np.ndarray | None = None,
    C0: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Gradients of a loss L w.r.t. the parameters, given dh[t] = ∂L/∂h_t from outside (T, n).

    ``dh`` holds only the direct gradients (e.g. from an output layer at each step); the recurrent
    paths h_t → h_{t+1} and C_t → C_{t+1} are added here::

        δh_t = dh[t] + W_h^T δz_{t+1},    δC_t = δh_t ⊙ o_t ⊙ (1 - tanh²C_t) + δC_{t+1} ⊙ f_{t+1}
        δz_f = δC_t ⊙ C_{t-1} ⊙ f(1-f),   δz_i = δC_t ⊙ C̃_t ⊙ i(1-i),
        δz_C = δC_t ⊙ i_t ⊙ (1-C̃²),       δz_o = δh_t ⊙ tanh C_t ⊙ o(1-o)
        ∇W_gate = Σ_t δz_gate,t [h_{t-1}, x_t]^T,   ∇b_gate = Σ_t δz_gate,t
    """
    m, n = _sizes(params)
    xs, h0, C0 = _inputs(xs, h0, C0, m, n)
    T = xs.shape[0]
    dh = np.asarray(dh, dtype=np.float64)
    check_shape("dh", dh, (T, n))
    W, _ = _stacked(params)
    W_h = W[:, :n]  # (4n, n)
    C_prev = np.vstack([C0[None], fw.C[:-1]])  # (T, n)
    dz = np.empty((T, 4 * n))  # (T, 4n): gradients of the gate pre-activations
    dh_next, dC_next = np.zeros(n), np.zeros(n)  # from step t + 1
    for t in reversed(range(T)):
        tanh_C = np.tanh(fw.C[t])
        dh_t = dh[t] + dh_next
        dC = dh_t * fw.o[t] * (1.0 - tanh_C**2) + dC_next
        f, i, Ct, o = fw.f[t], fw.i[t], fw.C_tilde[t], fw.o[t]
        dz[t, :n] = dC * C_prev[t] * f * (1.0 - f)
        dz[t, n : 2 * n] = dC * Ct * i * (1.0 - i)
        dz[t, 2 * n : 3 * n] = dC * i * (1.0 - Ct**2)
        dz[t, 3 * n :] = dh_t * tanh_C * o * (1.0 - o)
        dh_next = W_h.T @ dz[t]
        dC_next = dC * f
    hx = np.hstack([np.vstack([h0[None], fw.h[:-1]]), xs])  # (T, n + m): [h_{t-1}, x_t]
    dW, db = dz.T @ hx, dz.sum(axis=0)  # (4n, n + m), (4n,)
    grads = {}
    for k, g in enumerate(GATES):
        grads[f"W_{g}"] = dW[k * n : (k + 1) * n]
        grads[f"b_{g}"] = db[k * n : (k + 1) * n]
    return grads


def concat_to_matrix(params: Params) -> dict[str, np.ndarray]:
    """Lecture 002's W_gate (n, n + m) on [h, x] → lecture 004's U_* (n, m), W_* (n, n), b_* (n,)."""
    _, n = _sizes(params)
    out = {}
    for g, s in zip(GATES, MATRIX_GATES, strict=True):
        sfx = f"_{s}" if s else ""
        out[f"W{sfx}"] = params[f"W_{g}"][:, :n].copy()
        out[f"U{sfx}"] = params[f"W_{g}"][:, n:].copy()
        out[f"b{sfx}"] = params[f"b_{g}"].copy()
    return out


def _matrix_sizes(params: Params) -> tuple[int, int]:
    spec = {}
    for s in MATRIX_GATES:
        sfx = f"_{s}" if s else ""
        spec.update({f"U{sfx}": ("n", "m"), f"W{sfx}": ("n", "n"), f"b{sfx}": ("n",)})
    size = check_params(params, spec)
    return size["m"], size["n"]


def matrix_to_concat(params: Params) -> dict[str, np.ndarray]:
    """Lecture 004's U_*, W_*, b_* → lecture 002's W_gate = [W_* | U_*] (n, n + m) and b_gate."""
    _matrix_sizes(params)
    out = {}
    for g, s in zip(GATES, MATRIX_GATES, strict=True):
        sfx = f"_{s}" if s else ""
        out[f"W_{g}"] = np.hstack([params[f"W{sfx}"], params[f"U{sfx}"]])
        out[f"b_{g}"] = params[f"b{sfx}"].copy()
    return out


def forward_matrix(
    params: Params, xs: np.ndarray, h0: np.ndarray | None = None, s0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lecture 004's matrix form, gate by gate as written there; returns h and s (the cell state), (T, n)."""
    m, n = _matrix_sizes(params)
    xs, h, s = _inputs(xs, h0, s0, m, n)
    P = params
    hs, ss = np.empty((xs.shape[0], n)), np.empty((xs.shape[0], n))
    for t, x in enumerate(xs):
        f = _sigmoid(P["b_f"] + P["U_f"] @ x + P["W_f"] @ h)
        in_ = _sigmoid(P["b_in"] + P["U_in"] @ x + P["W_in"] @ h)
        o = _sigmoid(P["b_o"] + P["U_o"] @ x + P["W_o"] @ h)
        c = np.tanh(P["b"] + P["U"] @ x + P["W"] @ h)
        s = f * s + in_ * c
        h = o * np.tanh(s)
        hs[t], ss[t] = h, s
    return hs, ss
