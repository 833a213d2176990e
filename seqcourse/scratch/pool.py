"""Max and average pooling in NumPy, forward and backward (lecture 004's downsampling step).

For x (N, C, H, W), a k_H x k_W window moved with stride s (default: the window size, as in the lecture's
2x2 pooling that halves 196x196 maps to 98x98) and p border pixels:

    max:     y[n, c, i, j] = max_{u, v} x_pad[n, c, i s + u, j s + v]          (border = -inf)
    average: y[n, c, i, j] = (1 / (k_H k_W)) sum_{u, v} x_pad[n, c, i s + u, j s + v]   (border = 0)

The backward passes answer the lecture's question of how BP passes through pooling, which has no weights:
max pooling routes each dL/dy[n, c, i, j] to the single input that won the window (its argmax) and sends
zero to the others; average pooling spreads it evenly, dL/dy / (k_H k_W) to every input in the window.
Overlapping windows (s < k) add their contributions. Matches ``F.max_pool2d`` and ``F.avg_pool2d``
(with their default ``count_include_pad=True``).
"""

from __future__ import annotations

import numpy as np

from seqcourse.scratch.conv import IntPair, _as_numeric, _pair, col2im, im2col
from seqcourse.utils import check_ndim

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]


def _windows(
    x: np.ndarray, kernel_size: IntPair, stride: IntPair | None, padding: IntPair, pad_value: float
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Windows (N, C, k_H k_W, H_out, W_out) plus the normalised kernel, stride and padding."""
    x = _as_numeric("x", x)
    check_ndim("x", x, 4)
    k = _pair("kernel_size", kernel_size)
    s = k if stride is None else _pair("stride", stride)
    p = _pair("padding", padding)
    if any(pi > ki // 2 for pi, ki in zip(p, k, strict=True)):
        raise ValueError(f"padding {p} must be at most half the kernel size {k}")
    if pad_value != 0.0:
        x = x.astype(np.result_type(x, np.float64))  # -inf padding needs a float array
    cols = im2col(x, k, s, p, 1, pad_value=pad_value)  # (N, C, kH, kW, H_out, W_out)
    n, c, kh, kw, h_out, w_out = cols.shape
    return cols.reshape(n, c, kh * kw, h_out, w_out), k, s, p


def max_pool2d(
    x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
) -> np.ndarray:
    """Largest value of every window: x (N, C, H, W) -> (N, C, H_out, W_out)."""
    windows, *_ = _windows(x, kernel_size, stride, padding, -np.inf)
    return windows.max(axis=2)


def max_pool2d_backward(
    dy: np.ndarray, x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
) -> np.ndarray:
    """dL/dx for y = max_pool2d(x, ...): dy goes to each window's argmax (first one on ties), 0 elsewhere."""
    windows, k, s, p = _windows(x, kernel_size, stride, padding, -np.inf)  # (N, C, kH kW, H_out, W_out)
    dy = _as_numeric("dy", dy)
    expected = windows.shape[:2] + windows.shape[3:]
    if dy.shape != expected:
        raise ValueError(f"dy must have the output's shape {expected}, got {tuple(dy.shape)}")
    winner = windows.argmax(axis=2)  # (N, C, H_out, W_out)
    routed = (np.arange(windows.shape[2])[None, None, :, None, None] == winner[:, :, None]) * dy[:, :, None]
    n, c, _, h_out, w_out = routed.shape
    return col2im(routed.reshape(n, c, k[0], k[1], h_out, w_out), x.shape, s, p, 1)  # (N, C, H, W)


def avg_pool2d(
    x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
) -> np.ndarray:
    """Mean of every window (padding counts as zeros): x (N, C, H, W) -> (N, C, H_out, W_out)."""
    windows, *_ = _windows(x, kernel_size, stride, padding, 0.0)
    return windows.mean(axis=2)


def avg_pool2d_backward(
    dy: np.ndarray, x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
) -> np.ndarray:
    """dL/dx for y = avg_pool2d(x, ...): every input of a window receives dy / (k_H k_W)."""
    x = _as_numeric("x", x)
    check_ndim("x", x, 4)
    k = _pair("kernel_size", kernel_size)
    s = k if stride is None else _pair("stride", stride)
    y_shape = avg_pool2d(x, k, s, padding).shape
    dy = _as_numeric("dy", dy)
    if dy.shape != y_shape:
        raise ValueError(f"dy must have the output's shape {y_shape}, got {tuple(dy.shape)}")
    n, c, h_out, w_out = y_shape
    spread = np.broadcast_to(dy[:, :, None, None] / (k[0] * k[1]), (n, c, k[0], k[1], h_out, w_out))
    return col2im(np.ascontiguousarray(spread), x.shape, s, padding, 1)  # (N, C, H, W)
