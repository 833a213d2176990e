"""Tests for seqcourse.nn.autoencoder: KL closed form vs Monte Carlo, reparameterisation, training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from seqcourse.data.images import load_digits
from seqcourse.nn import autoencoder as ae
from seqcourse.train import fit


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_gaussian_kl_closed_form_vs_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    log_var = torch.tensor([[0.3, -0.7, 0.1], [0.0, 0.0, 0.0]], dtype=torch.float64)
    kl = ae.gaussian_kl(mu, log_var)
    assert kl[1].item() == pytest.approx(0.0)  # KL(N(0, I) || N(0, I)) = 0
    q = Normal(mu, torch.exp(0.5 * log_var))
    z = q.mean + q.stddev * torch.randn(200_000, 2, 3, generator=gen, dtype=torch.float64)
    mc = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1).mean(0)  # E_q[log q - log p]
    torch.testing.assert_close(kl, mc, atol=0.02, rtol=0.01)
    # and the library's own closed form
    ref = torch.distributions.kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    torch.testing.assert_close(kl, ref)


def test_reparameterization_gives_gradients_to_mu_and_sigma():
    mu = torch.tensor([0.5, -1.0], requires_grad=True)
    log_var = torch.tensor([0.2, -0.4], requires_grad=True)
    eps = torch.tensor([1.5, -0.3])
    h = ae.reparameterize(mu, log_var, eps)
    torch.testing.assert_close(h, mu + torch.exp(0.5 * log_var) * eps)
    (h**2).sum().backward()
    sigma = torch.exp(0.5 * log_var.detach())
    # dh/dmu = 1 and dh/dlog_var = sigma * eps / 2, chained through d(h^2)/dh = 2h
    torch.testing.assert_close(mu.grad, 2 * h.detach())
    torch.testing.assert_close(log_var.grad, 2 * h.detach() * sigma * eps / 2)
    # a VAE's loss reaches the encoder's mu and log_var heads
    torch.manual_seed(0)
    vae = ae.VAE(6, 8, 2)
    vae.loss(torch.rand(5, 6))[0].backward()
    assert vae.to_mu.weight.grad.abs().sum() > 0
    assert vae.to_log_var.weight.grad.abs().sum() > 0


def test_vae_elbo_monte_carlo_vs_quadrature_and_closed_form():
    torch.manual_seed(0)
    vae = ae.VAE(5, 6, 1).double()  # one latent dimension: the ELBO and log p(x) are 1-D integrals
    x = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 1.0]], dtype=torch.float64)
    mc = vae.elbo_monte_carlo(x, n_samples=200_000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mu, log_var = vae.encode(x)  # (2, 1)
        h = torch.linspace(-12, 12, 24001, dtype=torch.float64)[:, None, None]  # (G, 1, 1) grid
        dh = 24 / 24000
        logits = vae.decoder(h.expand(-1, 2, 1))  # (G, 2, 5)
        log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        log_prior = Normal(0.0, 1.0).log_prob(h[..., 0])  # (G, 1)
        q = Normal(mu[:, 0], torch.exp(0.5 * log_var[:, 0]))
        log_q = q.log_prob(h[..., 0])  # (G, 2)
        elbo_quad = (log_q.exp() * (log_px + log_prior - log_q)).sum(0) * dh
        log_evidence = torch.logsumexp(log_px + log_prior, dim=0) + math.log(dh)  # log p(x)
        # the closed-form KL route of loss(): E_q[log p(x|h)] - KL, with the expectation by quadrature
        closed = (log_q.exp() * log_px).sum(0) * dh - ae.gaussian_kl(mu, log_var)
    torch.testing.assert_close(mc, elbo_quad, atol=0.02, rtol=0)
    torch.testing.assert_close(closed, elbo_quad, atol=1e-6, rtol=0)
    assert (elbo_quad < log_evidence).all()  # a lower bound, and not a tight one for this untrained encoder
    torch.manual_seed(2)
    total = torch.stack([vae.loss(x[:1])[0] for _ in range(4000)]).mean()  # loss() is one-sample -ELBO
    assert -total.item() == pytest.approx(elbo_quad[0].item(), abs=0.05)


def test_vae_decode_matches_the_decoder():
    torch.manual_seed(0)
    vae = ae.VAE(6, 8, 2)
    h = torch.randn(4, 2)
    torch.testing.assert_close(vae.decode(h), torch.sigmoid(vae.decoder(h)))
    with pytest.raises(ValueError, match=r"h must have shape \(B, 2\)"):
        vae.decode(torch.zeros(4, 3))


def test_vae_loss_parts_and_training(digits):
    torch.manual_seed(0)
    vae = ae.VAE(64, 64, 4)
    x = digits.X_train[:32]
    torch.manual_seed(1)
    total, recon, kl = vae.loss(x)
    torch.manual_seed(1)
    logits, mu, log_var = vae(x)
    torch.testing.assert_close(recon, F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / 32)
    torch.testing.assert_close(kl, ae.gaussian_kl(mu, log_var).mean())
    torch.testing.assert_close(total, recon + kl)
    batches = [digits.X_train[i : i + 64] for i in range(0, len(digits.X_train), 64)]
    hist = fit(vae, batches, loss=lambda b: vae.loss(b)[0], epochs=6, lr=3e-3, progress=False)
    assert hist.train_loss[-1] < 0.8 * hist.train_loss[0]
    samples = vae.sample(7, torch.Generator().manual_seed(0))
    assert samples.shape == (7, 64) and bool(((samples >= 0) & (samples <= 1)).all())


def test_masking_noise_and_denoising_forward():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2000, 10) + 0.1
    noisy = ae.masking_noise(x, 0.3, gen)
    kept = noisy != 0
    torch.testing.assert_close(noisy[kept], x[kept])
    assert (1 - kept.float().mean()).item() == pytest.approx(0.3, abs=0.02)
    dae = ae.DenoisingAutoencoder(10, 4, noise=0.5)
    torch.manual_seed(3)
    out_train = dae(x[:4])
    torch.manual_seed(3)
    expect = dae.decode(dae.encode(ae.masking_noise(x[:4], 0.5)))
    torch.testing.assert_close(out_train, expect)  # training mode corrupts the input ...
    dae.eval()
    torch.testing.assert_close(dae(x[:4]), dae.decode(dae.encode(x[:4])))  # ... eval mode does not


def test_stacked_pretraining_lowers_reconstruction_error_and_finetunes(digits):
    torch.manual_seed(0)
    sae = ae.StackedAutoencoder([64, 32, 16])
    before = ae.reconstruction_error(sae, digits.X_test)
    hist = sae.pretrain(digits.X_train, epochs=4, lr=1e-2)
    assert all(h[-1] < h[0] for h in hist)
    after = ae.reconstruction_error(sae, digits.X_test)
    assert after < 0.3 * before
    clf = sae.to_classifier(10)
    assert clf[0] is sae.layers[0].encoder  # fine-tuning starts from the pretrained weights
    X, y = digits.X_train, digits.y_train
    batches = [(X[i : i + 64], y[i : i + 64]) for i in range(0, len(X), 64)]
    fit(clf, batches, loss=lambda b: F.cross_entropy(clf(b[0]), b[1]), epochs=8, lr=1e-2, progress=False)
    acc = (clf(digits.X_test).argmax(1) == digits.y_test).float().mean().item()
    assert acc >= 0.9, acc


@pytest.mark.slow
def test_denoising_autoencoder_beats_plain_autoencoder_on_corrupted_input(digits):
    torch.manual_seed(0)
    plain, dae = ae.AutoencoderLayer(64, 128), ae.DenoisingAutoencoder(64, 128, noise=0.3)
    for model in (plain, dae):
        ae.train_autoencoder(model, digits.X_train, epochs=10)
        model.eval()
    x = digits.X_test
    corrupted = ae.masking_noise(x, 0.3, torch.Generator().manual_seed(1))

    def err(model):
        return ((model(corrupted) - x) ** 2).sum(-1).mean().item()

    assert err(dae) < 0.92 * err(plain)


def test_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        ae.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\)"):
        ae.masking_noise(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="noise > 0"):
        ae.DenoisingAutoencoder(4, 2, noise=0.0)
    with pytest.raises(ValueError, match="at least one code size"):
        ae.StackedAutoencoder([64])
    with pytest.raises(ValueError, match="2-D"):
        ae.train_autoencoder(ae.AutoencoderLayer(4, 2), torch.zeros(4))
