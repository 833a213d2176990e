"""Convolution counts in seqcourse.count against brute force: real layers' shapes and parameters, explicit
enumeration of connections, and autograd for receptive fields."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqcourse import count


def test_output_size_matches_torch_over_a_grid():
    for size, k, s, p, d in itertools.product(range(3, 10), [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2]):
        if size + 2 * p < d * (k - 1) + 1:
            with pytest.raises(ValueError, match="exceeds the padded input"):
                count.conv2d_output_size(size, k, s, p, d)
            continue
        out = F.conv2d(torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p, 0),
                       dilation=(d, 1))
        assert count.conv2d_output_size(size, k, s, p, d) == out.shape[2], (size, k, s, p, d)


def test_lecture_001_formula_is_wrong_for_stride_two():
    c, c_f, p, s = 7, 3, 0, 2
    assert (c - c_f + 1 + 2 * p) / s == 2.5  # lecture 001's formula
    real = F.conv2d(torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 3, 3), stride=2)
    assert count.conv2d_output_size(c, c_f, s, p) == 3 == real.shape[-1]


def test_conv_layer_params_matches_torch():
    for c_in, c_out, k, bias, g in itertools.product([2, 4, 6], [2, 6, 12], [1, 3, 5], [True, False], [1, 2]):
        layer = nn.Conv2d(c_in, c_out, k, bias=bias, groups=g)
        assert count.conv_layer_params(c_in, c_out, k, bias, g) == sum(p.numel() for p in layer.parameters())
    assert count.conv_layer_params(4, 7, 3, bias=False) == 9 * 4 * 7  # lecture 004's second layer
    with pytest.raises(ValueError, match="groups=4 must divide"):
        count.conv_layer_params(6, 8, 3, groups=4)


def _enumerate_connections(image: int, kernel: int) -> tuple[int, int, int]:
    """Brute force over output units: (dense weights, local weights, distinct shared weights).

    Every (output unit, input pixel) link gets a weight name; dense and local layers name each link apart,
    a shared kernel names a link by its offset inside the window only."""
    out = image - kernel + 1
    pixels = list(itertools.product(range(image), repeat=2))
    dense, local, shared = set(), set(), set()
    for i, j in itertools.product(range(out), repeat=2):
        dense.update((i, j, p) for p in pixels)
        patch = [(i + u, j + v) for u, v in itertools.product(range(kernel), repeat=2)]
        local.update((i, j, p) for p in patch)
        shared.update((pi - i, pj - j) for pi, pj in patch)
    return len(dense), len(local), len(shared)


def test_lecture_004_weight_counts():
    out = count.conv2d_output_size(200, 5)
    assert out == 196 == F.conv2d(torch.zeros(1, 1, 200, 200), torch.zeros(1, 1, 5, 5)).shape[-1]
    assert count.fully_connected_weights(200 * 200, out * out) == 200 * 200 * 196 * 196
    assert count.locally_connected_weights(5, out * out) == 25 * 196 * 196
    assert count.shared_weights(5) == 25
    assert count.shared_weights(5, n_kernels=4) == 100
    for image, k in [(12, 5), (9, 3)]:  # the same counting on small images, link by link
        o = count.conv2d_output_size(image, k)
        assert _enumerate_connections(image, k) == (count.fully_connected_weights(image * image, o * o),
                                                    count.locally_connected_weights(k, o * o),
                                                    count.shared_weights(k))
    assert count.fully_connected_weights(200 * 200, 1000) == 40_000_000  # the 4-万 x 1000 example


def test_lecture_004_layer_shapes_through_real_layers():
    x = torch.zeros(1, 1, 200, 200)
    h = nn.Conv2d(1, 4, 5)(x)
    assert h.shape == (1, 4, 196, 196)
    h = F.max_pool2d(h, 2)
    assert h.shape == (1, 4, 98, 98)
    second = nn.Conv2d(4, 7, 3, bias=False)
    h = second(h)
    assert h.shape == (1, 7, 96, 96)
    assert F.avg_pool2d(h, 2).shape == (1, 7, 48, 48)
    assert sum(p.numel() for p in second.parameters()) == count.conv_layer_params(4, 7, 3, bias=False)
    assert count.fully_connected_weights(4 * 98 * 98, 4 * 96 * 96) == (4 * 98 * 98) * (4 * 96 * 96)


def _autograd_receptive_field(kernels, strides, dilations) -> int:
    """Width of the input region that influences the first output unit of a 1-D stack of convolutions."""
    span = sum(d * (k - 1) for k, d in zip(kernels, dilations, strict=True))
    size = 1 + span * 8 * max(strides) ** len(kernels)
    x = torch.zeros(1, 1, size, requires_grad=True)
    h = x
    for k, s, d in zip(kernels, strides, dilations, strict=True):
        h = F.conv1d(h, torch.ones(1, 1, k), stride=s, dilation=d)
    h[0, 0, 0].backward()
    touched = torch.nonzero(x.grad[0, 0]).flatten()
    return int(touched.max() - touched.min() + 1)


@pytest.mark.parametrize("kernels,strides,dilations", [
    ([3, 3], [1, 1], [1, 1]),
    ([3, 3, 3], [1, 1, 1], [1, 1, 1]),
    ([3], [1], [2]),
    ([3, 3, 3], [1, 1, 1], [1, 2, 4]),
    ([5, 2, 3, 2], [1, 2, 1, 2], [1, 1, 1, 1]),
    ([7, 3, 3], [2, 2, 1], [1, 1, 2]),
])
def test_receptive_field_matches_autograd(kernels, strides, dilations):
    expected = _autograd_receptive_field(kernels, strides, dilations)
    assert count.receptive_field(kernels, strides, dilations) == expected


def test_receptive_field_defaults_and_errors():
    assert count.receptive_field([3, 3]) == 5 and count.receptive_field([3, 3, 3]) == 7
    with pytest.raises(ValueError, match="equal lengths"):
        count.receptive_field([3, 3], strides=[1])
    with pytest.raises(ValueError, match="kernel must be a positive int"):
        count.receptive_field([0])


def _counted_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of module(x) as PyTorch's own FLOP counter sees them (it counts 2 per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("c_in,c_out,k,size,stride,groups", [
    (8, 16, 3, 12, 1, 1), (8, 16, 3, 12, 2, 4), (6, 6, 5, 9, 1, 6), (4, 12, 1, 7, 1, 2), (3, 5, 3, 10, 3, 1),
])
def test_conv_macs_match_torch_flop_counter(c_in, c_out, k, size, stride, groups):
    layer = nn.Conv2d(c_in, c_out, k, stride, groups=groups, bias=False)
    x = torch.zeros(1, c_in, size, size)
    out = count.conv2d_output_size(size, k, stride)
    assert count.conv2d_macs(c_in, c_out, k, out, out, groups) == _counted_macs(layer, x)


def test_depthwise_separable_macs_match_torch_flop_counter_and_ratio():
    c_in, c_out, k, size = 16, 32, 3, 10
    block = nn.Sequential(nn.Conv2d(c_in, c_in, k, padding=1, groups=c_in, bias=False),
                          nn.Conv2d(c_in, c_out, 1, bias=False))
    macs = count.depthwise_separable_macs(c_in, c_out, k, size, size)
    assert macs == _counted_macs(block, torch.zeros(1, c_in, size, size))
    full = count.conv2d_macs(c_in, c_out, k, size, size)
    assert macs / full == pytest.approx(1 / c_out + 1 / k**2)
