"""Oracle tests for Hopfield networks, Boltzmann machines, RBMs and DBNs (brute-force enumeration)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from seqcourse.data.images import load_digits
from seqcourse.nn import hopfield
from seqcourse.nn.energy import BoltzmannMachine, all_binary_states
from seqcourse.nn.rbm import DBN, RBM, train_rbm
from seqcourse.train import fit

# ------------------------------------------------------------------------------------------------- Hopfield


def test_hebbian_weights_formula():
    xi = hopfield.random_patterns(3, 8, torch.Generator().manual_seed(0))
    W = hopfield.hebbian_weights(xi)
    for i, j in itertools.product(range(8), repeat=2):
        expect = 0.0 if i == j else sum(float(xi[m, i] * xi[m, j]) for m in range(3)) / 8
        assert W[i, j].item() == pytest.approx(expect)


def test_stored_patterns_are_fixed_points_and_recalled_from_corruption():
    gen = torch.Generator().manual_seed(1)
    xi = hopfield.random_patterns(3, 100, gen)  # load 0.03, far below capacity
    W = hopfield.hebbian_weights(xi)
    torch.testing.assert_close(hopfield.update_sync(W, xi), xi)
    torch.testing.assert_close(hopfield.update_async(W, xi, generator=gen), xi)
    for mode in ("async", "sync"):
        for m in range(3):
            noisy = hopfield.corrupt(xi[m], 15, gen)
            assert hopfield.overlap(noisy, xi[m]).item() == pytest.approx(0.7)
            final, _ = hopfield.recall(W, noisy, mode, generator=gen)
            torch.testing.assert_close(final, xi[m])


def test_energy_never_increases_under_asynchronous_updates():
    gen = torch.Generator().manual_seed(2)
    N = 40
    W = hopfield.hebbian_weights(hopfield.random_patterns(10, N, gen))  # overloaded: many spurious minima
    for _ in range(5):
        s = hopfield.random_patterns(1, N, gen)[0]
        e = hopfield.energy(W, s).item()
        assert e == pytest.approx(-0.5 * float(s @ W @ s))
        for _sweep in range(4):
            for i in torch.randperm(N, generator=gen).tolist():
                s = hopfield.update_unit(W, s, i)
                e_new = hopfield.energy(W, s).item()
                assert e_new <= e + 1e-6
                e = e_new
        final, _ = hopfield.recall(W, s, "async", generator=gen)
        torch.testing.assert_close(hopfield.update_async(W, final, generator=gen), final)  # a fixed point


def digit_patterns(classes=(0, 2, 4, 6)):
    """Bipolar class-mean digits: strongly correlated patterns (they share the background)."""
    digits = load_digits()
    X, y = digits.X_train, digits.y_train
    return torch.stack([torch.where(X[y == k].mean(0) > 0.4, 1.0, -1.0) for k in classes])  # (P, 64)


def test_projection_rule_stores_correlated_digits_that_hebb_cannot():
    xi = digit_patterns()
    W = hopfield.projection_weights(xi)
    torch.testing.assert_close(W, W.T)
    assert W.diagonal().abs().max().item() == 0.0
    P = torch.linalg.pinv(xi.double()) @ xi.double()  # oracle: the projection onto span(xi), off the diagonal
    torch.testing.assert_close(W.double(), P - torch.diag(P.diagonal()), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(hopfield.update_sync(W, xi), xi)  # every digit is a fixed point
    gen = torch.Generator().manual_seed(0)
    for m in range(len(xi)):
        final, _ = hopfield.recall(W, hopfield.corrupt(xi[m], 8, gen), generator=gen)
        torch.testing.assert_close(final, xi[m])
    hebb = hopfield.hebbian_weights(xi)
    assert not torch.equal(hopfield.update_sync(hebb, xi), xi)  # crosstalk destroys at least one digit


def test_trajectory_rows_lower_the_energy_and_end_at_a_fixed_point():
    gen = torch.Generator().manual_seed(4)
    N = 32
    xi = hopfield.random_patterns(3, N, gen)
    W = hopfield.hebbian_weights(xi)
    s = hopfield.corrupt(xi[0], 8, gen)
    rows = hopfield.trajectory(W, s, n_sweeps=3, every=1, generator=gen)
    assert rows.shape == (1 + 3 * N, N)
    torch.testing.assert_close(rows[0], s)
    assert ((rows[1:] != rows[:-1]).sum(1) <= 1).all()  # one unit at a time
    E = hopfield.energy(W, rows)
    assert (E[1:] <= E[:-1] + 1e-6).all()
    torch.testing.assert_close(hopfield.update_sync(W, rows[-1]), rows[-1])
    coarse = hopfield.trajectory(W, s, n_sweeps=2, every=8, generator=torch.Generator().manual_seed(0))
    assert coarse.shape == (1 + 2 * N // 8, N)
    with pytest.raises(ValueError, match="divisor"):
        hopfield.trajectory(W, s, every=5)


def test_capacity_experiment_shows_the_limit():
    rates = dict(hopfield.capacity_experiment(N=100, loads=(0.05, 0.3), trials=2, seed=0))
    assert rates[0.05] >= 0.95
    assert rates[0.3] <= 0.3


def test_hopfield_bad_inputs():
    with pytest.raises(ValueError, match=r"-1 and \+1"):
        hopfield.hebbian_weights(torch.tensor([[1.0, 0.0, -1.0]]))
    W = torch.zeros(3, 3)
    with pytest.raises(ValueError, match=r"-1 and \+1"):
        hopfield.energy(W, torch.tensor([1.0, 0.5, -1.0]))
    with pytest.raises(ValueError, match="N = 3"):
        hopfield.update_sync(W, torch.ones(4))
    with pytest.raises(ValueError, match="square"):
        hopfield.energy(torch.zeros(3, 4), torch.ones(3))
    with pytest.raises(ValueError, match="mode"):
        hopfield.recall(W, torch.ones(3), mode="parallel")


# ------------------------------------------------------------------------------------------ Boltzmann machine


def test_all_binary_states():
    S = all_binary_states(3)
    assert S.shape == (8, 3)
    assert {tuple(int(x) for x in row) for row in S} == set(itertools.product((0, 1), repeat=3))


def test_boltzmann_machine_conditionals_likelihood_and_learning_rule():
    torch.manual_seed(0)
    bm = BoltzmannMachine(3, 2, init_std=0.8).double()
    with torch.no_grad():
        bm.b.normal_()
    S = all_binary_states(5, dtype=torch.float64)
    with torch.no_grad():
        E = torch.tensor([float(-0.5 * s @ bm.W @ s - bm.b @ s) for s in S], dtype=torch.float64)
    assert bm.log_partition().item() == pytest.approx(float(torch.log(torch.exp(-E).sum())))
    # conditional of unit i vs ratio of two brute-force energies
    bm.requires_grad_(False)
    for k in range(len(S)):
        for i in range(5):
            on, off = S[k].clone(), S[k].clone()
            on[i], off[i] = 1.0, 0.0
            e_on, e_off = bm.energy(on[None]).item(), bm.energy(off[None]).item()
            expect = 1.0 / (1.0 + torch.exp(torch.tensor(e_on - e_off))).item()
            assert bm.conditional(S[k : k + 1], i).item() == pytest.approx(expect)
    # log p(v) by summing joint probabilities over h
    v = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    p = bm.probabilities()
    for r in range(2):
        mask = (S[:, :3] == v[r]).all(1)
        assert bm.log_likelihood(v[r : r + 1]).item() == pytest.approx(float(torch.log(p[mask].sum())))
    bm.requires_grad_(True)
    # learning rule: dlogp/dw_ij = <s_i s_j>_data - <s_i s_j>_model
    bm.zero_grad()
    bm.log_likelihood(v).mean().backward()
    data, model = bm.correlations(v)
    rule = data - model
    grad_W = bm.W_raw.grad  # upper triangle carries dL/dw_ij for i < j
    for i in range(5):
        for j in range(i + 1, 5):
            assert grad_W[i, j].item() == pytest.approx(rule[i, j].item(), abs=1e-10)
    torch.testing.assert_close(bm.b.grad, rule.diagonal())  # s_i^2 = s_i gives the bias term


def test_boltzmann_gibbs_sampling_matches_exact_distribution():
    torch.manual_seed(3)
    bm = BoltzmannMachine(4, 0, init_std=0.7)
    gen = torch.Generator().manual_seed(3)
    s = torch.zeros(4000, 4)
    for _ in range(30):
        s = bm.gibbs_sweep(s, generator=gen)
    codes = (s * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    freq = torch.bincount(codes, minlength=16).float() / len(codes)
    assert (freq - bm.probabilities().detach()).abs().max().item() < 0.03


# ------------------------------------------------------------------------------------------------------ RBM


def small_rbm(d: int = 3, p: int = 2, seed: int = 0) -> RBM:
    gen = torch.Generator().manual_seed(seed)
    rbm = RBM(d, p, init_std=1.0, generator=gen).double()
    with torch.no_grad():
        rbm.b.copy_(torch.randn(d, generator=gen))
        rbm.c.copy_(torch.randn(p, generator=gen))
    return rbm


def test_rbm_free_energy_partition_and_likelihood_vs_brute_force():
    for d, p in ((3, 2), (2, 4)):  # enumerate hidden, then visible, inside log_partition
        rbm = small_rbm(d, p)
        V, Hs = all_binary_states(d, dtype=torch.float64), all_binary_states(p, dtype=torch.float64)
        E = torch.stack([torch.stack([rbm.energy(v[None], h[None])[0] for h in Hs]) for v in V]).detach()
        for k, v in enumerate(V):
            expect = (-v @ rbm.b - rbm.c @ Hs[0] - v @ rbm.W @ Hs[0]).item()
            assert E[k, 0].item() == pytest.approx(expect)
        torch.testing.assert_close(rbm.free_energy(V), -torch.logsumexp(-E, dim=1))
        log_Z = float(torch.log(torch.exp(-E).sum()))
        assert rbm.log_partition().item() == pytest.approx(log_Z)
        torch.testing.assert_close(rbm.log_likelihood(V), torch.log(torch.exp(-E).sum(1)) - log_Z)
        assert torch.exp(rbm.log_likelihood(V)).sum().item() == pytest.approx(1.0)


def test_rbm_conditionals_vs_brute_force():
    rbm = small_rbm(3, 2, seed=1)
    V, Hs = all_binary_states(3, dtype=torch.float64), all_binary_states(2, dtype=torch.float64)
    joint = torch.stack([torch.exp(-rbm.energy(V, h[None].expand(8, -1))) for h in Hs], dim=1)  # (8, 4)
    p_h = joint / joint.sum(1, keepdim=True)  # p(h | v) for all h
    expect_h = p_h @ Hs  # P(h_j = 1 | v)
    torch.testing.assert_close(rbm.p_h_given_v(V), expect_h)
    p_v = joint / joint.sum(0, keepdim=True)  # p(v | h), columns
    torch.testing.assert_close(rbm.p_v_given_h(Hs), p_v.T @ V)
    # conditional independence: p(h | v) factorises into the product of the marginals
    q = rbm.p_h_given_v(V)  # (8, 2)
    prod = torch.stack([(q**h * (1 - q) ** (1 - h)).prod(1) for h in Hs], 1)
    torch.testing.assert_close(prod, p_h)


def test_cd_gradient_direction_vs_exact_gradient():
    rbm = small_rbm(3, 2, seed=2)
    data = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    exact = rbm.exact_gradient(data)
    # oracle for exact_gradient: <v p(h|v)^T>_data - sum_v p(v) v p(h|v)^T by enumeration
    V = all_binary_states(3, dtype=torch.float64)
    with torch.no_grad():
        pv = torch.exp(rbm.log_likelihood(V))
        model_W = V.T @ (pv[:, None] * rbm.p_h_given_v(V))
        torch.testing.assert_close(exact["W"], data.T @ rbm.p_h_given_v(data) / 3 - model_W)
        torch.testing.assert_close(exact["b"], data.mean(0) - pv @ V)

    def flat(g):
        return torch.cat([g["W"].flatten(), g["b"], g["c"]])

    reps = data.repeat(3000, 1)  # many chains average out the sampling noise
    gen = torch.Generator().manual_seed(0)
    cd1, _ = rbm.cd_gradient(reps, k=1, generator=gen)
    cd_long, _ = rbm.cd_gradient(reps, k=100, generator=gen)
    cos1 = F.cosine_similarity(flat(cd1), flat(exact), dim=0).item()
    cos_long = F.cosine_similarity(flat(cd_long), flat(exact), dim=0).item()
    # measured over seeds 0-4: cos1 0.998-0.999, cos_long >= 0.9992, err_long 0.007-0.041
    assert cos1 > 0.99
    assert cos_long > 0.995
    err_long = (flat(cd_long) - flat(exact)).norm() / flat(exact).norm()
    assert err_long < 0.08


def test_cd_and_pcd_training_raise_exact_likelihood():
    data = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]] * 20, dtype=torch.float64)
    for persistent in (False, True):
        gen = torch.Generator().manual_seed(0)
        rbm = RBM(4, 3, init_std=0.1, generator=gen).double()
        before = rbm.log_likelihood(data).mean().item()
        train_rbm(rbm, data, epochs=60, lr=0.1, batch_size=10, persistent=persistent, generator=gen)
        after = rbm.log_likelihood(data).mean().item()
        assert before == pytest.approx(-4 * torch.log(torch.tensor(2.0)).item(), abs=0.05)
        assert after > -2.0  # the two patterns take most of the mass (uniform gives -2.77)


def test_rbm_samples_match_the_exact_marginals_after_burn_in():
    rbm = small_rbm(3, 2, seed=0)
    V = all_binary_states(3, dtype=torch.float64)
    with torch.no_grad():
        rbm.W.mul_(3)  # strong couplings: one Gibbs step from the uniform start is far from p(v)
        marginal = torch.exp(rbm.log_likelihood(V)) @ V  # (3,): p(v_i = 1) by enumeration
    gen = torch.Generator().manual_seed(0)
    samples = rbm.sample(20000, burn_in=30, generator=gen)  # E[p(v | h)] = p(v_i = 1) once the chain mixed
    assert samples.shape == (20000, 3)
    torch.testing.assert_close(samples.mean(0), marginal, atol=0.01, rtol=0)
    with pytest.raises(ValueError, match="burn_in"):
        rbm.sample(3, burn_in=0)


def test_train_rbm_callback_sees_every_epoch():
    data = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]] * 10, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    rbm = RBM(4, 3, init_std=0.1, generator=gen).double()
    seen = []
    errors = train_rbm(rbm, data, epochs=5, lr=0.1, batch_size=10, generator=gen,
                       callback=lambda m: seen.append(m.log_likelihood(data).mean().item()))
    assert len(seen) == len(errors) == 5
    assert seen[-1] == pytest.approx(rbm.log_likelihood(data).mean().item())  # called with the trained model
    assert seen[-1] > seen[0]


def test_rbm_bad_inputs():
    rbm = RBM(3, 2)
    with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
        rbm.free_energy(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="only 0 and 1"):
        rbm.log_likelihood(torch.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="k must be"):
        rbm.gibbs(torch.zeros(2, 3), k=0)
    with pytest.raises(ValueError, match="enumeration"):
        all_binary_states(30)
    with pytest.raises(ValueError, match="at least the visible"):
        DBN([64])


@pytest.mark.slow
def test_dbn_pretrain_then_finetune_classifies_digits():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    digits = load_digits(binarize=True)
    dbn = DBN([64, 128, 64], generator=gen)
    hist = dbn.pretrain(digits.X_train, epochs=10, lr=0.05, generator=gen)
    assert all(h[-1] < h[0] for h in hist)  # every RBM's reconstruction error went down
    clf = dbn.to_classifier(10)
    x5 = digits.X_test[:5]
    torch.testing.assert_close(clf[0](x5).sigmoid(), dbn.rbms[0].p_h_given_v(x5))
    X, y = digits.X_train, digits.y_train
    batches = [(X[i : i + 64], y[i : i + 64]) for i in range(0, len(X), 64)]
    fit(clf, batches, loss=lambda b: F.cross_entropy(clf(b[0]), b[1]), epochs=10, lr=2e-2, progress=False)
    acc = (clf(digits.X_test).argmax(1) == digits.y_test).float().mean().item()
    assert acc >= 0.85, acc


def test_modern_update_is_attention_over_the_stored_patterns():
    gen = torch.Generator().manual_seed(6)
    X = torch.randn(5, 16, generator=gen, dtype=torch.float64)
    xi = torch.randn(3, 16, generator=gen, dtype=torch.float64)
    ref = F.scaled_dot_product_attention(xi[None], X[None], X[None], scale=0.7)[0]  # PyTorch's attention
    torch.testing.assert_close(hopfield.modern_update(X, xi, beta=0.7), ref)
    torch.testing.assert_close(hopfield.modern_update(X, xi[0], beta=0.7), ref[0])
    # with a large beta, one update retrieves the stored pattern nearest to a noisy copy
    noisy = X[2] + 0.3 * torch.randn(16, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(hopfield.modern_update(X, noisy, beta=50.0), X[2])
    with pytest.raises(ValueError, match="N = 16"):
        hopfield.modern_update(X, torch.zeros(15))


def test_dbn_generate_runs_top_down():
    gen = torch.Generator().manual_seed(0)
    dbn = DBN([6, 5, 4, 3], generator=gen)
    with torch.no_grad():
        for rbm in dbn.rbms:
            rbm.W.normal_(generator=gen)
    out = dbn.generate(5, burn_in=3, generator=torch.Generator().manual_seed(1))
    top = dbn.rbms[2].sample(5, burn_in=3, generator=torch.Generator().manual_seed(1))  # (5, 4)
    torch.testing.assert_close(out, dbn.rbms[0].p_v_given_h(dbn.rbms[1].p_v_given_h(top)))
    assert out.shape == (5, 6)


def test_new_helpers_create_every_tensor_on_their_inputs_device():
    """Inside torch.device("meta") a tensor made without device= lands on meta; mixing it with CPU raises."""
    from seqcourse.nn.autoencoder import VAE

    gen = torch.Generator().manual_seed(0)
    xi = hopfield.random_patterns(3, 8, gen)  # (3, 8) on the CPU
    rbm, dbn, vae = RBM(4, 3, generator=gen), DBN([4, 3, 2], generator=gen), VAE(4, 5, 2)
    x, h = torch.rand(2, 4, generator=gen), torch.zeros(1, 2)
    with torch.device("meta"):
        W = hopfield.projection_weights(xi)
        rows = hopfield.trajectory(W, xi[0], n_sweeps=1, every=4)
        out = [W, rows, hopfield.modern_update(xi, xi[0], beta=2.0), rbm.sample(2, burn_in=2),
               dbn.generate(2, burn_in=2), vae.elbo_monte_carlo(x, n_samples=3), vae.decode(h), vae.sample(2)]
        errors = train_rbm(rbm, x.round(), epochs=1, batch_size=2, callback=lambda m: None)
    assert all(t.device.type == "cpu" for t in out) and len(errors) == 1
