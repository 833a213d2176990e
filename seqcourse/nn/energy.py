"""Boltzmann machine (lecture 004, section 6.9.2), exact for small models by enumerating every state.

A Boltzmann machine is a stochastic Hopfield network with binary units s in {0, 1}^n, the first
``n_visible`` of them visible (v) and the rest hidden (h), s = [v; h]:

    E(s) = -1/2 s^T W s - b^T s            W symmetric with zero diagonal
    p(s) = exp(-E(s)) / Z,   Z = sum_s exp(-E(s))
    p(v) = sum_h p([v; h])
    p(s_i = 1 | s_{-i}) = sigma(b_i + sum_j w_ij s_j)                 the Gibbs-sampling conditional

The gradient of the mean log-likelihood is the lecture's learning rule
    d/dw_ij = <s_i s_j>_data - <s_i s_j>_model,
where "data" clamps v to the training vectors and averages h over p(h | v). :func:`all_binary_states` is the
enumeration helper the RBM module uses as well.
"""

from __future__ import annotations

import torch
from torch import nn

from seqcourse.utils import check_ndim

__all__ = ["all_binary_states", "check_binary", "BoltzmannMachine"]

MAX_ENUMERATED_UNITS = 20


def all_binary_states(n: int, *, device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """All 2^n binary vectors as rows of a (2^n, n) tensor, in binary counting order (row k = bits of k)."""
    if not isinstance(n, int) or not 0 <= n <= MAX_ENUMERATED_UNITS:
        raise ValueError(f"n must be an int in [0, {MAX_ENUMERATED_UNITS}] for enumeration, got {n!r}")
    k = torch.arange(2**n, device=device)  # (2^n,)
    bits = 2 ** torch.arange(n - 1, -1, -1, device=device)  # (n,) most significant first
    return ((k[:, None] // bits) % 2).to(dtype)


def check_binary(name: str, x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless every entry of ``x`` is 0 or 1."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not bool(((x == 0) | (x == 1)).all()):
        bad = x[(x != 0) & (x != 1)].flatten()[:3].tolist()
        raise ValueError(f"{name} must contain only 0 and 1 (binary units), got values such as {bad}")


class BoltzmannMachine(nn.Module):
    """A fully connected Boltzmann machine with ``n_visible`` + ``n_hidden`` binary units."""

    def __init__(self, n_visible: int, n_hidden: int = 0, init_std: float = 0.1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        n = n_visible + n_hidden
        if n_visible < 1 or n_hidden < 0 or n > MAX_ENUMERATED_UNITS:
            raise ValueError(f"need n_visible >= 1, n_hidden >= 0 and at most {MAX_ENUMERATED_UNITS} units, "
                             f"got {n_visible} and {n_hidden}")
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.W_raw = nn.Parameter(init_std * torch.randn(n, n, generator=generator))
        self.b = nn.Parameter(torch.zeros(n))

    @property
    def W(self) -> torch.Tensor:
        """Symmetric weights with zero diagonal (n, n), built from the strict upper triangle of W_raw."""
        U = torch.triu(self.W_raw, diagonal=1)
        return U + U.T

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """E(s) = -1/2 s^T W s - b^T s for s (B, n); returns (B,)."""
        return -0.5 * ((s @ self.W) * s).sum(-1) - s @ self.b

    def _states(self) -> torch.Tensor:
        return all_binary_states(self.W_raw.shape[0], device=self.b.device, dtype=self.b.dtype)

    def log_partition(self) -> torch.Tensor:
        """log Z = log sum_s exp(-E(s)) by enumerating all 2^n states."""
        return torch.logsumexp(-self.energy(self._states()), dim=0)

    def probabilities(self) -> torch.Tensor:
        """p(s) for every state, in the order of :func:`all_binary_states` (2^n,)."""
        return torch.softmax(-self.energy(self._states()), dim=0)

    def log_likelihood(self, v: torch.Tensor) -> torch.Tensor:
        """log p(v) = log sum_h exp(-E([v; h])) - log Z for v (B, n_visible) in {0, 1}; returns (B,)."""
        check_ndim("v", v, 2)
        if v.shape[1] != self.n_visible:
            raise ValueError(f"v must have {self.n_visible} columns, got shape {tuple(v.shape)}")
        check_binary("v", v)
        H = all_binary_states(self.n_hidden, device=v.device, dtype=v.dtype)  # (2^p, p)
        B, K = v.shape[0], H.shape[0]
        s = torch.cat([v[:, None, :].expand(B, K, -1), H[None].expand(B, K, -1)], dim=-1)  # (B, 2^p, n)
        log_unnorm = torch.logsumexp(-self.energy(s.reshape(B * K, -1)).reshape(B, K), dim=1)  # (B,)
        return log_unnorm - self.log_partition()

    def conditional(self, s: torch.Tensor, i: int) -> torch.Tensor:
        """p(s_i = 1 | all other units) = sigma(b_i + sum_j w_ij s_j) for s (B, n); returns (B,)."""
        return torch.sigmoid(self.b[i] + s @ self.W[:, i])  # w_ii = 0, so s_i itself does not count

    @torch.no_grad()
    def gibbs_sweep(self, s: torch.Tensor, clamp_visible: bool = False,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Resample every unit (every hidden unit when ``clamp_visible``) once from its conditional."""
        check_binary("s", s)
        s = s.clone()
        for i in range(self.n_visible if clamp_visible else 0, s.shape[1]):
            s[:, i] = torch.bernoulli(self.conditional(s, i), generator=generator)
        return s

    def correlations(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(<s s^T>_data, <s s^T>_model) by enumeration: the two phases of the learning rule (n, n) each."""
        with torch.no_grad():
            S = self._states()  # (2^n, n)
            p_model = self.probabilities()  # (2^n,)
            model = S.T @ (p_model[:, None] * S)
            # clamped phase: p(h | v) for each data vector, i.e. p(s) restricted to states whose v matches
            match = (S[None, :, : self.n_visible] == v[:, None, :]).all(-1)  # (B, 2^n)
            logits = torch.where(match, -self.energy(S)[None], S.new_tensor(float("-inf")))
            p_clamped = torch.softmax(logits, dim=1).mean(0)  # (2^n,) averaged over the data
            data = S.T @ (p_clamped[:, None] * S)
        return data, model
