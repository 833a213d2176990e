"""Tests for seqcourse.nn.rbf: basis functions by formula, least squares vs numpy, RBF vs MLP on digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqcourse.data.images import load_digits
from seqcourse.nn.rbf import MLP, RBFNetwork
from seqcourse.train import fit


def test_basis_functions_match_the_formula():
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    X = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    net = RBFNetwork(centres, sigma=0.7, n_out=2, bias=False)
    Phi = net.phi(X)
    for n in range(5):
        for h in range(4):
            expect = np.exp(-float(((X[n] - centres[h]) ** 2).sum()) / (2 * 0.7**2))
            assert Phi[n, h].item() == pytest.approx(expect)
    assert RBFNetwork(centres, 0.7, 2, bias=True).phi(X)[:, -1].eq(1).all()


@pytest.mark.parametrize("bias", [False, True])
def test_least_squares_output_matches_numpy_lstsq(bias):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    X, Y = torch.tensor(x), torch.tensor(np.stack([np.sin(x[:, 0]) * np.cos(x[:, 1]), x[:, 0] ** 2], 1))
    net = RBFNetwork.fit(X, Y, n_centres=12, bias=bias, seed=0)
    Phi = net.phi(X).numpy()
    W_ref, *_ = np.linalg.lstsq(Phi, Y.numpy(), rcond=None)
    np.testing.assert_allclose(net.W.detach().numpy(), W_ref, rtol=1e-6, atol=1e-8)
    assert net.centres.shape == (12, 2)
    # the residual is orthogonal to the columns of Phi (normal equations)
    resid = Y.numpy() - Phi @ net.W.detach().numpy()
    np.testing.assert_allclose(Phi.T @ resid, 0.0, atol=1e-6)


def test_rbf_interpolates_a_smooth_function():
    X = torch.linspace(-3, 3, 200, dtype=torch.float64)[:, None]
    Y = torch.sin(X)
    net = RBFNetwork.fit(X, Y, n_centres=15, seed=0)
    X_test = torch.linspace(-2.9, 2.9, 57, dtype=torch.float64)[:, None]
    assert (net(X_test) - torch.sin(X_test)).abs().max().item() < 0.03


def test_rbf_and_mlp_classify_digits():
    digits = load_digits()
    Y = F.one_hot(digits.y_train, 10).to(digits.X_train.dtype)
    rbf = RBFNetwork.fit(digits.X_train, Y, n_centres=100, seed=0)
    rbf_acc = (rbf(digits.X_test).argmax(1) == digits.y_test).float().mean().item()
    assert rbf_acc >= 0.93, rbf_acc
    torch.manual_seed(0)
    mlp = MLP(64, 100, 10)
    X, y = digits.X_train, digits.y_train
    batches = [(X[i : i + 64], y[i : i + 64]) for i in range(0, len(X), 64)]
    fit(mlp, batches, loss=lambda b: F.cross_entropy(mlp(b[0]), b[1]), epochs=10, lr=1e-2, progress=False)
    mlp_acc = (mlp(digits.X_test).argmax(1) == digits.y_test).float().mean().item()
    assert mlp_acc >= 0.93, mlp_acc


def test_bad_inputs():
    centres = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="sigma must be positive"):
        RBFNetwork(centres, 0.0, 1)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\), got \(4, 3\)"):
        RBFNetwork(centres, 1.0, 1)(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="n_centres"):
        RBFNetwork.fit(torch.zeros(5, 2), torch.zeros(5, 1), n_centres=6)
    with pytest.raises(ValueError, match="Y must have shape"):
        RBFNetwork(centres, 1.0, 2).solve_output_weights(torch.zeros(4, 2), torch.zeros(4, 3))
