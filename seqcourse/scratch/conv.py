"""2-D convolution in NumPy, forward and backward, as the lectures compute it (cross-correlation).

For an input x of shape (N, C_in, H, W) and a kernel bank w of shape (C_out, C_in / g, k_H, k_W),

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x_pad[n, c', i s + u d, j s + v d]

where s is the stride, d the dilation, x_pad the input with p zeros on every border and c' runs over the
input channels of o's group (g = ``groups``). Like ``torch.nn.functional.conv2d`` (and lecture 004's worked
9x9 example) the kernel is *not* flipped. The output size per axis is ``floor((c + 2p - d(k - 1) - 1)/s) + 1``
(``seqcourse.count.conv2d_output_size``).

Two forward forms share one signature:

* :func:`conv2d_loops` slides the window position by position, exactly as the lecture does by hand;
* :func:`conv2d` (im2col) copies every window into a column once and does one matrix product per group.

:func:`conv2d_backward` answers the lecture's question "how is the gradient computed under weight sharing?":
because one kernel is used at every position, dL/dw is the *sum over all positions* of dL/dy times the
input window seen there; dL/dx scatters each window's gradient back onto the pixels it covered.
"""

from __future__ import annotations

import numpy as np

from seqcourse.count import conv2d_output_size
from seqcourse.utils import check_ndim, check_positive

__all__ = [
    "conv2d",
    "conv2d_loops",
    "conv2d_backward",
    "im2col",
    "col2im",
    "filter2d",
    "lecture_image",
    "box_kernel",
    "laplacian_kernel",
    "sobel_kernel",
]

IntPair = int | tuple[int, int]


def _pair(name: str, value: IntPair) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        pair: tuple = (value, value)
    elif isinstance(value, (tuple, list)):
        pair = tuple(value)
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _strided(start: int, step: int, count: int) -> slice:
    """The slice start, start + step, ..., start + step (count - 1)."""
    return slice(start, start + step * (count - 1) + 1, step)


def _as_numeric(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers (int or float), got dtype {a.dtype}")
    return a


def _output_hw(
    hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    """(H_out, W_out); raises ValueError naming the axis when the kernel does not fit the padded input."""
    out = []
    per_axis = zip(hw, kernel, stride, padding, dilation, strict=True)
    for axis, args in zip(("height", "width"), per_axis, strict=True):
        try:
            out.append(conv2d_output_size(*args))
        except ValueError as err:
            raise ValueError(f"along the {axis}: {err}") from None
    return out[0], out[1]


def im2col(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    pad_value: float = 0.0,
) -> np.ndarray:
    """Copy every k_H x k_W window of x into a column.

    x (N, C, H, W) -> cols (N, C, k_H, k_W, H_out, W_out) with
    ``cols[n, c, u, v, i, j] = x_pad[n, c, i s_H + u d_H, j s_W + v d_W]``.
    The loop runs over the k_H k_W kernel offsets only; each step copies one strided slice of all windows.
    ``pad_value`` fills the border (max pooling pads with -inf).
    """
    check_ndim("x", x, 4)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        _pair("kernel_size", kernel_size), _pair("stride", stride),
        _pair("padding", padding), _pair("dilation", dilation),
    )
    n, c, h, w = x.shape
    h_out, w_out = _output_hw((h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)  # (N, C, H+2p, W+2p)
    cols = np.empty((n, c, kh, kw, h_out, w_out), dtype=x_pad.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, :, u, v] = x_pad[:, :, _strided(u * dh, sh, h_out), _strided(v * dw, sw, w_out)]
    return cols


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> np.ndarray:
    """Adjoint of :func:`im2col`: add every column entry back onto the pixel it was copied from.

    cols (N, C, k_H, k_W, H_out, W_out) -> (N, C, H, W). Pixels covered by several windows receive the sum,
    which is exactly the chain rule for dL/dx; entries that fell on the padding are dropped.
    """
    check_ndim("cols", cols, 6)
    (sh, sw), (ph, pw) = _pair("stride", stride), _pair("padding", padding)
    dh, dw = _pair("dilation", dilation)
    n, c, h, w = x_shape
    _, _, kh, kw, h_out, w_out = cols.shape
    x_pad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)  # (N, C, H+2p, W+2p)
    for u in range(kh):
        for v in range(kw):
            x_pad[:, :, _strided(u * dh, sh, h_out), _strided(v * dw, sw, w_out)] += cols[:, :, u, v]
    return x_pad[:, :, ph : ph + h, pw : pw + w]


def _check_conv(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x, w = _as_numeric("x", x), _as_numeric("w", w)
    check_ndim("x", x, 4)
    check_ndim("w", w, 4)
    check_positive(groups=groups)
    c_in, c_out = x.shape[1], w.shape[0]
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide C_in={c_in} and C_out={c_out}")
    if w.shape[1] * groups != c_in:
        raise ValueError(
            f"channel mismatch: x has C_in={c_in} channels, so w must have shape "
            f"(C_out, {c_in // groups}, k_H, k_W) for groups={groups}, got {tuple(w.shape)}"
        )
    if b is not None:
        b = _as_numeric("b", b)
        if b.shape != (c_out,):
            raise ValueError(f"b must have shape ({c_out},) to match C_out, got {tuple(b.shape)}")
    return x, w, b


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """Vectorised (im2col) 2-D cross-correlation: x (N, C_in, H, W), w (C_out, C_in/g, k_H, k_W), b (C_out,).

    Returns y (N, C_out, H_out, W_out), equal to ``torch.nn.functional.conv2d`` with the same arguments.
    Per group y_g = W_g @ cols_g, with W_g (C_out/g, C_in/g k_H k_W), cols_g (C_in/g k_H k_W, H_out W_out).
    """
    x, w, b = _check_conv(x, w, b, groups)
    n, c_out, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    cols = im2col(x, (kh, kw), stride, padding, dilation)  # (N, C_in, kH, kW, H_out, W_out)
    h_out, w_out = cols.shape[-2:]
    cols = cols.reshape(n, groups, -1, h_out * w_out)  # (N, g, C_in/g kH kW, L)
    w_mat = w.reshape(groups, c_out // groups, -1)  # (g, C_out/g, C_in/g kH kW)
    y = np.matmul(w_mat[None], cols)  # (N, g, C_out/g, L)
    y = y.reshape(n, c_out, h_out, w_out)  # (N, C_out, H_out, W_out)
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def conv2d_loops(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """The same cross-correlation as :func:`conv2d`, one output pixel at a time (the lecture's hand method).

    For every sample n, output map o and position (i, j): take the (dilated) window of the padded input
    whose top-left corner is (i s_H, j s_W) in the channels of o's group, multiply it element-wise by
    w[o] and add everything up (plus b[o]). Slow; meant for reading and for small checks.
    """
    x, w, b = _check_conv(x, w, b, groups)
    (sh, sw), (ph, pw) = _pair("stride", stride), _pair("padding", padding)
    dh, dw = _pair("dilation", dilation)
    n, c_in, h, wd = x.shape
    c_out, c_per_group, kh, kw = w.shape
    h_out, w_out = _output_hw((h, wd), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # (N, C_in, H+2p, W+2p)
    y = np.zeros((n, c_out, h_out, w_out), dtype=np.result_type(x, w))
    out_per_group = c_out // groups
    for s in range(n):
        for o in range(c_out):
            first = (o // out_per_group) * c_per_group  # first input channel of o's group
            for i in range(h_out):
                for j in range(w_out):
                    rows, columns = _strided(i * sh, dh, kh), _strided(j * sw, dw, kw)
                    window = x_pad[s, first : first + c_per_group, rows, columns]  # (C_in/g, kH, kW)
                    y[s, o, i, j] = np.sum(window * w[o])
            if b is not None:
                y[s, o] += b[o]
    return y


def conv2d_backward(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss L through y = conv2d(x, w, b, ...), given dy = dL/dy (N, C_out, H_out, W_out).

    Returns (dx, dw, db) with the shapes of x, w and b:

    * db[o] = sum_{n, i, j} dy[n, o, i, j]  (one bias shared by every position);
    * dw = sum over samples and positions of dy times the window seen there: dW_g = sum_n dY_g cols_g^T
      (weight sharing turns the gradient into a sum over all positions);
    * dx = col2im(W_g^T dY_g): each window's gradient goes back to the pixels it covered, overlaps add up.
    """
    x, w, _ = _check_conv(x, w, None, groups)
    n, c_out, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    cols = im2col(x, (kh, kw), stride, padding, dilation)  # (N, C_in, kH, kW, H_out, W_out)
    h_out, w_out = cols.shape[-2:]
    dy = _as_numeric("dy", dy)
    if dy.shape != (n, c_out, h_out, w_out):
        raise ValueError(f"dy must have the output's shape {(n, c_out, h_out, w_out)}, got {tuple(dy.shape)}")
    cols = cols.reshape(n, groups, -1, h_out * w_out)  # (N, g, C_in/g kH kW, L)
    dy_g = dy.reshape(n, groups, c_out // groups, h_out * w_out)  # (N, g, C_out/g, L)
    w_mat = w.reshape(groups, c_out // groups, -1)  # (g, C_out/g, C_in/g kH kW)
    db = dy.sum(axis=(0, 2, 3))  # (C_out,)
    dw = np.einsum("ngol,ngkl->gok", dy_g, cols).reshape(w.shape)  # (C_out, C_in/g, kH, kW)
    dcols = np.matmul(w_mat.transpose(0, 2, 1)[None], dy_g)  # (N, g, C_in/g kH kW, L)
    dcols = dcols.reshape(n, x.shape[1], kh, kw, h_out, w_out)  # (N, C_in, kH, kW, H_out, W_out)
    dx = col2im(dcols, x.shape, stride, padding, dilation)  # (N, C_in, H, W)
    return dx, dw, db


def filter2d(image: np.ndarray, kernel: np.ndarray, padding: IntPair = 0, stride: IntPair = 1) -> np.ndarray:
    """Slide one 2-D kernel (k_H, k_W) over one grey image (H, W); returns (H_out, W_out)."""
    image, kernel = _as_numeric("image", image), _as_numeric("kernel", kernel)
    check_ndim("image", image, 2)
    check_ndim("kernel", kernel, 2)
    return conv2d(image[None, None], kernel[None, None], stride=stride, padding=padding)[0, 0]


def lecture_image() -> np.ndarray:
    """The 9x9 grey image of lecture 004's worked example (int64); with :func:`sobel_kernel` the first
    output row starts 0, 8, 8."""
    rows = [
        "0 2 3 3 5 6 1 2 3",
        "0 1 4 3 5 1 1 0 5",
        "3 2 0 1 4 5 2 1 6",
        "4 1 1 2 0 1 3 0 3",
        "0 1 3 2 1 1 1 2 2",
        "1 0 2 0 2 2 0 2 0",
        "1 2 0 5 0 2 1 4 0",
        "0 3 2 4 1 0 4 3 0",
        "1 1 1 2 3 0 3 0 0",
    ]
    return np.array([[int(v) for v in r.split()] for r in rows], dtype=np.int64)


def box_kernel(size: int = 3) -> np.ndarray:
    """Mean (box) smoothing kernel: a size x size array filled with 1 / size^2."""
    check_positive(size=size)
    return np.full((size, size), 1.0 / size**2)


def laplacian_kernel() -> np.ndarray:
    """The 8-neighbour Laplacian edge detector [[1, 1, 1], [1, -8, 1], [1, 1, 1]]: zero on flat regions."""
    k = np.ones((3, 3))
    k[1, 1] = -8.0
    return k


def sobel_kernel() -> np.ndarray:
    """The lecture's 3x3 kernel [[1, 2, 1], [0, 0, 0], [-1, -2, -1]] (Sobel): responds to horizontal edges,
    i.e. to brightness changing from top to bottom."""
    return np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
