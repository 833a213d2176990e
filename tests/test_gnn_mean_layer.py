"""gnn.MeanMessagePassing, the lecture layer H' = sigma((I + D^{-1} A) H W) as a module with a learnable W,
against an explicit per-node oracle (h'_i = sigma(h_i W + mean_{j in N(i)} h_j W)) and autograd in float64."""

import pytest
import torch

from seqcourse.nn import gnn

D = torch.float64


def _graph() -> tuple[torch.Tensor, torch.Tensor]:
    """A path 0-1-2, a triangle-free star around 3 (neighbours 1, 4, 5) and an isolated node 6."""
    A = torch.zeros(7, 7, dtype=D)
    for i, j in [(0, 1), (1, 2), (1, 3), (3, 4), (3, 5)]:
        A[i, j] = A[j, i] = 1.0
    H = torch.randn(7, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    return A, H


def _oracle(A: torch.Tensor, H: torch.Tensor, W: torch.Tensor, activation) -> torch.Tensor:
    rows = []
    for i in range(A.shape[0]):
        neighbours = [j for j in range(A.shape[0]) if A[i, j] != 0]
        m_i = (
            torch.stack([H[j] @ W for j in neighbours]).mean(0)
            if neighbours
            else torch.zeros(W.shape[1], dtype=D)
        )
        rows.append(H[i] @ W + m_i)
    out = torch.stack(rows)
    return activation(out) if activation is not None else out


@pytest.mark.parametrize("activation", [torch.relu, torch.tanh, None])
def test_module_matches_the_per_node_oracle_and_its_gradient(activation):
    torch.manual_seed(1)
    layer = gnn.MeanMessagePassing(3, 4, activation=activation).to(D)
    assert [name for name, _ in layer.named_parameters()] == ["W"] and layer.W.shape == (3, 4)  # W: (d, d')
    A, H = _graph()
    out = layer(A, H)
    want = _oracle(A, H, layer.W, activation)
    torch.testing.assert_close(out, want)
    g = torch.randn(7, 4, dtype=D, generator=torch.Generator().manual_seed(2))
    (grad,) = torch.autograd.grad((out * g).sum(), layer.W)
    (want_grad,) = torch.autograd.grad((_oracle(A, H, layer.W, activation) * g).sum(), layer.W)
    torch.testing.assert_close(grad, want_grad)
    if activation is None:
        assert (out < 0).any()  # no hidden ReLU when the caller asks for none


def test_isolated_node_keeps_only_its_own_message_and_training_moves_w():
    torch.manual_seed(3)
    layer = gnn.MeanMessagePassing(3, 2, activation=None).to(D)
    A, H = _graph()
    torch.testing.assert_close(layer(A, H)[6], H[6] @ layer.W)
    target = torch.randn(7, 2, dtype=D, generator=torch.Generator().manual_seed(4))
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = ((layer(A, H) - target) ** 2).mean().item()
    for _ in range(50):
        opt.zero_grad()
        ((layer(A, H) - target) ** 2).mean().backward()
        opt.step()
    assert ((layer(A, H) - target) ** 2).mean().item() < 0.5 * before
