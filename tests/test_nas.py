"""DARTS and the MetaQNN-style toy (seqcourse.nn.nas): exact mixtures, searches that must find a known
best choice, and brute-force enumeration of the toy search space."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqcourse.nn import nas


def test_mixed_op_with_one_hot_weights_is_the_chosen_op():
    torch.manual_seed(0)
    edge = nas.MixedOp(3)
    x = torch.randn(2, 3, 10)
    for i, op in enumerate(edge.ops):
        one_hot = F.one_hot(torch.tensor(i), len(edge.ops)).float()
        torch.testing.assert_close(edge(x, one_hot), op(x))
    expected = {
        "zero": torch.zeros_like(x),
        "identity": x,
        "max_pool3": F.max_pool1d(x, 3, 1, 1),
        "avg_pool3": F.avg_pool1d(x, 3, 1, 1, count_include_pad=False),
        "conv3": F.conv1d(x, edge.ops[2].weight, edge.ops[2].bias, padding=1),
    }
    weights = torch.softmax(torch.randn(len(edge.ops)), 0)
    mixture = sum(w * expected[name] for w, name in zip(weights, edge.op_names, strict=True))
    torch.testing.assert_close(edge(x, weights), mixture)


def test_network_mixes_with_softmax_of_alpha_and_splits_parameters():
    torch.manual_seed(1)
    net = nas.DartsNetwork(2, n_edges=2)
    with torch.no_grad():
        net.alpha.normal_()
    x = torch.randn(4, 2, 8)
    h = x
    for edge, a in zip(net.edges, net.alpha, strict=True):
        h = edge(h, torch.softmax(a, 0))
    torch.testing.assert_close(net(x), h)
    assert all(p is not net.alpha for p in net.weight_parameters())
    assert sum(p.numel() for p in net.weight_parameters()) == 2 * (2 * 2 * 3 + 2)  # two conv3 edges
    assert net.derive() == [net.edges[0].op_names[int(i)] for i in net.alpha.argmax(1)]


@pytest.mark.slow
def test_darts_search_finds_the_operation_that_fits_the_task():
    torch.manual_seed(0)
    train, val = nas.local_max_task(256, seed=1), nas.local_max_task(256, seed=2)
    net = nas.DartsNetwork(2)
    result = nas.darts_search(net, train, val, steps=40)
    assert result.architecture == ["max_pool3"]
    final = result.weights_history[-1][0]
    assert final[net.edges[0].op_names.index("max_pool3")] > 0.8
    assert result.val_loss[-1] < 0.1 * result.val_loss[0]
    assert len(result.weights_history) == 40


def test_darts_alternates_alpha_on_val_and_w_on_train():
    """One step with a zero training learning rate must change alpha only; a zero alpha rate, w only."""
    torch.manual_seed(2)
    data = nas.local_max_task(64, seed=3)
    net = nas.DartsNetwork(2)
    w0 = [p.detach().clone() for p in net.weight_parameters()]
    nas.darts_search(net, data, data, steps=1, w_lr=0.0, alpha_lr=0.1)
    assert not torch.equal(net.alpha, torch.zeros_like(net.alpha))
    assert all(torch.equal(a, b) for a, b in zip(w0, net.weight_parameters(), strict=True))
    alpha0 = net.alpha.detach().clone()
    nas.darts_search(net, data, data, steps=1, w_lr=0.1, alpha_lr=0.0)
    assert torch.equal(net.alpha, alpha0)
    assert not all(torch.equal(a, b) for a, b in zip(w0, net.weight_parameters(), strict=True))


def test_alpha_follows_the_validation_data():
    """Train on local maxima but validate on the identity: alpha is fitted to L_val, so identity wins."""
    torch.manual_seed(3)
    train = nas.local_max_task(128, seed=4)
    x_val = nas.local_max_task(128, seed=5)[0]
    net = nas.DartsNetwork(2)
    assert nas.darts_search(net, train, (x_val, x_val), steps=15).architecture == ["identity"]


def test_toy_reward_and_search_space():
    assert len(nas.all_architectures(4)) == 3 + 9 + 27 + 81
    # pool2 then conv5: receptive field 2 + 4 * 2 = 10 = target, two layers
    assert nas.toy_reward(("pool2", "conv5")) == pytest.approx(1 / (1 + 0.2))
    assert nas.toy_reward(("conv3", "conv3")) == pytest.approx(1 / (1 + 5 + 0.2))  # field 5
    assert nas.toy_reward(()) == 0.0


@pytest.mark.parametrize("seed,target", [(0, 10), (1, 10), (2, 7), (3, 14), (4, 14)])
def test_metaqnn_finds_the_brute_force_optimum(seed, target):
    def reward(arch):
        return nas.toy_reward(arch, target_field=target)

    result = nas.metaqnn_search(reward, max_depth=4, seed=seed)
    best = max(nas.all_architectures(4), key=reward)
    assert result.best_reward == pytest.approx(reward(best))
    assert len(result.rewards) == 400
    late, early = result.rewards[-100:], result.rewards[:100]
    assert sum(late) / 100 > sum(early) / 100  # exploitation pays off


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_metaqnn_greedy_policy_picks_the_unique_optimum(seed):
    """Target 10 has one best architecture (pool2, conv5); the learned Q table alone must choose it.
    (With several tied optima, e.g. target 14, 400 episodes do not always settle the greedy policy.)"""
    assert nas.metaqnn_search(seed=seed).greedy == ("pool2", "conv5")


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown operations"):
        nas.MixedOp(2, ["conv7"])
    with pytest.raises(ValueError, match=r"weights must have shape \(5,\)"):
        nas.MixedOp(2)(torch.randn(1, 2, 4), torch.ones(3))
    with pytest.raises(ValueError, match=r"\(B, 2, T\)"):
        nas.DartsNetwork(2)(torch.randn(1, 3, 4))
    with pytest.raises(ValueError, match="3-D"):
        nas.DartsNetwork(2)(torch.randn(2, 4))


def test_image_search_space_ops_keep_the_shape_and_match_their_definitions():
    torch.manual_seed(4)
    edge = nas.MixedOp(3, ops=nas.OPS_2D)
    x = torch.randn(2, 3, 8, 8)
    ops = dict(zip(edge.op_names, edge.ops, strict=True))
    assert set(ops) == {"zero", "identity", "conv3", "sep_conv3", "dil_conv3", "avg_pool3", "max_pool3"}
    expected = {
        "zero": torch.zeros_like(x),
        "identity": x,
        "conv3": F.conv2d(torch.relu(x), ops["conv3"][1].weight, ops["conv3"][1].bias, padding=1),
        "dil_conv3": F.conv2d(torch.relu(x), ops["dil_conv3"][1].weight, ops["dil_conv3"][1].bias,
                              padding=2, dilation=2),
        "sep_conv3": ops["sep_conv3"][1](torch.relu(x)),
        "avg_pool3": F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
        "max_pool3": F.max_pool2d(x, 3, 1, 1),
    }
    for name, op in ops.items():
        torch.testing.assert_close(op(x), expected[name])
    weights = torch.softmax(torch.randn(len(ops)), 0)
    mixture = sum(w * expected[name] for w, name in zip(weights, edge.op_names, strict=True))
    torch.testing.assert_close(edge(x, weights), mixture)


def test_darts_classifier_is_stem_edges_head():
    torch.manual_seed(5)
    net = nas.DartsClassifier(channels=4, n_edges=2, op_names=["identity", "max_pool3", "conv3"])
    with torch.no_grad():
        net.alpha.normal_()
    x = torch.randn(3, 1, 8, 8)
    h = net.stem(x)
    for edge, a in zip(net.edges, net.alpha, strict=True):
        h = edge(h, torch.softmax(a, 0))
    torch.testing.assert_close(net(x), net.head(h.flatten(1)))
    assert net(x).shape == (3, 10)
    assert {id(p) for p in net.weight_parameters()} >= {id(net.stem.weight), id(net.head.weight)}
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\)"):
        net(torch.randn(3, 1, 9, 9))


def test_first_order_darts_step_uses_the_validation_gradient_at_the_current_w():
    """One step: alpha moves by Adam's first step, alpha_lr * g / (|g| + eps) with g = dL_val/dalpha at w_0
    (first order: w is not unrolled); then w takes an SGD step on L_train at the *new* alpha."""
    torch.manual_seed(6)
    net = nas.DartsClassifier(channels=2, n_edges=2, op_names=["identity", "conv3", "avg_pool3"])
    x_tr, y_tr = torch.randn(1, 1, 8, 8), torch.tensor([3])
    x_val, y_val = torch.randn(1, 1, 8, 8), torch.tensor([7])  # one sample each: every batch is that sample
    alpha0 = net.alpha.detach().clone()
    (g_alpha,) = torch.autograd.grad(F.cross_entropy(net(x_val), y_val), net.alpha)
    expected_alpha = alpha0 - 0.1 * g_alpha / (g_alpha.abs() + 1e-8)
    with torch.no_grad():
        net.alpha.copy_(expected_alpha)
    g_w = torch.autograd.grad(F.cross_entropy(net(x_tr), y_tr), net.weight_parameters())
    expected_w = [p.detach() - 0.05 * g for p, g in zip(net.weight_parameters(), g_w, strict=True)]
    with torch.no_grad():
        net.alpha.copy_(alpha0)
    nas.darts_search(net, (x_tr, y_tr), (x_val, y_val), steps=1, batch_size=4, w_lr=0.05, alpha_lr=0.1,
                     loss=F.cross_entropy)
    torch.testing.assert_close(net.alpha.detach(), expected_alpha)
    for p, e in zip(net.weight_parameters(), expected_w, strict=True):
        torch.testing.assert_close(p.detach(), e)
