"""CNN operations (seqcourse.nn.cnn, cnn_blocks) against torch built-ins and explicit formulas."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.count import conv_layer_params
from seqcourse.nn import cnn, cnn_blocks


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(old)


# TABLE I of LeCun et al. (1998) as printed: rows are S2 maps 0-5, columns C3 maps 0-15.
PAPER_TABLE_I = [
    "X...XXX..XXXX.XX",
    "XX...XXX..XXXX.X",
    "XXX...XXX..X.XXX",
    ".XXX..XXXX..X.XX",
    "..XXX..XXXX.XX.X",
    "...XXX..XXXX.XXX",
]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_c3_mask_matches_table_one_and_parameter_count():
    expected = torch.tensor([[ch == "X" for ch in row] for row in PAPER_TABLE_I])  # (6, 16)
    assert torch.equal(cnn.c3_connection_mask(), expected.T)
    assert int(expected.sum()) == 60
    c3 = cnn.LeNet5().c3
    assert n_params(c3) == 1516  # the paper's count
    assert n_params(c3) == sum(conv_layer_params(len(inputs), 1, 5) for inputs in cnn.C3_TABLE)


def test_masked_conv_is_sum_over_connected_maps():
    mask = cnn.c3_connection_mask()
    layer = cnn.MaskedConv2d(mask, 5)
    x = torch.randn(2, 6, 14, 14)
    y = layer(x)
    w = layer.full_weight()
    for j, inputs in enumerate(cnn.C3_TABLE):
        expected = layer.bias[j] + sum(F.conv2d(x[:, i : i + 1], w[j : j + 1, i : i + 1]) for i in inputs)
        torch.testing.assert_close(y[:, j : j + 1], expected)
        unconnected = [i for i in range(6) if i not in inputs]
        assert torch.all(w[j, unconnected] == 0)
    # changing an unconnected input map does not change the output map
    x2 = x.clone()
    x2[:, 5] += 1.0
    torch.testing.assert_close(layer(x2)[:, 0], y[:, 0])  # C3 map 0 reads S2 maps 0, 1, 2 only


def test_lenet5_shapes_and_parameter_counts():
    model = cnn.LeNet5()
    assert model(torch.randn(3, 1, 32, 32)).shape == (3, 10)
    assert n_params(model.c1) == conv_layer_params(1, 6, 5) == 156
    assert n_params(model.s2) == 12 and n_params(model.s4) == 32
    assert n_params(model.c5) == conv_layer_params(16, 120, 5) == 48120
    assert n_params(model.f6) == 120 * 84 + 84 == 10164
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32\)"):
        model(torch.randn(3, 1, 28, 28))


def test_masked_conv_gradient_equals_full_conv_gradient_on_connections():
    layer = cnn.MaskedConv2d(cnn.c3_connection_mask(), 3)
    x = torch.randn(2, 6, 6, 6)
    w_full = layer.full_weight().detach().requires_grad_()
    dy = torch.randn(2, 16, 4, 4)
    (layer(x) * dy).sum().backward()
    (F.conv2d(x, w_full, layer.bias.detach()) * dy).sum().backward()
    torch.testing.assert_close(layer.weight.grad, w_full.grad[layer.mask])


@pytest.mark.parametrize("groups,stride,padding", [(1, 1, 0), (2, 2, 1), (3, 1, 1), (6, 2, 0)])
def test_group_conv_equals_torch_groups(groups, stride, padding):
    layer = cnn.GroupConv2d(6, 12, 3, groups, stride, padding)
    ref = nn.Conv2d(6, 12, 3, stride, padding, groups=groups)
    with torch.no_grad():
        ref.weight.copy_(torch.cat([c.weight for c in layer.convs]))
        ref.bias.copy_(torch.cat([c.bias for c in layer.convs]))
    x = torch.randn(2, 6, 7, 8)
    torch.testing.assert_close(layer(x), ref(x))
    assert n_params(layer) == n_params(ref) == conv_layer_params(6, 12, 3, groups=groups)


def test_depthwise_separable_equals_factorised_full_conv():
    layer = cnn.DepthwiseSeparableConv2d(4, 5, 3, stride=2, padding=1)
    d, db = layer.depthwise.weight[:, 0], layer.depthwise.bias  # (C_in, k, k), (C_in,)
    p, pb = layer.pointwise.weight[:, :, 0, 0], layer.pointwise.bias  # (C_out, C_in), (C_out,)
    w_full = p[:, :, None, None] * d[None]  # w[o, c] = p[o, c] d[c]
    b_full = pb + p @ db
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(layer(x), F.conv2d(x, w_full, b_full, stride=2, padding=1))
    per_channel = [F.conv2d(x[:, c : c + 1], d[c][None, None], db[c : c + 1], 2, 1) for c in range(4)]
    depthwise_ref = torch.cat(per_channel, dim=1)
    torch.testing.assert_close(layer.depthwise(x), depthwise_ref)
    assert n_params(layer) == conv_layer_params(4, 4, 3, groups=4) + conv_layer_params(4, 5, 1)


def test_channel_shuffle_is_the_transpose_permutation():
    b, c, g = 2, 12, 3
    x = torch.randn(b, c, 2, 3)
    y = cnn.channel_shuffle(x, g)
    per_group = c // g
    for i, j in itertools.product(range(g), range(per_group)):
        torch.testing.assert_close(y[:, j * g + i], x[:, i * per_group + j])
    torch.testing.assert_close(cnn.channel_shuffle(y, per_group), x)  # shuffling back with C/g groups
    # after shuffling, each consecutive block of g channels holds one channel from every original group
    source_groups = torch.arange(c).view(1, c, 1, 1).float()
    shuffled = cnn.ChannelShuffle(g)(source_groups.expand(1, c, 1, 1)).flatten() // per_group
    assert all(set(shuffled[k : k + g].tolist()) == set(range(g)) for k in range(0, c, g))
    with pytest.raises(ValueError, match="divide"):
        cnn.channel_shuffle(x, 5)


def test_squeeze_excitation_scales_by_explicit_gate():
    se = cnn.SqueezeExcitation(8, reduction=4)
    x = torch.randn(3, 8, 5, 6)
    z = x.mean((2, 3))
    s = torch.sigmoid(torch.relu(z @ se.fc1.weight.T + se.fc1.bias) @ se.fc2.weight.T + se.fc2.bias)
    torch.testing.assert_close(se(x), x * s[:, :, None, None])
    assert se.fc1.weight.shape == (2, 8)


def test_dilated_conv_equals_conv_with_holes():
    layer = cnn.dilated_conv3x3(2, 3, dilation=2)
    w5 = torch.zeros(3, 2, 5, 5)
    w5[:, :, ::2, ::2] = layer.weight.detach()  # a 5x5 kernel that is zero between the taps
    x = torch.randn(1, 2, 9, 9)
    torch.testing.assert_close(layer(x), F.conv2d(x, w5, layer.bias, padding=2))
    assert layer(x).shape == x.shape[:1] + (3,) + x.shape[2:]


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (2, 0, 2)])
def test_deformable_with_zero_offsets_is_ordinary_conv(stride, padding, dilation):
    x = torch.randn(2, 3, 8, 7)
    w, b = torch.randn(4, 3, 3, 3), torch.randn(4)
    expected = F.conv2d(x, w, b, stride, padding, dilation)
    offset = torch.zeros(2, 18, *expected.shape[-2:])
    torch.testing.assert_close(cnn_blocks.deform_conv2d(x, offset, w, b, stride, padding, dilation), expected)
    module = cnn_blocks.DeformableConv2d(3, 4, 3, stride, padding, dilation)
    torch.testing.assert_close(module(x), F.conv2d(x, module.weight, module.bias, stride, padding, dilation))


def test_deformable_integer_offset_is_a_shift_and_gradients_are_right():
    x = torch.randn(1, 2, 6, 6)
    w = torch.randn(3, 2, 3, 3)
    offset = torch.zeros(1, 18, 4, 4)
    offset[:, 1::2] = 1.0  # every tap reads one pixel to the right
    shifted = F.pad(x[..., 1:], (0, 1))  # x(p + (0, 1)), zero beyond the border
    torch.testing.assert_close(cnn_blocks.deform_conv2d(x, offset, w), F.conv2d(shifted, w))
    xs = torch.randn(1, 1, 4, 4, requires_grad=True)
    ws = torch.randn(2, 1, 2, 2, requires_grad=True)
    frac = (0.3 + 0.4 * torch.rand(1, 8, 3, 3)).requires_grad_()  # away from integer kinks
    assert torch.autograd.gradcheck(lambda a, b, c: cnn_blocks.deform_conv2d(a, c, b), (xs, ws, frac))


def test_inception_branches_and_parameters():
    block = cnn_blocks.InceptionModule(8, 4, 3, 6, 2, 5, 3)
    x = torch.randn(2, 8, 7, 7)
    y = block(x)
    assert y.shape == (2, 4 + 6 + 5 + 3, 7, 7)
    conv1 = block.branch1[0]
    torch.testing.assert_close(y[:, :4], torch.relu(F.conv2d(x, conv1.weight, conv1.bias)))
    proj = block.branch_pool[1][0]
    pooled = F.max_pool2d(x, 3, 1, 1)
    torch.testing.assert_close(y[:, -3:], torch.relu(F.conv2d(pooled, proj.weight, proj.bias)))
    expected = (conv_layer_params(8, 4, 1) + conv_layer_params(8, 3, 1) + conv_layer_params(3, 6, 3)
                + conv_layer_params(8, 2, 1) + conv_layer_params(2, 5, 5) + conv_layer_params(8, 3, 1))
    assert n_params(block) == expected


def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def test_residual_block_explicit_formula_and_identity_at_zero_gamma():
    block = cnn_blocks.ResidualBlock(4, 4)
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.uniform_(0.5, 2)
    block.eval()
    x = torch.randn(2, 4, 6, 6)
    c1, b1, _, c2, b2 = block.residual
    f = _bn(F.conv2d(torch.relu(_bn(F.conv2d(x, c1.weight, padding=1), b1)), c2.weight, padding=1), b2)
    torch.testing.assert_close(block(x), torch.relu(f + x))
    with torch.no_grad():
        b2.weight.zero_(), b2.bias.zero_()
    torch.testing.assert_close(block(x), torch.relu(x))  # F = 0: the block passes x through


def test_projection_and_bottleneck_shapes_and_counts():
    down = cnn_blocks.ResidualBlock(4, 8, stride=2).eval()
    x = torch.randn(2, 4, 8, 8)
    assert down(x).shape == (2, 8, 4, 4)
    with torch.no_grad():
        down.residual[4].weight.zero_()
    torch.testing.assert_close(down(x), torch.relu(down.shortcut(x)))
    neck = cnn_blocks.Bottleneck(256, 64)
    bn = 2 * (64 + 64 + 256)
    expected = (conv_layer_params(256, 64, 1, bias=False) + conv_layer_params(64, 64, 3, bias=False)
                + conv_layer_params(64, 256, 1, bias=False) + bn)
    assert n_params(neck) == expected == 70400
    assert isinstance(neck.shortcut, nn.Identity)
    assert cnn_blocks.Bottleneck(8, 4, stride=2)(torch.randn(1, 8, 6, 6)).shape == (1, 16, 3, 3)


def test_non_local_block_matches_loop_formula():
    block = cnn_blocks.NonLocalBlock(4, inter_channels=3)
    x = torch.randn(2, 4, 3, 2)
    z = block(x)

    def conv1x1(layer, v):  # v (C,) at one position
        return layer.weight[:, :, 0, 0] @ v + layer.bias

    for b in range(2):
        pos = [x[b, :, i, j] for i in range(3) for j in range(2)]
        for n, xi in enumerate(pos):
            f = [torch.exp(conv1x1(block.theta, xi) @ conv1x1(block.phi, xj)) for xj in pos]
            y = sum(fj * conv1x1(block.g, xj) for fj, xj in zip(f, pos, strict=True)) / sum(f)
            torch.testing.assert_close(z[b, :, n // 2, n % 2], conv1x1(block.W_z, y) + xi)
    identity = cnn_blocks.NonLocalBlock(4, zero_init=True)
    torch.testing.assert_close(identity(x), x)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"shape \(B, 8, H, W\)"):
        cnn.SqueezeExcitation(8)(torch.randn(1, 4, 3, 3))
    with pytest.raises(ValueError, match="4-D"):
        cnn_blocks.NonLocalBlock(4)(torch.randn(4, 3, 3))
    with pytest.raises(ValueError, match="groups=4 must divide"):
        cnn.GroupConv2d(6, 8, 3, 4)
    with pytest.raises(ValueError, match="offset must have shape"):
        cnn_blocks.deform_conv2d(torch.randn(1, 2, 5, 5), torch.zeros(1, 18, 5, 5), torch.randn(1, 2, 3, 3))
    with pytest.raises(ValueError, match="exceeds the padded input"):
        cnn_blocks.deform_conv2d(torch.randn(1, 2, 2, 2), torch.zeros(1, 18, 1, 1), torch.randn(1, 2, 3, 3))
    with pytest.raises(ValueError, match="channel mismatch"):
        cnn_blocks.deform_conv2d(torch.randn(1, 3, 5, 5), torch.zeros(1, 18, 3, 3), torch.randn(1, 2, 3, 3))


def test_subsampling_is_coefficient_times_block_sum_plus_bias():
    s = cnn.Subsampling(3)
    with torch.no_grad():
        s.coefficient.copy_(torch.tensor([0.5, -1.0, 2.0])), s.bias.copy_(torch.tensor([0.1, 0.0, -0.3]))
    x = torch.randn(2, 3, 6, 4)
    y = s(x)
    assert y.shape == (2, 3, 3, 2)
    for n, c, i, j in itertools.product(range(2), range(3), range(3), range(2)):
        block = sum(x[n, c, 2 * i + u, 2 * j + v] for u in (0, 1) for v in (0, 1))
        torch.testing.assert_close(y[n, c, i, j], s.coefficient[c] * block + s.bias[c])


def test_lenet5_forward_equals_the_paper_written_out():
    """C1 -> S2 -> C3 (TABLE I) -> S4 -> C5 -> F6 -> output, each stage from its own formula."""
    model = cnn.LeNet5()
    with torch.no_grad():
        for sub in (model.s2, model.s4):
            sub.coefficient.uniform_(0.1, 0.5), sub.bias.uniform_(-0.2, 0.2)
    x = torch.randn(2, 1, 32, 32)

    def squash(a):
        return 1.7159 * torch.tanh(2 * a / 3)

    def subsample(h, sub):  # a_c * (sum of each 2x2 block) + b_c
        block_sum = h[..., ::2, ::2] + h[..., 1::2, ::2] + h[..., ::2, 1::2] + h[..., 1::2, 1::2]
        return sub.coefficient[:, None, None] * block_sum + sub.bias[:, None, None]

    h = squash(subsample(F.conv2d(x, model.c1.weight, model.c1.bias), model.s2))  # (2, 6, 14, 14)
    w = model.c3.full_weight()
    c3 = torch.stack([model.c3.bias[j] + sum(F.conv2d(h[:, i : i + 1], w[j : j + 1, i : i + 1])[:, 0]
                                              for i in cnn.C3_TABLE[j]) for j in range(16)], dim=1)
    h = squash(subsample(c3, model.s4))  # (2, 16, 5, 5)
    h = squash(F.conv2d(h, model.c5.weight, model.c5.bias).flatten(1))  # (2, 120)
    h = squash(h @ model.f6.weight.T + model.f6.bias)  # (2, 84)
    torch.testing.assert_close(model(x), h @ model.output.weight.T + model.output.bias)


def test_c3_output_maps_depend_exactly_on_their_table_inputs():
    """Jacobian connectivity: C3 map j has a non-zero gradient w.r.t. S2 map i iff the paper's TABLE I (as
    printed, not the package's copy) connects them."""
    layer = cnn.LeNet5().c3
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    y = layer(x)  # (1, 16, 10, 10)
    depends = torch.zeros(16, 6, dtype=torch.bool)
    for j in range(16):
        (grad,) = torch.autograd.grad(y[0, j].sum(), x, retain_graph=True)
        depends[j] = grad[0].abs().sum(dim=(1, 2)) > 0
    assert torch.equal(depends, torch.tensor([[ch == "X" for ch in row] for row in PAPER_TABLE_I]).T)


def test_plain_block_is_the_residual_block_without_its_shortcut():
    block = cnn_blocks.ResidualBlock(4, 4, residual=False).eval()
    assert block.shortcut is None
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(block(x), torch.relu(block.residual(x)))
    with_shortcut = cnn_blocks.ResidualBlock(4, 4).eval()
    with_shortcut.residual.load_state_dict(block.residual.state_dict())
    torch.testing.assert_close(with_shortcut(x), torch.relu(block.residual(x) + x))
