"""Convolution operations of lecture 000 as small PyTorch modules: LeNet-5 with its C3 connection table,
group, depthwise separable, shuffled, squeeze-and-excitation and dilated convolutions.

The larger building blocks (deformable convolution, Inception, bottleneck, residual and non-local blocks)
live in :mod:`seqcourse.nn.cnn_blocks`. All modules take images shaped (B, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.utils import check_ndim

__all__ = [
    "C3_TABLE",
    "c3_connection_mask",
    "MaskedConv2d",
    "Subsampling",
    "LeNet5",
    "GroupConv2d",
    "DepthwiseSeparableConv2d",
    "channel_shuffle",
    "ChannelShuffle",
    "SqueezeExcitation",
    "dilated_conv3x3",
]

# TABLE I of LeCun et al. (1998): C3_TABLE[j] lists the S2 maps that C3 map j reads. Maps 0-5 read three
# neighbouring S2 maps, 6-11 four neighbouring maps, 12-14 four non-neighbouring maps, and 15 all six.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def c3_connection_mask() -> torch.Tensor:
    """Boolean (16, 6) mask: ``mask[j, i]`` is True when C3 map j is connected to S2 map i (TABLE I)."""
    mask = torch.zeros(16, 6, dtype=torch.bool)
    for j, inputs in enumerate(C3_TABLE):
        mask[j, list(inputs)] = True
    return mask


def _check_images(name: str, x: torch.Tensor, channels: int) -> None:
    check_ndim(name, x, 4)
    if x.shape[1] != channels:
        raise ValueError(f"{name} must have shape (B, {channels}, H, W), got {tuple(x.shape)}")


class MaskedConv2d(nn.Module):
    """Convolution in which output map o only reads the input maps i with ``mask[o, i]`` True.

    y_o = b_o + sum_{i: mask[o, i]} w_{o,i} * x_i. Only the connected kernels are parameters: ``weight``
    has shape (number of True entries, k, k) and is scattered into a zero (C_out, C_in, k, k) bank before
    ``F.conv2d``, so ``sum(p.numel())`` is the true count ``mask.sum() k^2 + C_out`` (1,516 for C3).
    """

    def __init__(self, mask: torch.Tensor, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        check_ndim("mask", mask, 2)
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool tensor, got {mask.dtype}")
        self.out_channels, self.in_channels = mask.shape
        self.kernel_size = kernel_size
        self.register_buffer("mask", mask.clone())
        fan_in = mask.sum(1).clamp(min=1).max().item() * kernel_size**2
        bound = 1.0 / fan_in**0.5
        n_kernels = int(mask.sum())
        self.weight = nn.Parameter(torch.empty(n_kernels, kernel_size, kernel_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(self.out_channels).uniform_(-bound, bound)) if bias else None

    def full_weight(self) -> torch.Tensor:
        """The (C_out, C_in, k, k) kernel bank with zeros where the table has no connection."""
        k = self.kernel_size
        w = self.weight.new_zeros(self.out_channels, self.in_channels, k, k)  # (C_out, C_in, k, k)
        w[self.mask] = self.weight
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.in_channels)
        return F.conv2d(x, self.full_weight(), self.bias)  # (B, C_out, H - k + 1, W - k + 1)


class Subsampling(nn.Module):
    """LeNet-5's trainable subsampling (S2, S4): y_c = a_c * (sum of each 2x2 block of x_c) + b_c.

    Two parameters per map (coefficient a_c and bias b_c); halves H and W.
    """

    def __init__(self, channels: int, size: int = 2) -> None:
        super().__init__()
        self.size = size
        self.coefficient = nn.Parameter(torch.full((channels,), 0.25))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.coefficient.numel())
        block_sum = F.avg_pool2d(x, self.size) * self.size**2  # (B, C, H / 2, W / 2)
        return block_sum * self.coefficient[:, None, None] + self.bias[:, None, None]


def _scaled_tanh(a: torch.Tensor) -> torch.Tensor:
    """LeNet-5's squashing function f(a) = 1.7159 tanh(2a / 3)."""
    return 1.7159 * torch.tanh(a * (2.0 / 3.0))


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) for (B, 1, 32, 32) images.

    C1: 6 maps 5x5 (28x28) -> S2: subsample (14x14) -> C3: 16 maps 5x5 connected by TABLE I (10x10)
    -> S4: subsample (5x5) -> C5: 120 maps 5x5 (1x1) -> F6: 84 units -> output: ``n_classes`` logits.
    The paper's Euclidean RBF output layer is replaced by a linear layer (logits for cross-entropy).
    Parameters: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164.
    """

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = Subsampling(6)
        self.c3 = MaskedConv2d(c3_connection_mask(), 5)
        self.s4 = Subsampling(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_ndim("x", x, 4)
        if tuple(x.shape[1:]) != (1, 32, 32):
            raise ValueError(f"LeNet5 expects images of shape (B, 1, 32, 32), got {tuple(x.shape)}")
        h = _scaled_tanh(self.s2(self.c1(x)))  # (B, 6, 14, 14)
        h = _scaled_tanh(self.s4(self.c3(h)))  # (B, 16, 5, 5)
        h = _scaled_tanh(self.c5(h)).flatten(1)  # (B, 120)
        h = _scaled_tanh(self.f6(h))  # (B, 84)
        return self.output(h)  # (B, n_classes)


class GroupConv2d(nn.Module):
    """Group convolution written out: split the C_in channels into g groups, convolve each group with its own
    ordinary convolution (C_in/g -> C_out/g) and concatenate. Equal to ``nn.Conv2d(..., groups=g)`` with
    g times fewer weights than a full convolution: C_out (C_in / g) k^2.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int,
                 stride: int = 1, padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.in_channels, self.groups = in_channels, groups
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels // groups, out_channels // groups, kernel_size, stride, padding, bias=bias)
            for _ in range(groups)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.in_channels)
        parts = x.chunk(self.groups, dim=1)  # g tensors (B, C_in/g, H, W)
        return torch.cat([conv(part) for conv, part in zip(self.convs, parts, strict=True)], dim=1)


class DepthwiseSeparableConv2d(nn.Module):
    """Depthwise convolution (one k x k kernel per input channel, ``groups=C_in``) followed by a pointwise
    1x1 convolution mixing the channels (MobileNet).

    It equals one ordinary convolution whose kernel factorises as w[o, c] = p[o, c] d[c], at the cost of
    C_in k^2 + C_in C_out weights instead of C_in C_out k^2.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding, dilation,
                                   groups=in_channels, bias=bias)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.in_channels)
        return self.pointwise(self.depthwise(x))  # (B, C_out, H_out, W_out)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: view the C channels as (g, C/g), transpose to (C/g, g), flatten.

    Output channel ``j g + i`` is input channel ``i (C/g) + j``, so the next group convolution sees one
    channel from every previous group.
    """
    check_ndim("x", x, 4)
    b, c, h, w = x.shape
    if groups <= 0 or c % groups:
        raise ValueError(f"groups={groups} must be positive and divide the {c} channels")
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)  # (B, C, H, W)


class ChannelShuffle(nn.Module):
    """Module wrapper of :func:`channel_shuffle`."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (SENet): channel attention computed from global context.

    squeeze z_c = mean_{i,j} x_c[i, j];  excitation s = sigmoid(W_2 ReLU(W_1 z + b_1) + b_2);
    output y_c = s_c x_c. W_1 is (C/r, C), W_2 is (C, C/r) with reduction ratio r.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.channels = channels
        self.fc1 = nn.Linear(channels, hidden)  # W_1, b_1
        self.fc2 = nn.Linear(hidden, channels)  # W_2, b_2

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel gate s, shape (B, C)."""
        z = x.mean(dim=(2, 3))  # (B, C)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))  # (B, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.channels)
        return x * self.gate(x)[:, :, None, None]  # (B, C, H, W)


def dilated_conv3x3(in_channels: int, out_channels: int, dilation: int, bias: bool = True) -> nn.Conv2d:
    """A 3x3 convolution with holes: taps d pixels apart, so it sees a (2d + 1) x (2d + 1) field with only
    9 weights; ``padding = d`` keeps H and W unchanged."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=bias)
