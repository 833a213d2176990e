"""A vanilla RNN (design pattern 1 of lecture 000) in NumPy, with hand-written BPTT and truncated BPTT.

Forward pass for t = 1..T, with x_t ∈ R^m, h_t ∈ R^n and K classes::

    a_t = b + W h_{t-1} + U x_t          # (n,)
    h_t = tanh(a_t)                      # (n,)
    o_t = c + V h_t                      # (K,)
    ŷ_t = softmax(o_t)                   # (K,)
    L   = Σ_t L_t = -Σ_t log ŷ_t[y_t]

Backward pass (BPTT), going from the last step to the first::

    ∇_{o_t} L = ŷ_t - onehot(y_t)
    ∇_{h_t} L = V^T ∇_{o_t} L + W^T ∇_{a_{t+1}} L      (the second term is absent at t = T)
    ∇_{a_t} L = (1 - h_t²) ⊙ ∇_{h_t} L
    ∇_c = Σ_t ∇_{o_t} L,  ∇_V = Σ_t ∇_{o_t} L h_t^T,  ∇_b = Σ_t ∇_{a_t} L,
    ∇_W = Σ_t ∇_{a_t} L h_{t-1}^T,  ∇_U = Σ_t ∇_{a_t} L x_t^T

(The slides write the recursion for ∇_{h_t} as W^T (∇_{h_{t+1}} L) diag(1 - h_{t+1}²); the diagonal
factor belongs between W^T and ∇_{h_{t+1}} L, as above.) Only ∇_{a_t} needs the time loop; the
parameter gradients are sums over t, computed afterwards as single matrix products.

Parameters are a dict with keys "U" (n, m), "W" (n, n), "V" (K, n), "b" (n,), "c" (K,), all float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from seqcourse.utils import check_ndim, check_params, check_positive, check_shape

__all__ = ["RNNForward", "init_params", "softmax", "check_labels", "forward", "bptt", "truncated_bptt"]

PARAM_NAMES = ("U", "W", "V", "b", "c")
PARAM_SPEC = {"U": ("n", "m"), "W": ("n", "n"), "V": ("K", "n"), "b": ("n",), "c": ("K",)}
Params = Mapping[str, np.ndarray]


@dataclass
class RNNForward:
    """Everything the forward pass computes: ``h`` (T, n), ``o`` (T, K), ``y_hat`` (T, K), ``loss``.

    ``loss`` is the summed negative log-likelihood -Σ_t log ŷ_t[y_t] when labels were given, else None.
    """

    h: np.ndarray
    o: np.ndarray
    y_hat: np.ndarray
    loss: float | None = None


def init_params(m: int, n: int, K: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Random float64 parameters: weights ~ N(0, 1/fan_in), biases zero.

    m = input size, n = hidden size, K = number of classes.
    """
    check_positive(m=m, n=n, K=K)
    rng = np.random.default_rng(0) if rng is None else rng
    return {
        "U": rng.normal(0.0, 1.0 / np.sqrt(m), size=(n, m)),
        "W": rng.normal(0.0, 1.0 / np.sqrt(n), size=(n, n)),
        "V": rng.normal(0.0, 1.0 / np.sqrt(n), size=(K, n)),
        "b": np.zeros(n),
        "c": np.zeros(K),
    }


def softmax(o: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so that exp never overflows."""
    z = np.exp(o - o.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _check_params(params: Params) -> tuple[int, int, int]:
    """Validate the parameter dict; return (m, n, K)."""
    size = check_params(params, PARAM_SPEC, array_type=np.ndarray)
    return size["m"], size["n"], size["K"]


def _check_inputs(params: Params, xs: np.ndarray, h0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    m, n, _ = _check_params(params)
    xs = np.asarray(xs)
    if not np.issubdtype(xs.dtype, np.number):
        raise TypeError(f"xs must be numeric, got dtype {xs.dtype}")
    check_ndim("xs", xs, 2)
    check_shape("xs", xs, ("T", m))
    if xs.shape[0] == 0:
        raise ValueError("xs is an empty sequence (T = 0); at least one time step is needed")
    h0 = np.zeros(n) if h0 is None else np.asarray(h0, dtype=np.float64)
    check_shape("h0", h0, (n,))
    return xs.astype(np.float64, copy=False), h0


def check_labels(ys: np.ndarray, T: int, K: int) -> np.ndarray:
    """Validate integer class labels ``ys`` of shape (T,) with values in [0, K); return them as int64."""
    ys = np.asarray(ys)
    if ys.dtype == bool or not np.issubdtype(ys.dtype, np.integer):
        raise ValueError(f"ys must hold integer class labels, got dtype {ys.dtype}")
    check_shape("ys", ys, (T,))
    if ys.size and (ys.min() < 0 or ys.max() >= K):
        raise ValueError(f"labels must lie in [0, {K}), got values in [{ys.min()}, {ys.max()}]")
    return ys.astype(np.int64)


def _nll(o: np.ndarray, ys: np.ndarray) -> float:
    """-Σ_t log softmax(o_t)[y_t], computed as Σ_t (logsumexp(o_t) - o_t[y_t]) for stability."""
    o_max = o.max(axis=1, keepdims=True)
    logsumexp = (o_max + np.log(np.exp(o - o_max).sum(axis=1, keepdims=True)))[:, 0]  # (T,)
    return float(np.sum(logsumexp - o[np.arange(len(ys)), ys]))


def forward(
    params: Params, xs: np.ndarray, h0: np.ndarray | None = None, ys: np.ndarray | None = None
) -> RNNForward:
    """Run the RNN over ``xs`` (T, m) from ``h0`` (n,) (zeros if None); add the loss if ``ys`` (T,) given."""
    xs, h0 = _check_inputs(params, xs, h0)
    U, W, V, b, c = (params[k] for k in PARAM_NAMES)
    T, n = xs.shape[0], W.shape[0]
    ux = xs @ U.T + b  # (T, n): input projections of all steps, outside the time loop
    h = np.empty((T, n))
    h_prev = h0
    for t in range(T):
        h[t] = np.tanh(ux[t] + W @ h_prev)  # a_t = b + W h_{t-1} + U x_t
        h_prev = h[t]
    o = h @ V.T + c  # (T, K)
    loss = None
    if ys is not None:
        loss = _nll(o, check_labels(ys, T, V.shape[0]))
    return RNNForward(h=h, o=o, y_hat=softmax(o), loss=loss)


def _param_grads(
    xs: np.ndarray, h0: np.ndarray, h: np.ndarray, do: np.ndarray, da: np.ndarray
) -> dict[str, np.ndarray]:
    """Parameter gradients from the per-step local gradients ∇_{o_t} L (T, K) and ∇_{a_t} L (T, n)."""
    h_prev = np.vstack([h0[None, :], h[:-1]])  # (T, n): h_{t-1} for every t
    return {
        "U": da.T @ xs,
        "W": da.T @ h_prev,
        "V": do.T @ h,
        "b": da.sum(axis=0),
        "c": do.sum(axis=0),
    }


def _output_grad(fw: RNNForward, ys: np.ndarray) -> np.ndarray:
    do = fw.y_hat.copy()  # (T, K)
    do[np.arange(len(ys)), ys] -= 1.0  # ∇_{o_t} L = ŷ_t - onehot(y_t)
    return do


def bptt(
    params: Params, xs: np.ndarray, ys: np.ndarray, h0: np.ndarray | None = None
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and exact gradients of L = -Σ_t log ŷ_t[y_t] by backpropagation through time.

    Returns ``(loss, grads)`` with grads keyed like params. Cost O(T n (n + m + K)) time, O(T n) memory.
    """
    xs, h0 = _check_inputs(params, xs, h0)
    fw = forward(params, xs, h0, ys)
    ys = check_labels(ys, xs.shape[0], params["V"].shape[0])
    W, V = params["W"], params["V"]
    do = _output_grad(fw, ys)  # (T, K)
    da = np.empty_like(fw.h)  # (T, n)
    da_next = np.zeros(W.shape[0])  # ∇_{a_{T+1}} L = 0
    for t in reversed(range(xs.shape[0])):
        dh = V.T @ do[t] + W.T @ da_next  # ∇_{h_t} L
        da[t] = (1.0 - fw.h[t] ** 2) * dh  # ∇_{a_t} L
        da_next = da[t]
    assert fw.loss is not None
    return fw.loss, _param_grads(xs, h0, fw.h, do, da)


def truncated_bptt(
    params: Params, xs: np.ndarray, ys: np.ndarray, h0: np.ndarray | None, depth: int
) -> tuple[float, dict[str, np.ndarray]]:
    """Gradients where each L_t is backpropagated through at most ``depth`` time steps (lecture 003).

    L_t reaches a_t, a_{t-1}, ..., a_{t-depth+1}; the state feeding the oldest of these is treated as
    a constant. depth = 1 ignores the recurrence entirely (only the current step's weights see the
    error), and depth >= T gives the exact BPTT gradient. The loss itself is the full loss.
    Cost O(T · depth · n²).
    """
    check_positive(depth=depth)
    xs, h0 = _check_inputs(params, xs, h0)
    fw = forward(params, xs, h0, ys)
    ys = check_labels(ys, xs.shape[0], params["V"].shape[0])
    W, V = params["W"], params["V"]
    do = _output_grad(fw, ys)  # (T, K)
    da = np.zeros_like(fw.h)  # (T, n): Σ over losses of the gradient each one sends to a_k
    for t in range(xs.shape[0]):
        dh = V.T @ do[t]  # ∂L_t/∂h_t
        for k in range(t, max(t - depth, -1), -1):
            da_k = (1.0 - fw.h[k] ** 2) * dh  # ∂L_t/∂a_k
            da[k] += da_k
            dh = W.T @ da_k  # ∂L_t/∂h_{k-1}
    assert fw.loss is not None
    return fw.loss, _param_grads(xs, h0, fw.h, do, da)
