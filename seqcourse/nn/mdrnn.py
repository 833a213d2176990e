"""A two-dimensional recurrent layer (multi-dimensional RNN, Graves et al. 2007), one scan direction.

Over a grid of inputs x_{i,j} (rows i, columns j) the state at (i, j) depends on the state above and the
state to the left::

    h_{i,j} = tanh(U x_{i,j} + W_1 h_{i-1,j} + W_2 h_{i,j-1} + b),     h_{0,.} = h_{.,0} = 0

so h_{i,j} sees the whole rectangle above-left of (i, j). Four such scans (from each corner) together
see the whole image. On a single row (H = 1) the layer is an ordinary RNN along the row.
"""

from __future__ import annotations

import torch

from seqcourse.utils import check_ndim, check_shape

__all__ = ["mdrnn_2d"]


def mdrnn_2d(X: torch.Tensor, U: torch.Tensor, W_1: torch.Tensor, W_2: torch.Tensor,
             b: torch.Tensor) -> torch.Tensor:
    """States h (H, W, n) of the top-left-to-bottom-right scan over X (H, W, m); U (n, m), W_1, W_2 (n, n)."""
    check_ndim("X", X, 3)
    n = U.shape[0]
    check_shape("U", U, (n, X.shape[2]))
    check_shape("W_1", W_1, (n, n))
    check_shape("W_2", W_2, (n, n))
    check_shape("b", b, (n,))
    Hh, Ww = X.shape[:2]
    ux = X @ U.T + b  # (H, W, n): input terms for every cell at once
    zero = X.new_zeros(n)
    rows: list[list[torch.Tensor]] = []
    for i in range(Hh):
        row: list[torch.Tensor] = []
        for j in range(Ww):
            up = rows[i - 1][j] if i > 0 else zero
            left = row[j - 1] if j > 0 else zero
            row.append(torch.tanh(ux[i, j] + W_1 @ up + W_2 @ left))
        rows.append(row)
    return torch.stack([torch.stack(r) for r in rows])  # (H, W, n)
