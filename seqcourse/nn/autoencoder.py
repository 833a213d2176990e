"""Autoencoders (lecture 004, section 6.9.4): stacked with layer-wise pretraining, denoising, and the VAE.

An autoencoder layer maps x (B, d) to a code y = sigma(x W_e + b_e) (B, m) and back to z = sigma(y W_d + b_d);
training minimises the reconstruction error sum_k ||x_k - z_k||^2. A stacked autoencoder trains one such
three-layer network at a time on the codes of the layer below (the others stay fixed), then its encoders
initialise a classifier that is fine-tuned on labels. A denoising autoencoder reconstructs the clean x from
a corrupted copy. The variational autoencoder (Kingma and Welling, 2014) has a Gaussian encoder
q(h | x) = N(mu(x), diag sigma^2(x)), a Bernoulli decoder p(x | h) and the loss

    L(x) = -E_q[log p(x | h)] + KL(q(h | x) || N(0, I)),
    KL = 1/2 sum_k (sigma_k^2 + mu_k^2 - 1 - log sigma_k^2),
    h = mu + sigma * eps, eps ~ N(0, I)          (the reparameterisation trick)

-L(x) is the evidence lower bound (ELBO) on log p(x) with the KL term in closed form;
:meth:`VAE.elbo_monte_carlo` estimates the same bound by sampling every term,
log p(x|h) + log p(h) - log q(h|x).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.train import fit
from seqcourse.utils import check_ndim, check_shape

__all__ = [
    "AutoencoderLayer",
    "DenoisingAutoencoder",
    "masking_noise",
    "reconstruction_error",
    "train_autoencoder",
    "StackedAutoencoder",
    "gaussian_kl",
    "reparameterize",
    "VAE",
]


def masking_noise(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set each entry of ``x`` to 0 with probability ``p`` (the denoising autoencoder's corruption)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must lie in [0, 1), got {p}")
    keep = torch.bernoulli(torch.full_like(x, 1.0 - p), generator=generator)
    return x * keep


class AutoencoderLayer(nn.Module):
    """An encoder/decoder pair of sigmoid units: code y = sigma(W_e x + b_e), output z = sigma(W_d y + b_d).

    With ``noise`` > 0 the input is corrupted by :func:`masking_noise` in training mode only.
    """

    def __init__(self, d_in: int, d_code: int, noise: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= noise < 1.0:
            raise ValueError(f"noise must lie in [0, 1), got {noise}")
        self.encoder = nn.Linear(d_in, d_code)
        self.decoder = nn.Linear(d_code, d_in)
        self.noise = noise

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.encoder(x))  # (B, d_code)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(y))  # (B, d_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise > 0:
            x = masking_noise(x, self.noise)
        return self.decode(self.encode(x))


class DenoisingAutoencoder(AutoencoderLayer):
    """An :class:`AutoencoderLayer` trained to undo masking noise of rate ``noise`` (> 0)."""

    def __init__(self, d_in: int, d_code: int, noise: float = 0.3) -> None:
        if noise <= 0:
            raise ValueError(f"a denoising autoencoder needs noise > 0, got {noise}")
        super().__init__(d_in, d_code, noise)


def reconstruction_error(model: nn.Module, X: torch.Tensor) -> float:
    """Mean over samples of ||x - model(x)||^2 in eval mode (no corruption)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        err = float(((model(X) - X) ** 2).sum(-1).mean())
    model.train(was_training)
    return err


def train_autoencoder(model: nn.Module, X: torch.Tensor, *, epochs: int = 20, lr: float = 1e-2,
                      batch_size: int = 64, progress: bool = False) -> list[float]:
    """Minimise the mean over samples of ||x - model(x)||^2 with Adam; returns the loss of each epoch."""
    check_ndim("X", X, 2)
    batches = [X[i : i + batch_size] for i in range(0, X.shape[0], batch_size)]
    hist = fit(model, batches, loss=lambda x: ((model(x) - x) ** 2).sum(-1).mean(), epochs=epochs, lr=lr,
               progress=progress)
    return hist.train_loss


class StackedAutoencoder(nn.Module):
    """Autoencoder layers of sizes ``sizes`` = [d, m_1, m_2, ...], pretrained greedily, then fine-tuned."""

    def __init__(self, sizes: Sequence[int], noise: float = 0.0) -> None:
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes needs the input and at least one code size, got {list(sizes)}")
        self.layers = nn.ModuleList(
            AutoencoderLayer(a, b, noise) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer.encode(x)
        return x  # (B, m_L): the learned features

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            y = layer.decode(y)
        return y  # (B, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def pretrain(self, X: torch.Tensor, **train_kwargs: object) -> list[list[float]]:
        """Train layer l alone to reconstruct the codes of layers 1..l-1 (a static stack, stack by stack).

        ``train_kwargs`` go to :func:`train_autoencoder`; returns each layer's loss history.
        """
        histories = []
        codes = X
        for layer in self.layers:
            histories.append(train_autoencoder(layer, codes, **train_kwargs))  # type: ignore[arg-type]
            with torch.no_grad():
                codes = layer.encode(codes)
        return histories

    def to_classifier(self, n_classes: int) -> nn.Sequential:
        """Encoders (sharing their weights with this model) followed by a fresh linear output layer."""
        modules: list[nn.Module] = []
        for layer in self.layers:
            modules += [layer.encoder, nn.Sigmoid()]
        modules.append(nn.Linear(self.layers[-1].encoder.out_features, n_classes))
        return nn.Sequential(*modules).to(self.layers[0].encoder.weight.device)


def gaussian_kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(log_var)) || N(0, I)) = 1/2 sum_k (exp(log_var) + mu^2 - 1 - log_var); shape (B,)."""
    if mu.shape != log_var.shape:
        raise ValueError(f"mu and log_var must have the same shape, got {tuple(mu.shape)} and "
                         f"{tuple(log_var.shape)}")
    return 0.5 * (log_var.exp() + mu**2 - 1.0 - log_var).sum(-1)


def reparameterize(mu: torch.Tensor, log_var: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """h = mu + sigma * eps, sigma = exp(log_var / 2), eps ~ N(0, I): differentiable in mu and sigma."""
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps


class VAE(nn.Module):
    """Variational autoencoder with one hidden layer on each side and a Bernoulli decoder for x in [0, 1]."""

    def __init__(self, d: int, d_hidden: int, d_latent: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d, d_hidden), nn.ReLU())
        self.to_mu = nn.Linear(d_hidden, d_latent)
        self.to_log_var = nn.Linear(d_hidden, d_latent)
        self.decoder = nn.Sequential(nn.Linear(d_latent, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d))
        self.d_latent = d_latent

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.encoder(x)  # (B, d_hidden)
        return self.to_mu(e), self.to_log_var(e)  # (B, d_latent) each

    @torch.no_grad()
    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Bernoulli means sigma(decoder(h)) for latent points h (B, d_latent); returns (B, d)."""
        check_shape("h", h, ("B", self.d_latent))
        return torch.sigmoid(self.decoder(h))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (decoder logits (B, d), mu, log_var)."""
        mu, log_var = self.encode(x)
        return self.decoder(reparameterize(mu, log_var)), mu, log_var

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total, reconstruction, KL), each averaged over the batch; reconstruction = Bernoulli NLL."""
        logits, mu, log_var = self(x)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()
        kl = gaussian_kl(mu, log_var).mean()
        return recon + kl, recon, kl

    @torch.no_grad()
    def elbo_monte_carlo(self, x: torch.Tensor, n_samples: int = 1000,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """ELBO(x) = E_q[log p(x | h) + log N(h; 0, I) - log q(h | x)], averaged over ``n_samples`` h ~ q.

        Every term is sampled (no closed-form KL), so this is an independent check of -:meth:`loss`; (B,).
        ``generator``, if given, must live on x's device.
        """
        mu, log_var = self.encode(x)  # (B, k) each
        eps = torch.randn((n_samples, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        h = reparameterize(mu, log_var, eps)  # (S, B, k)
        logits = self.decoder(h)  # (S, B, d)
        log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        log_2pi = math.log(2 * math.pi)
        log_prior = -0.5 * (h**2 + log_2pi).sum(-1)  # (S, B)
        log_q = -0.5 * (eps**2 + log_var + log_2pi).sum(-1)  # N(h; mu, sigma^2) with (h - mu) / sigma = eps
        return (log_px + log_prior - log_q).mean(0)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode n draws h ~ N(0, I) into Bernoulli means (n, d); generator on the model's device."""
        p = next(self.parameters())
        h = torch.randn(n, self.d_latent, generator=generator, device=p.device, dtype=p.dtype)  # (n, k)
        return torch.sigmoid(self.decoder(h))
