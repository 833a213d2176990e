"""NumPy convolution and pooling (seqcourse.scratch.conv / pool) against PyTorch and SciPy oracles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import convolve2d, correlate2d

from seqcourse.scratch import conv, pool


def _sweep(seed: int = 0, count: int = 40):
    """Seeded random combinations of (N, groups, C_in/g, C_out/g, H, W, k, stride, padding, dilation)."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        groups = int(rng.choice([1, 1, 2, 3]))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 2)))
        dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        h, w = int(rng.integers(3, 9)), int(rng.integers(3, 9))
        if h + 2 * padding[0] < dilation[0] * (kh - 1) + 1 or w + 2 * padding[1] < dilation[1] * (kw - 1) + 1:
            continue
        cases.append((int(rng.integers(1, 3)), groups, int(rng.integers(1, 3)), int(rng.integers(1, 3)),
                      h, w, (kh, kw), stride, padding, dilation))
    return cases


def _random_conv(case, rng):
    n, groups, cig, cog, h, w, k, stride, padding, dilation = case
    x = rng.standard_normal((n, cig * groups, h, w))
    weight = rng.standard_normal((cog * groups, cig, *k))
    b = rng.standard_normal(cog * groups)
    return x, weight, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("form", [conv.conv2d, conv.conv2d_loops])
def test_conv2d_matches_torch_over_random_sweep(form):
    rng = np.random.default_rng(1)
    cases = _sweep(count=40 if form is conv.conv2d else 15)
    assert {c[1] for c in cases} >= {1, 2, 3}  # the sweep really covers groups
    for case in cases:
        x, w, b, kw = _random_conv(case, rng)
        expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **kw).numpy()
        got = form(x, w, b, **kw)
        assert got.shape == expected.shape, case
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, err_msg=str(case))


def test_conv2d_grid_of_stride_padding_dilation_without_bias():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    for s, p, d in itertools.product([1, 2, 3], [0, 1, 2], [1, 2]):
        expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, s, p, d, 2).numpy()
        np.testing.assert_allclose(conv.conv2d(x, w, None, s, p, d, 2), expected, atol=1e-10)


def test_lecture_worked_example_loops_equal_scipy_and_hand_values():
    image, k = conv.lecture_image(), conv.sobel_kernel()
    y = conv.conv2d_loops(image[None, None], k[None, None])[0, 0]
    assert y.shape == (7, 7)
    np.testing.assert_allclose(y, correlate2d(image, k, mode="valid"))
    # the four values the lecture works out by hand: the first three and the bottom-right corner
    assert (y[0, 0], y[0, 1], y[0, 2], y[6, 6]) == (0, 8, 8, 6)
    # padding 1 keeps the 9x9 size; scipy's 'same' mode pads with zeros too
    same = conv.filter2d(image, k, padding=1)
    np.testing.assert_allclose(same, correlate2d(image, k, mode="same"))
    # the kernel is not flipped: true convolution differs for this asymmetric kernel
    assert not np.allclose(y, convolve2d(image, k, mode="valid"))


def test_classic_kernels():
    rng = np.random.default_rng(3)
    image = rng.standard_normal((6, 7))
    np.testing.assert_allclose(conv.filter2d(image, conv.box_kernel(3)),
                               correlate2d(image, np.ones((3, 3)), mode="valid") / 9)
    np.testing.assert_allclose(conv.filter2d(np.full((5, 5), 4.2), conv.laplacian_kernel()), 0, atol=1e-12)
    ramp = np.add.outer(np.arange(6.0), np.arange(6.0))  # linear image: the Laplacian is zero there too
    np.testing.assert_allclose(conv.filter2d(ramp, conv.laplacian_kernel()), 0, atol=1e-12)
    assert conv.box_kernel(5).sum() == pytest.approx(1.0)


def test_conv2d_backward_matches_autograd():
    rng = np.random.default_rng(4)
    for case in _sweep(seed=5, count=25):
        x, w, b, kw = _random_conv(case, rng)
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv2d(xt, wt, bt, **kw)
        dy = rng.standard_normal(tuple(y.shape))
        y.backward(torch.from_numpy(dy))
        dx, dw, db = conv.conv2d_backward(dy, x, w, **kw)
        np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-10, err_msg=str(case))
        np.testing.assert_allclose(dw, wt.grad.numpy(), atol=1e-10, err_msg=str(case))
        np.testing.assert_allclose(db, bt.grad.numpy(), atol=1e-10, err_msg=str(case))


def test_shared_kernel_gradient_is_sum_over_positions():
    """Weight sharing: dL/dw of one 1-channel kernel = sum over positions of dy[i, j] * window(i, j)."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((1, 1, 5, 5)), rng.standard_normal((1, 1, 3, 3))
    dy = rng.standard_normal((1, 1, 3, 3))
    expected = sum(dy[0, 0, i, j] * x[0, 0, i : i + 3, j : j + 3] for i in range(3) for j in range(3))
    np.testing.assert_allclose(conv.conv2d_backward(dy, x, w)[1][0, 0], expected)


def test_im2col_col2im_are_adjoint():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6, 5))
    cols = conv.im2col(x, (2, 3), stride=(2, 1), padding=1, dilation=(1, 2))
    c = rng.standard_normal(cols.shape)
    back = conv.col2im(c, x.shape, stride=(2, 1), padding=1, dilation=(1, 2))
    assert np.sum(cols * c) == pytest.approx(np.sum(x * back))  # <A x, c> = <x, A^T c>


@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)), (3, 1, 0)])
def test_pooling_forward_and_backward_match_torch(k, s, p):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 7, 8))
    for ours, ours_back, theirs in [
        (pool.max_pool2d, pool.max_pool2d_backward, F.max_pool2d),
        (pool.avg_pool2d, pool.avg_pool2d_backward, F.avg_pool2d),
    ]:
        xt = torch.tensor(x, requires_grad=True)
        y = theirs(xt, k, s, p)
        np.testing.assert_allclose(ours(x, k, s, p), y.detach().numpy(), atol=1e-12)
        dy = rng.standard_normal(tuple(y.shape))
        y.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(ours_back(dy, x, k, s, p), xt.grad.numpy(), atol=1e-12)


def test_pooling_backward_routes_and_spreads():
    x = np.array([[[[1.0, 5.0], [3.0, 2.0]]]])
    dy = np.array([[[[7.0]]]])
    np.testing.assert_array_equal(pool.max_pool2d_backward(dy, x, 2)[0, 0], [[0, 7], [0, 0]])
    np.testing.assert_array_equal(pool.avg_pool2d_backward(dy, x, 2)[0, 0], np.full((2, 2), 7 / 4))
    assert pool.max_pool2d(np.zeros((1, 4, 196, 196)), 2).shape == (1, 4, 98, 98)  # the lecture's sizes


def test_bad_inputs_raise_clear_errors():
    x, w = np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3))
    with pytest.raises(ValueError, match="channel mismatch"):
        conv.conv2d(x, w)
    with pytest.raises(ValueError, match="groups=2 must divide"):
        conv.conv2d(x, np.zeros((4, 1, 3, 3)), groups=2)
    with pytest.raises(ValueError, match="height.*exceeds the padded input"):
        conv.conv2d(np.zeros((1, 1, 2, 9)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="exceeds"):
        conv.conv2d_loops(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), dilation=2)
    with pytest.raises(ValueError, match="4-D"):
        conv.conv2d(np.zeros((3, 5, 5)), np.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(4,\)"):
        conv.conv2d(np.zeros((1, 2, 5, 5)), w, b=np.zeros(3))
    with pytest.raises(ValueError, match="dy must have"):
        conv.conv2d_backward(np.zeros((1, 4, 2, 2)), np.zeros((1, 2, 5, 5)), w)
    with pytest.raises(TypeError, match="stride"):
        conv.conv2d(np.zeros((1, 2, 5, 5)), w, stride=1.5)
    with pytest.raises(TypeError, match="real numbers"):
        conv.conv2d(np.zeros((1, 2, 5, 5), dtype=complex), w)
    with pytest.raises(ValueError, match="padding"):
        pool.max_pool2d(np.zeros((1, 1, 4, 4)), 2, padding=2)
