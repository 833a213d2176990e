"""Building blocks of modern CNNs from lecture 000: deformable convolution, Inception module, residual and
bottleneck blocks (ResNet), and the non-local (self-attention) block. Images are (B, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.count import conv2d_output_size
from seqcourse.nn.cnn import _check_images
from seqcourse.utils import check_ndim

__all__ = [
    "deform_conv2d",
    "DeformableConv2d",
    "InceptionModule",
    "ResidualBlock",
    "Bottleneck",
    "NonLocalBlock",
]


def deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """Deformable convolution (Dai et al., 2017): every kernel tap n at every output position p0 reads the
    input at a learned fractional displacement,

        y(p0) = b + sum_n w_n x(p0 + p_n + dp_n(p0)),   p0 = (i s - pad, j s - pad),  p_n = d (u, v),

    where x(.) is bilinear interpolation with zeros outside the image (``F.grid_sample``).

    x (B, C_in, H, W); weight (C_out, C_in, k, k); offset (B, 2 k^2, H_out, W_out) holding (dy_n, dx_n) for
    tap n = u k + v in channels 2n and 2n + 1. All-zero offsets give exactly ``F.conv2d``.
    """
    check_ndim("x", x, 4)
    check_ndim("weight", weight, 4)
    check_ndim("offset", offset, 4)
    b, c, h, w = x.shape
    c_out, c_w, kh, kw = weight.shape
    if c_w != c:
        raise ValueError(f"channel mismatch: x has {c} channels but weight expects {c_w}")
    h_out = conv2d_output_size(h, kh, stride, padding, dilation)
    w_out = conv2d_output_size(w, kw, stride, padding, dilation)
    taps = kh * kw
    if tuple(offset.shape) != (b, 2 * taps, h_out, w_out):
        raise ValueError(f"offset must have shape {(b, 2 * taps, h_out, w_out)}, got {tuple(offset.shape)}")
    # regular sampling positions p0 + p_n, in pixels
    like = dict(device=x.device, dtype=x.dtype)
    tap_y = (torch.arange(kh, **like) * dilation).repeat_interleave(kw)[:, None]  # (K, 1): u d, tap u k + v
    tap_x = (torch.arange(kw, **like) * dilation).repeat(kh)[:, None]  # (K, 1): v d
    base_y = torch.arange(h_out, **like) * stride - padding + tap_y  # (K, H_out)
    base_x = torch.arange(w_out, **like) * stride - padding + tap_x  # (K, W_out)
    off = offset.view(b, taps, 2, h_out, w_out)
    py = base_y[None, :, :, None] + off[:, :, 0]  # (B, K, H_out, W_out)
    px = base_x[None, :, None, :] + off[:, :, 1]  # (B, K, H_out, W_out)
    # pixel centres -> grid_sample's [-1, 1] coordinates (align_corners=False)
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)  # (B, K, H_out, W_out, 2)
    samples = F.grid_sample(x, grid.view(b, taps * h_out, w_out, 2), mode="bilinear",
                            padding_mode="zeros", align_corners=False)  # (B, C_in, K H_out, W_out)
    samples = samples.view(b, c, taps, h_out, w_out)  # (B, C_in, K, H_out, W_out)
    y = torch.einsum("bckhw,ock->bohw", samples, weight.reshape(c_out, c, taps))  # (B, C_out, H_out, W_out)
    return y if bias is None else y + bias[:, None, None]


class DeformableConv2d(nn.Module):
    """A k x k convolution whose sampling grid is bent by offsets that an ordinary convolution predicts
    from the input: dp = conv_offset(x). The offset convolution starts at zero, so at initialisation the
    module is an ordinary convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.stride, self.padding, self.dilation = in_channels, stride, padding, dilation
        reference = nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias)  # for its default init
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bias = nn.Parameter(reference.bias.detach().clone()) if bias else None
        self.conv_offset = nn.Conv2d(in_channels, 2 * kernel_size**2, kernel_size, stride, padding, dilation)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.in_channels)
        offset = self.conv_offset(x)  # (B, 2 k^2, H_out, W_out)
        return deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation)


class InceptionModule(nn.Module):
    """GoogLeNet's Inception module: four parallel branches concatenated along the channels,

    [1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max-pool -> 1x1], each convolution followed by ReLU.
    The 1x1 "reduce" convolutions shrink the channels before the costly 3x3 and 5x5 kernels.
    Output: (B, c1 + c3 + c5 + pool_proj, H, W).
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int,
                 pool_proj: int) -> None:
        super().__init__()
        self.in_channels = in_channels

        def conv(c_in: int, c_out: int, k: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU())

        self.branch1 = conv(in_channels, c1, 1)
        self.branch3 = nn.Sequential(conv(in_channels, c3_reduce, 1), conv(c3_reduce, c3, 3))
        self.branch5 = nn.Sequential(conv(in_channels, c5_reduce, 1), conv(c5_reduce, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), conv(in_channels, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.in_channels)
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)  # (B, c1 + c3 + c5 + pool_proj, H, W)


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity when shapes agree, otherwise a strided 1x1 projection with batch norm (ResNet option B)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    projection = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
    return nn.Sequential(projection, nn.BatchNorm2d(out_channels))


class ResidualBlock(nn.Module):
    """ResNet's basic block: y = ReLU(F(x) + shortcut(x)) with the residual
    F(x) = BN(conv3x3(ReLU(BN(conv3x3_s(x))))). The network only has to learn the change F to the input;
    with F = 0 the block passes x through, which keeps very deep stacks trainable.

    ``residual=False`` drops the shortcut, y = ReLU(F(x)): the "plain" block of the same depth and width
    that He et al. (2016) compare against.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        self.in_channels, self.use_shortcut = in_channels, residual
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = _shortcut(in_channels, out_channels, stride) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.in_channels)
        f = self.residual(x)  # (B, C_out, H / s, W / s)
        return torch.relu(f + self.shortcut(x)) if self.use_shortcut else torch.relu(f)


class Bottleneck(nn.Module):
    """ResNet's bottleneck block: 1x1 reduces C_in to ``width`` channels, a 3x3 (stride s) works on the thin
    tensor, 1x1 expands to ``expansion * width``; y = ReLU(F(x) + shortcut(x)). The 3x3 costs width^2 9
    weights instead of C^2 9, which is what makes 50+-layer ResNets affordable."""

    def __init__(self, in_channels: int, width: int, stride: int = 1, expansion: int = 4) -> None:
        super().__init__()
        out_channels = width * expansion
        self.in_channels = in_channels
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
        )
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.in_channels)
        return torch.relu(self.residual(x) + self.shortcut(x))  # (B, expansion width, H / s, W / s)


class NonLocalBlock(nn.Module):
    """Non-local block (Wang et al., 2018), embedded-Gaussian version: self-attention over all H W positions,

        y_i = (1 / C(x)) sum_j exp(theta(x_i)^T phi(x_j)) g(x_j),   C(x) = sum_j exp(theta(x_i)^T phi(x_j)),
        z_i = W_z y_i + x_i,

    i.e. y = softmax_j(theta^T phi) g. theta, phi, g are 1x1 convolutions C -> C' and W_z maps C' -> C
    (zero-initialised when ``zero_init`` so the block starts as the identity).
    """

    def __init__(self, channels: int, inter_channels: int | None = None, zero_init: bool = False) -> None:
        super().__init__()
        inner = inter_channels or max(1, channels // 2)
        self.channels = channels
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.W_z = nn.Conv2d(inner, channels, 1)
        if zero_init:
            nn.init.zeros_(self.W_z.weight)
            nn.init.zeros_(self.W_z.bias)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pairwise weights f(x_i, x_j) / C(x), shape (B, H W, H W); rows sum to one."""
        theta = self.theta(x).flatten(2)  # (B, C', N)
        phi = self.phi(x).flatten(2)  # (B, C', N)
        return torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, N, N)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images("x", x, self.channels)
        b, _, h, w = x.shape
        g = self.g(x).flatten(2)  # (B, C', N)
        y = g @ self.attention(x).transpose(1, 2)  # (B, C', N): column i is sum_j a_ij g_j
        return self.W_z(y.view(b, -1, h, w)) + x  # (B, C, H, W)
