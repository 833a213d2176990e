"""Closed-form parameter, size and multiplication counts used in the lectures.

Every function here is checked in ``tests/`` against a brute-force count (``sum(p.numel())`` of the
matching ``torch.nn`` module, or counting the operations of an explicit loop).
"""

from __future__ import annotations

from collections.abc import Sequence

from seqcourse.utils import check_non_negative, check_positive

__all__ = [
    "rnn_params",
    "torch_rnn_params",
    "lstm_params",
    "torch_lstm_params",
    "gru_params",
    "torch_gru_params",
    "conv2d_output_size",
    "conv_layer_params",
    "fully_connected_weights",
    "locally_connected_weights",
    "shared_weights",
    "receptive_field",
    "conv2d_macs",
    "depthwise_separable_macs",
    "attention_mults",
    "linear_attention_mults",
]


# ---------------------------------------------------------------------------------------------------------
# Recurrent layers: m = input size, n = hidden size (lecture 002's notation), one bias per gate.
# ---------------------------------------------------------------------------------------------------------


def rnn_params(m: int, n: int) -> int:
    """Parameters of a vanilla RNN layer h_t = tanh(U x_t + W h_{t-1} + b): ``(m + n) n + n``."""
    check_positive(m=m, n=n)
    return (m + n) * n + n


def lstm_params(m: int, n: int) -> int:
    """Parameters of one LSTM layer as lecture 002 counts them: ``4[(m + n) n + n]``.

    Four gates (forget, input, candidate, output), each with a weight on the concatenation
    [h_{t-1}, x_t] of size n x (m + n) and one bias of size n. The output layer is not included.
    """
    return 4 * rnn_params(m, n)


def gru_params(m: int, n: int) -> int:
    """Parameters of one GRU layer with one bias per gate: ``3[(m + n) n + n]``."""
    return 3 * rnn_params(m, n)


def _torch_recurrent_params(gates: int, m: int, n: int, num_layers: int, bidirectional: bool) -> int:
    """``torch.nn`` keeps two bias vectors per gate (b_ih and b_hh), hence the extra ``gates * n``."""
    check_positive(m=m, n=n, num_layers=num_layers)
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        inputs = m if layer == 0 else n * directions
        total += directions * gates * ((inputs + n) * n + 2 * n)
    return total


def torch_rnn_params(m: int, n: int, num_layers: int = 1, bidirectional: bool = False) -> int:
    """``sum(p.numel() for p in torch.nn.RNN(m, n, num_layers, bidirectional=...).parameters())``."""
    return _torch_recurrent_params(1, m, n, num_layers, bidirectional)


def torch_lstm_params(m: int, n: int, num_layers: int = 1, bidirectional: bool = False) -> int:
    """``torch.nn.LSTM``'s count: ``4[(m + n) n + 2n]`` per layer and direction (two biases per gate)."""
    return _torch_recurrent_params(4, m, n, num_layers, bidirectional)


def torch_gru_params(m: int, n: int, num_layers: int = 1, bidirectional: bool = False) -> int:
    """``torch.nn.GRU``'s count: ``3[(m + n) n + 2n]`` per layer and direction."""
    return _torch_recurrent_params(3, m, n, num_layers, bidirectional)


# ---------------------------------------------------------------------------------------------------------
# Convolution (lectures 001 and 004)
# ---------------------------------------------------------------------------------------------------------


def conv2d_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one axis: ``floor((c + 2p - d(c_f - 1) - 1) / s) + 1``.

    With dilation d = 1 this is ``floor((c + 2p - c_f) / s) + 1``. Lecture 001 writes
    ``(c - c_f + 1 + 2p) / s``, which is wrong whenever s > 1 (for c = 7, c_f = 3, p = 0, s = 2 it gives
    2.5 where the true size is 3).
    """
    check_positive(size=size, kernel=kernel, stride=stride, dilation=dilation)
    check_non_negative(padding=padding)
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(
            f"kernel span {span} (kernel={kernel}, dilation={dilation}) exceeds the padded input "
            f"{size + 2 * padding} (size={size}, padding={padding})"
        )
    return (size + 2 * padding - span) // stride + 1


def conv_layer_params(c_in: int, c_out: int, kernel: int, bias: bool = True, groups: int = 1) -> int:
    """Parameters of a 2-D convolution with square kernels: ``c_out (c_in / g) k^2 (+ c_out)``.

    Lecture 004's second layer (4 input maps, 7 output maps, 3x3 kernels, no bias) has 9 x 4 x 7 = 252.
    """
    check_positive(c_in=c_in, c_out=c_out, kernel=kernel, groups=groups)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in={c_in} and c_out={c_out}")
    return c_out * (c_in // groups) * kernel * kernel + (c_out if bias else 0)


def fully_connected_weights(in_size: int, out_size: int) -> int:
    """Weights of a dense layer from an in_size-pixel image to an out_size-unit map: ``in * out``.

    Lecture 004: a 200x200 image to a 196x196 map needs 200*200*196*196 weights.
    """
    check_positive(in_size=in_size, out_size=out_size)
    return in_size * out_size


def locally_connected_weights(kernel: int, out_size: int) -> int:
    """Weights when every output unit sees its own k x k patch with its own weights: ``k^2 * out``."""
    check_positive(kernel=kernel, out_size=out_size)
    return kernel * kernel * out_size


def shared_weights(kernel: int, n_kernels: int = 1) -> int:
    """Weights when each k x k kernel is shared over all positions: ``k^2`` per kernel."""
    check_positive(kernel=kernel, n_kernels=n_kernels)
    return kernel * kernel * n_kernels


def receptive_field(
    kernels: Sequence[int], strides: Sequence[int] | None = None, dilations: Sequence[int] | None = None
) -> int:
    """Receptive field (along one axis) of one output unit of a stack of convolution / pooling layers:

    ``r = 1 + sum_l d_l (k_l - 1) prod_{m < l} s_m``. Two stacked 3x3 convolutions see 5 pixels, three
    see 7; a 3x3 convolution with dilation 2 sees 5 with 9 weights.
    """
    n = len(kernels)
    strides = [1] * n if strides is None else list(strides)
    dilations = [1] * n if dilations is None else list(dilations)
    if len(strides) != n or len(dilations) != n:
        raise ValueError(f"kernels, strides, dilations must have equal lengths, got {n}, {len(strides)}, "
                         f"{len(dilations)}")
    field, jump = 1, 1
    for k, s, d in zip(kernels, strides, dilations, strict=True):
        check_positive(kernel=k, stride=s, dilation=d)
        field += d * (k - 1) * jump
        jump *= s
    return field


def conv2d_macs(c_in: int, c_out: int, kernel: int, out_h: int, out_w: int, groups: int = 1) -> int:
    """Multiply-accumulates of one 2-D convolution per image: ``c_out (c_in / g) k^2 H_out W_out``.

    Every one of the c_out H_out W_out outputs is a dot product of length (c_in / g) k^2; a group convolution
    (g groups) therefore costs g times less than a full one (g = 1), a depthwise one (g = c_in) c_out times
    less per output channel.
    """
    check_positive(out_h=out_h, out_w=out_w)
    return conv_layer_params(c_in, c_out, kernel, bias=False, groups=groups) * out_h * out_w


def depthwise_separable_macs(c_in: int, c_out: int, kernel: int, out_h: int, out_w: int) -> int:
    """Multiply-accumulates of a depthwise k x k convolution followed by a pointwise 1 x 1 one (MobileNet):
    ``c_in k^2 H_out W_out + c_in c_out H_out W_out``, a fraction ``1 / c_out + 1 / k^2`` of a full
    convolution's ``c_in c_out k^2 H_out W_out``."""
    depthwise = conv2d_macs(c_in, c_in, kernel, out_h, out_w, groups=c_in)
    return depthwise + conv2d_macs(c_in, c_out, 1, out_h, out_w)


# ---------------------------------------------------------------------------------------------------------
# Attention (lecture 001): K, Q are d x N, V is d' x N; the output is O = V softmax(K^T Q).
# ---------------------------------------------------------------------------------------------------------


def attention_mults(d: int, d_prime: int, N: int) -> int:
    """Multiplications of ``V (K^T Q)``, the N x N matrix first: ``(d + d') N^2``.

    K^T Q costs d N^2 (N x N entries, d products each); V A' costs d' N^2.
    """
    check_positive(d=d, d_prime=d_prime, N=N)
    return (d + d_prime) * N * N


def linear_attention_mults(d: int, d_prime: int, N: int) -> int:
    """Multiplications of ``(V K^T) Q``, associativity first (linear attention): ``2 d d' N``.

    V K^T is d' x d (d' d entries, N products each), then (V K^T) Q is d' x N (d products each). This is
    fewer than ``(d + d') N^2`` whenever N is large compared with d and d'.
    """
    check_positive(d=d, d_prime=d_prime, N=N)
    return 2 * d * d_prime * N
