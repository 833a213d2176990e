"""RNN design pattern 2 (output-to-hidden recurrence): teacher forcing at training, free running at test.

The only recurrence goes from the previous output to the hidden state; y_{t-1} ∈ R^K is a one-hot
vector (zeros at t = 1)::

    a_t = b + W y_{t-1} + U x_t,   h_t = tanh(a_t),   o_t = c + V h_t,   ŷ_t = softmax(o_t)
    U: (n, m),  W: (n, K),  V: (K, n),  b: (n,),  c: (K,)

Teacher forcing (导师驱动过程) feeds the true label y_{t-1}: then h_t depends on the parameters only
through step t, the loss splits into T independent terms and the gradient needs no backpropagation
through time (:func:`teacher_forcing_grads`). Free running feeds the model's own previous prediction
onehot(argmax ŷ_{t-1}); this is how the model is used at test time. The two runs see the same inputs
only while the model predicts every label correctly: one wrong prediction changes all the later
inputs, a kind of input the model never saw during training (the train/test mismatch of
closed-loop training and open-loop use). Scheduled sampling (:func:`scheduled_sampling_grads`) feeds
the true label with probability eps and the model's own prediction otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from seqcourse.scratch import rnn
from seqcourse.utils import check_ndim, check_params, check_shape

__all__ = [
    "init_params",
    "step",
    "teacher_forcing",
    "free_running",
    "teacher_forcing_grads",
    "scheduled_sampling_grads",
]

Params = Mapping[str, np.ndarray]


def init_params(m: int, n: int, K: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Like :func:`seqcourse.scratch.rnn.init_params`, but W maps the K-dim previous output: (n, K)."""
    rng = np.random.default_rng(0) if rng is None else rng
    params = rnn.init_params(m, n, K, rng)
    params["W"] = rng.normal(0.0, 1.0, size=(n, K))
    return params


def _check(params: Params, xs: np.ndarray) -> tuple[np.ndarray, int]:
    spec = {"U": ("n", "m"), "V": ("K", "n"), "W": ("n", "K"), "b": ("n",), "c": ("K",)}  # W: (n, K)
    size = check_params(params, spec, array_type=np.ndarray)
    m, K = size["m"], size["K"]
    xs = np.asarray(xs, dtype=np.float64)
    check_ndim("xs", xs, 2)
    check_shape("xs", xs, ("T", m))
    if xs.shape[0] == 0:
        raise ValueError("xs is an empty sequence (T = 0)")
    return xs, K


def step(params: Params, x_t: np.ndarray, y_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step shared by both modes: (x_t (m,), y_{t-1} (K,)) → (h_t (n,), o_t (K,))."""
    h = np.tanh(params["b"] + params["W"] @ y_prev + params["U"] @ x_t)
    return h, params["c"] + params["V"] @ h


def _run(params: Params, xs: np.ndarray, ys: np.ndarray | None, forced: bool) -> rnn.RNNForward:
    xs, K = _check(params, xs)
    T = xs.shape[0]
    if ys is not None:
        ys = rnn.check_labels(ys, T, K)
    h, o = np.empty((T, params["U"].shape[0])), np.empty((T, K))
    y_prev = np.zeros(K)
    for t in range(T):
        h[t], o[t] = step(params, xs[t], y_prev)
        y_prev = np.zeros(K)
        y_prev[ys[t] if forced else int(np.argmax(o[t]))] = 1.0  # true label, or own prediction
    y_hat = rnn.softmax(o)
    loss = None if ys is None else float(-np.sum(np.log(y_hat[np.arange(T), ys])))
    return rnn.RNNForward(h=h, o=o, y_hat=y_hat, loss=loss)


def teacher_forcing(params: Params, xs: np.ndarray, ys: np.ndarray) -> rnn.RNNForward:
    """Training-time run: the true label y_{t-1} (one-hot) is fed to step t."""
    if ys is None:
        raise ValueError("teacher forcing needs the labels ys")
    return _run(params, xs, ys, forced=True)


def free_running(params: Params, xs: np.ndarray, ys: np.ndarray | None = None) -> rnn.RNNForward:
    """Test-time run: the model's own prediction onehot(argmax ŷ_{t-1}) is fed to step t.

    With ``ys`` the loss of those predictions is included (to compare with the teacher-forced loss).
    """
    return _run(params, xs, ys, forced=False)


def teacher_forcing_grads(
    params: Params, xs: np.ndarray, ys: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and gradients under teacher forcing; no time loop is needed in the backward pass.

    ∇_{o_t} = ŷ_t - onehot(y_t), ∇_{a_t} = (1 - h_t²) ⊙ V^T ∇_{o_t}, ∇_W = Σ_t ∇_{a_t} y_{t-1}^T, ...
    """
    fw = teacher_forcing(params, xs, ys)
    xs, K = _check(params, xs)
    ys = rnn.check_labels(ys, xs.shape[0], K)
    y_prev = np.zeros((len(ys), K))  # (T, K): one-hot y_{t-1}, zeros at t = 1
    y_prev[np.arange(1, len(ys)), ys[:-1]] = 1.0
    return _fed_grads(params, xs, ys, fw, y_prev)


def _fed_grads(params: Params, xs: np.ndarray, ys: np.ndarray, fw: rnn.RNNForward,
               y_prev: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Gradients when the fed previous outputs y_prev (T, K) are constants: every step on its own."""
    do = fw.y_hat.copy()  # (T, K)
    do[np.arange(len(ys)), ys] -= 1.0
    da = (1.0 - fw.h**2) * (do @ params["V"])  # (T, n)
    grads = {
        "U": da.T @ xs,
        "W": da.T @ y_prev,
        "V": do.T @ fw.h,
        "b": da.sum(axis=0),
        "c": do.sum(axis=0),
    }
    assert fw.loss is not None
    return fw.loss, grads


def scheduled_sampling_grads(
    params: Params, xs: np.ndarray, ys: np.ndarray, eps: float, rng: np.random.Generator
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """One scheduled-sampling pass (Bengio et al. 2015): step t + 1 is fed the true y_t with probability
    ``eps`` and the model's own prediction onehot(argmax ŷ_t) otherwise.

    The fed one-hot vectors are treated as constants (no gradient flows through the sampling decision),
    so the loss still splits into T independent terms and the gradients have the teacher-forcing form
    with the fed vectors in place of the true labels. Returns (loss, grads, fed (T, K)).
    eps = 1 is teacher forcing; eps = 0 is free running.
    """
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must be a probability in [0, 1], got {eps!r}")
    xs, K = _check(params, xs)
    T = xs.shape[0]
    ys = rnn.check_labels(ys, T, K)
    h, o = np.empty((T, params["U"].shape[0])), np.empty((T, K))
    fed = np.zeros((T, K))  # (T, K): what step t actually received
    for t in range(T):
        h[t], o[t] = step(params, xs[t], fed[t])
        if t + 1 < T:
            fed[t + 1, ys[t] if rng.random() < eps else int(np.argmax(o[t]))] = 1.0
    y_hat = rnn.softmax(o)
    fw = rnn.RNNForward(h=h, o=o, y_hat=y_hat, loss=float(-np.sum(np.log(y_hat[np.arange(T), ys]))))
    loss, grads = _fed_grads(params, xs, ys, fw, fed)
    return loss, grads, fed
