"""Helpers added for the chapters 循环网络的训练 and 语言模型: Jacobian norms and two widget demos."""

import math

import pytest
import torch

from seqcourse.nn.elman import ElmanRNN, state_jacobian_norms


def _net(activation: str, rho: float, n: int = 6, seed: int = 0) -> tuple[ElmanRNN, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    net = ElmanRNN(2, n, 1, activation=activation).double()
    Q = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))[0]
    with torch.no_grad():
        net.W.copy_(rho * Q)
    return net, Q


@pytest.mark.parametrize("rho", [0.7, 1.0, 1.3])
def test_linear_network_norms_follow_the_closed_form(rho):
    net, _ = _net("identity", rho)
    x = torch.randn(1, 12, 2, dtype=torch.float64)
    norms = state_jacobian_norms(net, x)
    t = torch.arange(1, 13, dtype=torch.float64)
    torch.testing.assert_close(norms, rho**t * math.sqrt(6))  # ||(ρQ)^t||_F = ρ^t sqrt(n)


def test_tanh_network_norms_match_the_full_autograd_jacobian():
    net, _ = _net("tanh", 1.2)
    x = torch.randn(7, 2, dtype=torch.float64)  # unbatched form (T, n_in)
    h0 = 0.3 * torch.randn(6, dtype=torch.float64)
    norms = state_jacobian_norms(net, x, h0)
    jac = torch.autograd.functional.jacobian(lambda h: net(x[None], h[None])[1][0], h0)  # (T, n, n)
    torch.testing.assert_close(norms, jac.flatten(1).norm(dim=1))


def test_state_jacobian_norms_rejects_a_batch_and_wrong_sizes():
    net, _ = _net("tanh", 1.0)
    with pytest.raises(ValueError, match="one sequence"):
        state_jacobian_norms(net, torch.zeros(2, 5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="h0"):
        state_jacobian_norms(net, torch.zeros(5, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    with pytest.raises(TypeError):
        state_jacobian_norms(torch.nn.Linear(2, 2), torch.zeros(5, 2))
