"""Radial basis function network beside a one-hidden-layer MLP (lecture 004's recap).

RBF network with H Gaussian bases, centres w_h (d,) and width sigma:

    net_h = ||x - w_h||^2,   phi_h(x) = exp(-net_h / (2 sigma^2)),   z_j(x) = sum_h w_hj phi_h(x)

MLP with the same shape:  net_h = w_h^T x,  y_h = ReLU(net_h),  z_j = sum_h w_hj y_h.

Training the RBF network takes two cheap steps: the centres come from k-means (scikit-learn), and because
z is linear in the output weights, those are the least-squares solution of Phi W = Y, where Phi (N, H) holds
phi_h(x_n) (plus a column of ones when ``bias``).
"""

from __future__ import annotations

import torch
from torch import nn

from seqcourse.utils import check_ndim, check_shape

__all__ = ["RBFNetwork", "MLP"]


class RBFNetwork(nn.Module):
    """Gaussian RBF network; build it with :meth:`fit` (k-means centres, least-squares output weights)."""

    def __init__(self, centres: torch.Tensor, sigma: float, n_out: int, bias: bool = True) -> None:
        super().__init__()
        check_ndim("centres", centres, 2)
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.register_buffer("centres", centres)  # (H, d)
        self.sigma = float(sigma)
        self.bias = bias
        self.W = nn.Parameter(centres.new_zeros(centres.shape[0] + int(bias), n_out))  # (H [+1], c)

    def phi(self, X: torch.Tensor) -> torch.Tensor:
        """Design matrix Phi (N, H [+1]): phi_h(x_n) = exp(-||x_n - w_h||^2 / (2 sigma^2)) [, 1]."""
        check_shape("X", X, ("N", self.centres.shape[1]))
        net = torch.cdist(X, self.centres) ** 2  # (N, H)
        Phi = torch.exp(-net / (2 * self.sigma**2))
        if self.bias:
            Phi = torch.cat([Phi, Phi.new_ones(Phi.shape[0], 1)], dim=1)
        return Phi

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.phi(X) @ self.W  # (N, c)

    @torch.no_grad()
    def solve_output_weights(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """Set W to argmin ||Phi W - Y||^2 (minimum-norm least squares); Y (N, c). Returns W."""
        Phi = self.phi(X)
        check_shape("Y", Y, (X.shape[0], self.W.shape[1]))
        self.W.copy_(torch.linalg.pinv(Phi) @ Y)  # pinv is the minimum-norm solution on every device
        return self.W

    @classmethod
    def fit(cls, X: torch.Tensor, Y: torch.Tensor, n_centres: int, sigma: float | None = None,
            bias: bool = True, seed: int = 0) -> RBFNetwork:
        """k-means centres on X (N, d), then least-squares output weights for targets Y (N, c).

        Without ``sigma`` the width is the mean distance from each centre to its nearest other centre, so
        neighbouring bases overlap. (Haykin's d_max / sqrt(2 H) is far too narrow for, e.g., the digits.)
        """
        from sklearn.cluster import KMeans

        check_ndim("X", X, 2)
        check_ndim("Y", Y, 2)
        if not 1 <= n_centres <= X.shape[0]:
            raise ValueError(f"n_centres must lie in [1, {X.shape[0]}], got {n_centres}")
        km = KMeans(n_clusters=n_centres, n_init=4, random_state=seed).fit(X.detach().cpu().numpy())
        centres = torch.as_tensor(km.cluster_centers_, dtype=X.dtype).to(X.device)  # (H, d)
        if sigma is None:
            sigma = 1.0
            if n_centres > 1:
                D = torch.cdist(centres, centres).fill_diagonal_(float("inf"))  # (H, H)
                sigma = float(D.min(dim=1).values.mean()) or 1.0
        net = cls(centres, sigma, Y.shape[1], bias)
        net.solve_output_weights(X, Y)
        return net


class MLP(nn.Module):
    """The lecture's comparison: z = V^T ReLU(W^T x + b) + c, one hidden layer of H units."""

    def __init__(self, d: int, H: int, n_out: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(d, H)
        self.out = nn.Linear(H, n_out)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(X)))  # (N, n_out)
