"""Echo state network: spectral radius, leaky update by hand, readout = ridge closed form, washout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqcourse.nn.esn import EchoStateNetwork, ridge_regression

DT = torch.float64


def make(**kw):
    return EchoStateNetwork(**{"input_size": 2, "reservoir_size": 20, "output_size": 3, "dtype": DT, **kw})


@pytest.mark.parametrize("rho,density", [(0.9, 1.0), (1.3, 0.3), (0.5, 1.0)])
def test_spectral_radius_is_as_requested(rho, density):
    esn = make(spectral_radius=rho, density=density, seed=3)
    assert torch.linalg.eigvals(esn.W).abs().max().item() == pytest.approx(rho, rel=1e-10)
    if density < 1:
        assert 0.1 < (esn.W != 0).double().mean().item() < 0.5


def test_leaky_update_hand_checked():
    esn = make(leak_rate=0.3)
    u = torch.randn(1, 2, 2, dtype=DT)
    x = esn.states(u)[0].numpy()
    W_in, W = esn.W_in.numpy(), esn.W.numpy()
    x1 = 0.3 * np.tanh(W_in @ u[0, 0].numpy())
    x2 = 0.7 * x1 + 0.3 * np.tanh(W_in @ u[0, 1].numpy() + W @ x1)
    np.testing.assert_allclose(x, np.stack([x1, x2]), rtol=1e-12)


def test_readout_equals_the_ridge_closed_form():
    esn = make(ridge=0.1, washout=3)
    u, y = torch.randn(2, 15, 2, dtype=DT), torch.randn(2, 15, 3, dtype=DT)
    esn.fit(u, y)
    Z = np.concatenate([np.ones((2, 12, 1)), esn.states(u)[:, 3:].numpy()], axis=2).reshape(-1, 21)
    Y = y[:, 3:].reshape(-1, 3).numpy()
    W_ref = np.linalg.solve(Z.T @ Z + 0.1 * np.eye(21), Z.T @ Y).T
    np.testing.assert_allclose(esn.W_out.numpy(), W_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        esn(u).numpy(), esn.features(esn.states(u)).numpy() @ W_ref.T, rtol=1e-9, atol=1e-12
    )


def test_readout_solves_an_exact_linear_system():
    esn = make(ridge=0.0)
    u = torch.randn(1, 60, 2, dtype=DT)
    A = torch.randn(3, 21, dtype=DT)
    y = esn.features(esn.states(u)) @ A.T  # targets exactly linear in the features
    esn.fit(u, y)
    torch.testing.assert_close(esn.W_out, A, rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(esn(u), y, rtol=1e-8, atol=1e-9)


def test_washout_ignores_the_first_targets():
    u, y = torch.randn(1, 30, 2, dtype=DT), torch.randn(1, 30, 3, dtype=DT)
    a = make(washout=5).fit(u, y).W_out.clone()
    y2 = y.clone()
    y2[:, :5] = 100.0
    torch.testing.assert_close(make(washout=5).fit(u, y2).W_out, a)
    assert not torch.allclose(make(washout=4).fit(u, y2).W_out, a)


def test_echo_state_property_forgets_the_initial_state():
    esn = make(spectral_radius=0.5)
    u = torch.randn(1, 60, 2, dtype=DT)
    xa = esn.states(u, torch.ones(1, 20, dtype=DT))
    xb = esn.states(u, -torch.ones(1, 20, dtype=DT))
    assert (xa[0, 0] - xb[0, 0]).abs().max() > 0.1
    assert (xa[0, -1] - xb[0, -1]).abs().max() < 1e-8


def test_learns_a_delayed_copy_of_its_input():
    esn = EchoStateNetwork(1, 50, 1, spectral_radius=0.8, ridge=1e-6, washout=20, seed=1)
    g = torch.Generator().manual_seed(0)
    u = torch.rand(1, 400, 1, generator=g) - 0.5
    y = torch.roll(u, 2, dims=1)  # y_t = u_{t-2}
    esn.fit(u[:, :300], y[:, :300])
    pred = esn(u)[:, 320:]
    nmse = ((pred - y[:, 320:]) ** 2).mean() / y[:, 320:].var()
    assert nmse < 0.05
    assert esn(u[0]).shape == (400, 1)  # unbatched input


def test_ridge_regression_function_and_errors():
    Z, Y = torch.randn(10, 4, dtype=DT), torch.randn(10, 2, dtype=DT)
    W = ridge_regression(Z, Y, 0.0)
    torch.testing.assert_close(W.T, torch.linalg.lstsq(Z, Y).solution)
    with pytest.raises(ValueError, match="ridge"):
        ridge_regression(Z, Y, -1.0)
    with pytest.raises(ValueError, match=r"Y must have shape \(10, \*\)"):
        ridge_regression(Z, Y[:5], 0.0)
    with pytest.raises(ValueError, match="leak_rate"):
        make(leak_rate=0.0)
    with pytest.raises(ValueError, match=r"u must have shape \(B, T, 2\)"):
        make().states(torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="washout"):
        make().fit(torch.zeros(1, 5, 2), torch.zeros(1, 5, 3), washout=5)
    with pytest.raises(ValueError, match=r"y must have shape \(1, 5, 3\)"):
        make().fit(torch.zeros(1, 5, 2), torch.zeros(1, 5, 1))
