"""Restricted Boltzmann machine and deep belief network (lecture 004, section 6.9.2).

Binary visible units v in {0, 1}^d, binary hidden units h in {0, 1}^p, weights W (d, p), visible bias b (d,),
hidden bias c (p,) (the lecture writes a_j for c_j):

    E(v, h) = -b^T v - c^T h - v^T W h,          p(v, h) = exp(-E(v, h)) / Z
    p(h_j = 1 | v) = sigma(c_j + (W^T v)_j)       the h_j are independent given v
    p(v_i = 1 | h) = sigma(b_i + (W h)_i)         the v_i are independent given h
    F(v) = -b^T v - sum_j log(1 + exp(c_j + (W^T v)_j)),    p(v) = exp(-F(v)) / Z

Maximum likelihood ascends d log p(v) / dW = <v h^T>_data - <v h^T>_model. Contrastive divergence CD-k
replaces the model average by the end of a k-step Gibbs chain started at the data; persistent CD keeps the
chain running across updates. For small models :meth:`RBM.log_partition` enumerates the smaller layer, so
log-likelihoods are exact. A DBN stacks RBMs trained greedily, layer by layer, then becomes a classifier.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.nn.energy import all_binary_states, check_binary
from seqcourse.utils import check_ndim

__all__ = ["RBM", "train_rbm", "DBN"]


class RBM(nn.Module):
    """A binary-binary RBM with d = ``n_visible`` and p = ``n_hidden`` units."""

    def __init__(self, n_visible: int, n_hidden: int, init_std: float = 0.01,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if n_visible < 1 or n_hidden < 1:
            raise ValueError(f"n_visible and n_hidden must be >= 1, got {n_visible} and {n_hidden}")
        self.W = nn.Parameter(init_std * torch.randn(n_visible, n_hidden, generator=generator))
        self.b = nn.Parameter(torch.zeros(n_visible))
        self.c = nn.Parameter(torch.zeros(n_hidden))

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    def _check_v(self, v: torch.Tensor, binary: bool = False) -> None:
        check_ndim("v", v, 2)
        if v.shape[1] != self.n_visible:
            raise ValueError(f"v must have shape (B, {self.n_visible}), got {tuple(v.shape)}")
        if binary:
            check_binary("v", v)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """E(v, h) = -b^T v - c^T h - v^T W h for v (B, d), h (B, p); returns (B,)."""
        return -v @ self.b - h @ self.c - ((v @ self.W) * h).sum(-1)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -b^T v - sum_j softplus(c_j + (W^T v)_j) = -log sum_h exp(-E(v, h)); returns (B,)."""
        self._check_v(v)
        return -v @ self.b - F.softplus(self.c + v @ self.W).sum(-1)

    def p_h_given_v(self, v: torch.Tensor) -> torch.Tensor:
        """sigma(c + W^T v), shape (B, p)."""
        self._check_v(v)
        return torch.sigmoid(self.c + v @ self.W)

    def p_v_given_h(self, h: torch.Tensor) -> torch.Tensor:
        """sigma(b + W h), shape (B, d)."""
        return torch.sigmoid(self.b + h @ self.W.T)

    @torch.no_grad()
    def gibbs(self, v: torch.Tensor, k: int = 1,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """k steps of block Gibbs sampling v -> h ~ p(h|v) -> v ~ p(v|h); returns (v_k, p(h | v_k))."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        for _ in range(k):
            h = torch.bernoulli(self.p_h_given_v(v), generator=generator)  # (B, p)
            v = torch.bernoulli(self.p_v_given_h(h), generator=generator)  # (B, d)
        return v, self.p_h_given_v(v)

    @torch.no_grad()
    def sample(self, n: int, burn_in: int = 100, generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples v ~ p(v): Gibbs chains started at uniform random v, kept after ``burn_in`` steps; (n, d).

        The chains start far from p(v); the first steps still remember that start, hence the burn-in.
        Returns the visible means p(v | h) of the last step, which read better as images than 0/1 draws.
        """
        if n < 1 or burn_in < 1:
            raise ValueError(f"need n >= 1 and burn_in >= 1, got {n} and {burn_in}")
        v = torch.bernoulli(self.W.new_full((n, self.n_visible), 0.5), generator=generator)  # (n, d)
        v, ph = self.gibbs(v, burn_in, generator)
        return self.p_v_given_h(torch.bernoulli(ph, generator=generator))

    def log_partition(self) -> torch.Tensor:
        """log Z exactly, enumerating whichever layer is smaller (at most 2^20 states)."""
        if self.n_hidden <= self.n_visible:
            Hs = all_binary_states(self.n_hidden, device=self.W.device, dtype=self.W.dtype)  # (2^p, p)
            # sum_v exp(-E(v, h)) = exp(c^T h) prod_i (1 + exp(b_i + (W h)_i))
            log_terms = Hs @ self.c + F.softplus(self.b + Hs @ self.W.T).sum(-1)
        else:
            Vs = all_binary_states(self.n_visible, device=self.W.device, dtype=self.W.dtype)  # (2^d, d)
            log_terms = -self.free_energy(Vs)
        return torch.logsumexp(log_terms, dim=0)

    def log_likelihood(self, v: torch.Tensor) -> torch.Tensor:
        """Exact log p(v) = -F(v) - log Z for binary v (B, d); returns (B,)."""
        self._check_v(v, binary=True)
        return -self.free_energy(v) - self.log_partition()

    def exact_gradient(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """Exact gradient of the mean log-likelihood of ``v`` w.r.t. W, b, c (autograd through log Z)."""
        params = [self.W, self.b, self.c]
        grads = torch.autograd.grad(self.log_likelihood(v).mean(), params)
        return dict(zip(("W", "b", "c"), grads, strict=True))

    @torch.no_grad()
    def cd_gradient(self, v0: torch.Tensor, k: int = 1, chain: torch.Tensor | None = None,
                    generator: torch.Generator | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """CD-k estimate of the log-likelihood gradient; returns (grads for W, b, c, final chain state).

        Positive phase: v0 and p(h | v0). Negative phase: a k-step Gibbs chain started at v0 (CD-k) or at
        ``chain`` (persistent CD: pass the chain returned by the previous call).
        """
        self._check_v(v0)
        ph0 = self.p_h_given_v(v0)  # (B, p)
        vk, phk = self.gibbs(v0 if chain is None else chain, k, generator)
        B, Bk = v0.shape[0], vk.shape[0]
        grads = {
            "W": v0.T @ ph0 / B - vk.T @ phk / Bk,  # (d, p)
            "b": v0.mean(0) - vk.mean(0),
            "c": ph0.mean(0) - phk.mean(0),
        }
        return grads, vk


def train_rbm(rbm: RBM, data: torch.Tensor, *, epochs: int = 10, lr: float = 0.05, k: int = 1,
              batch_size: int = 32, persistent: bool = False, momentum: float = 0.5,
              generator: torch.Generator | None = None,
              callback: Callable[[RBM], None] | None = None) -> list[float]:
    """Train ``rbm`` on ``data`` (N, d) with CD-k (or persistent CD) and SGD with momentum.

    ``data`` may hold probabilities in [0, 1] (e.g. the hidden activations of a lower RBM in a DBN).
    Returns the mean squared reconstruction error ||v - p(v | h ~ p(h|v))||^2 / d of each epoch
    (a cheap progress signal; it is not the likelihood). ``callback(rbm)``, if given, runs after every epoch
    (e.g. to record the exact log-likelihood of a small model).
    """
    rbm._check_v(data)
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    params = {"W": rbm.W, "b": rbm.b, "c": rbm.c}
    velocity = {name: torch.zeros_like(p) for name, p in params.items()}
    chain = torch.bernoulli(data[:batch_size].new_full((batch_size, rbm.n_visible), 0.5), generator=generator)
    errors = []
    for _ in range(epochs):
        perm = torch.randperm(data.shape[0], generator=generator, device=data.device)
        total = 0.0
        for start in range(0, data.shape[0], batch_size):
            v0 = data[perm[start : start + batch_size]]  # (B, d)
            grads, end = rbm.cd_gradient(v0, k, chain if persistent else None, generator)
            if persistent:
                chain = end
            with torch.no_grad():
                for name, p in params.items():
                    velocity[name].mul_(momentum).add_(grads[name], alpha=lr)
                    p.add_(velocity[name])  # gradient *ascent* on the log-likelihood
                h = torch.bernoulli(rbm.p_h_given_v(v0), generator=generator)
                total += float(((v0 - rbm.p_v_given_h(h)) ** 2).sum())
        errors.append(total / (data.shape[0] * rbm.n_visible))
        if callback is not None:
            callback(rbm)
    return errors


class DBN(nn.Module):
    """Deep belief network: RBMs of sizes ``sizes`` = [d, p_1, p_2, ...] trained greedily, stack by stack."""

    def __init__(self, sizes: Sequence[int], generator: torch.Generator | None = None) -> None:
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least the visible and one hidden size, got {list(sizes)}")
        self.rbms = nn.ModuleList(RBM(a, b, generator=generator) for a, b in zip(sizes[:-1], sizes[1:],
                                                                                  strict=True))

    def pretrain(self, data: torch.Tensor, **train_kwargs: object) -> list[list[float]]:
        """Greedy layer-wise training: RBM 1 on the data, RBM 2 on p(h_1 | v), and so on.

        The lower RBMs stay fixed while the next one trains. ``train_kwargs`` go to :func:`train_rbm`.
        Returns the reconstruction-error history of each RBM.
        """
        histories = []
        x = data
        for rbm in self.rbms:
            histories.append(train_rbm(rbm, x, **train_kwargs))  # type: ignore[arg-type]
            with torch.no_grad():
                x = rbm.p_h_given_v(x)  # (N, p_l): mean-field input of the next layer
        return histories

    @torch.no_grad()
    def transform(self, v: torch.Tensor) -> torch.Tensor:
        """Upward mean-field pass: the top-layer features p(h_L | ...) of ``v`` (B, d)."""
        for rbm in self.rbms:
            v = rbm.p_h_given_v(v)
        return v

    @torch.no_grad()
    def generate(self, n: int, burn_in: int = 200, generator: torch.Generator | None = None) -> torch.Tensor:
        """Top-down generation: sample the top RBM, then pass p(h_{l-1} | h_l) down to the pixels; (n, d).

        The top RBM is an undirected associative memory; the layers below act as a directed sigmoid network
        from h_L to v, which is how a DBN generates (the upward pass of :meth:`transform` recognises).
        """
        x = self.rbms[-1].sample(n, burn_in, generator)  # (n, p_{L-1}): visible means of the top RBM
        for rbm in reversed(self.rbms[:-1]):
            x = rbm.p_v_given_h(x)  # (n, d_l)
        return x

    def to_classifier(self, n_classes: int) -> nn.Sequential:
        """A feed-forward classifier initialised from the RBMs (Linear with W^T and c, then sigmoid, per
        layer) plus a fresh output layer, ready for fine-tuning on labelled data."""
        layers: list[nn.Module] = []
        for rbm in self.rbms:
            lin = nn.Linear(rbm.n_visible, rbm.n_hidden)
            with torch.no_grad():
                lin.weight.copy_(rbm.W.T)
                lin.bias.copy_(rbm.c)
            layers += [lin, nn.Sigmoid()]
        layers.append(nn.Linear(self.rbms[-1].n_hidden, n_classes))
        return nn.Sequential(*layers).to(self.rbms[0].W.device)
