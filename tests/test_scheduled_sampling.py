"""Scheduled sampling in the scratch design-pattern-2 RNN: limits eps = 1 / eps = 0 and autograd oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqcourse.scratch import teacher_forcing as tf


def setup(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = tf.init_params(3, 5, 4, rng)
    params["b"] = 0.1 * rng.standard_normal(5)
    xs, ys = rng.standard_normal((7, 3)), rng.integers(0, 4, size=7)
    return params, xs, ys


def test_eps_one_is_teacher_forcing_and_eps_zero_is_free_running():
    params, xs, ys = setup()
    loss, grads, fed = tf.scheduled_sampling_grads(params, xs, ys, 1.0, np.random.default_rng(0))
    ref_loss, ref = tf.teacher_forcing_grads(params, xs, ys)
    assert loss == pytest.approx(ref_loss)
    for k in ref:
        np.testing.assert_allclose(grads[k], ref[k])
    assert fed[1:].argmax(1).tolist() == ys[:-1].tolist() and not fed[0].any()
    loss0, _, fed0 = tf.scheduled_sampling_grads(params, xs, ys, 0.0, np.random.default_rng(0))
    free = tf.free_running(params, xs, ys)
    assert loss0 == pytest.approx(free.loss)
    assert fed0[1:].argmax(1).tolist() == free.o[:-1].argmax(1).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixed_feeding_gradients_match_autograd_with_fed_inputs_held_fixed(seed):
    params, xs, ys = setup(seed)
    loss, grads, fed = tf.scheduled_sampling_grads(params, xs, ys, 0.5, np.random.default_rng(seed))
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    X, F_ = torch.tensor(xs), torch.tensor(fed)
    H = torch.tanh(P["b"] + F_ @ P["W"].T + X @ P["U"].T)  # (T, n)
    O = P["c"] + H @ P["V"].T
    L = torch.nn.functional.cross_entropy(O, torch.tensor(ys), reduction="sum")
    assert loss == pytest.approx(L.item())
    L.backward()
    for k, p in P.items():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="eps"):
        tf.scheduled_sampling_grads(params, xs, ys, 1.5, np.random.default_rng(0))
