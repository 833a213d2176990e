"""Graph neural networks from lecture 004 (section 6.9.8): message passing, GCN, readout, prediction heads.

The lecture's simple layer, with W in R^{d x d'} shared by all nodes (we write h_j W for a row vector h_j,
the lecture's "W h_j"):

    m_{j->i} = h_j W                                  message from neighbour j to node i
    m_i      = (1 / d_i) sum_{j in N(i)} m_{j->i}     mean aggregation, d_i = |N(i)|
    h'_i     = sigma(h_i W + m_i)                     node update

and in matrix form H' = sigma((I + D^{-1} A) H W) with A (n, n), D = diag(d_i), H (n, d), W (d, d').

**Isolated nodes** (d_i = 0) have no neighbours, so D^{-1} does not exist. We take the mean over an empty
set to be the zero vector (m_i = 0), i.e. the row of D^{-1} A is zero and h'_i = sigma(h_i W).

Graph conventions (``A``, ``edge_index`` with columns (j, i) for messages j -> i, ``batch``) follow
:mod:`seqcourse.data.graphs`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from seqcourse.data.graphs import edge_index_from_adjacency
from seqcourse.nn.attention import scaled_dot_product_attention
from seqcourse.utils import check_ndim, check_positive, check_shape

__all__ = [
    "mean_message_passing",
    "mean_message_passing_loops",
    "mean_normalized_adjacency",
    "gcn_normalized_adjacency",
    "aggregate",
    "readout",
    "MeanMessagePassing",
    "GCNLayer",
    "MPNNLayer",
    "ConcatMLP",
    "NodeClassifier",
    "EdgePredictor",
    "GraphClassifier",
    "mean_pairwise_cosine",
    "oversmoothing_curve",
    "grid_convolution_as_messages",
    "adjacency_attention",
    "TreeMatchGNN",
]

Activation = Callable[[torch.Tensor], torch.Tensor]
AGGREGATIONS = ("sum", "mean", "max")


def _check_graph(A: torch.Tensor, H: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
    """Validate A (n, n), H (n, d) and W (d, d'); return A in H's dtype (A only encodes structure)."""
    for name, t in (("A", A), ("H", H), ("W", W)):
        if t is not None and not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    check_ndim("A", A, 2)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square (n, n), got shape {tuple(A.shape)}")
    check_shape("H", H, (A.shape[0], "d"))
    if not H.is_floating_point():
        raise TypeError(f"H must be a floating-point tensor, got {H.dtype}")
    if W is not None:
        check_shape("W", W, (H.shape[1], "d_out"))
        if W.dtype != H.dtype:
            raise TypeError(f"W ({W.dtype}) and H ({H.dtype}) must have the same dtype")
    return A.to(H.dtype)


def mean_normalized_adjacency(A: torch.Tensor) -> torch.Tensor:
    """D^{-1} A (n, n): row i averages over the neighbours of i; rows of isolated nodes are zero."""
    deg = A.sum(dim=1, keepdim=True)  # (n, 1)
    return torch.where(deg > 0, A / deg.clamp(min=torch.finfo(A.dtype).tiny), torch.zeros_like(A))


def gcn_normalized_adjacency(A: torch.Tensor) -> torch.Tensor:
    """Kipf & Welling's D~^{-1/2} (A + I) D~^{-1/2} (n, n), where D~ is the degree matrix of A + I.

    The self-loop makes every degree >= 1, so isolated nodes just keep their own (scaled) features.
    """
    check_ndim("A", A, 2)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square (n, n), got shape {tuple(A.shape)}")
    A_tilde = A + torch.eye(A.shape[0], device=A.device, dtype=A.dtype)  # (n, n)
    d_inv_sqrt = A_tilde.sum(dim=1).rsqrt()  # (n,)
    return d_inv_sqrt[:, None] * A_tilde * d_inv_sqrt[None, :]


def mean_message_passing(
    A: torch.Tensor, H: torch.Tensor, W: torch.Tensor, activation: Activation | None = torch.relu
) -> torch.Tensor:
    """Lecture 004's layer in matrix form: H' = sigma((I + D^{-1} A) H W).

    A (n, n) adjacency (weighted entries are allowed; D is then the weighted degree), H (n, d) node
    features, W (d, d'); returns H' (n, d'). ``activation=None`` leaves out sigma. Isolated nodes get
    m_i = 0, hence h'_i = sigma(h_i W) (see the module docstring).
    """
    A = _check_graph(A, H, W)
    HW = H @ W  # (n, d'): the messages h_j W, computed once per node
    out = HW + mean_normalized_adjacency(A) @ HW  # (n, d') = (I + D^{-1} A) H W
    return activation(out) if activation is not None else out


def mean_message_passing_loops(
    A: torch.Tensor, H: torch.Tensor, W: torch.Tensor, activation: Activation | None = torch.relu
) -> torch.Tensor:
    """The same layer written with explicit loops over nodes and edges (slow; for reading and testing)."""
    A = _check_graph(A, H, W)
    n = A.shape[0]
    rows = []
    for i in range(n):
        m_i = H.new_zeros(W.shape[1])  # (d',)
        d_i = A.new_zeros(())
        for j in range(n):
            if A[i, j] != 0:
                m_i = m_i + A[i, j] * (H[j] @ W)  # message m_{j->i} = h_j W
                d_i = d_i + A[i, j]
        if d_i > 0:
            m_i = m_i / d_i
        rows.append(H[i] @ W + m_i)
    out = torch.stack(rows)  # (n, d')
    return activation(out) if activation is not None else out


def aggregate(
    messages: torch.Tensor, index: torch.Tensor, num_targets: int, how: str = "mean"
) -> torch.Tensor:
    """Order-invariant Aggr: combine ``messages`` (E, d) into (num_targets, d) by target ``index`` (E,).

    ``how`` is "sum", "mean" or "max". A target that receives no message gets the zero vector.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"how must be one of {AGGREGATIONS}, got {how!r}")
    check_ndim("messages", messages, 2)
    check_shape("index", index, (messages.shape[0],))
    out = messages.new_zeros(num_targets, messages.shape[1])  # (n, d)
    if how == "max":
        idx = index[:, None].expand_as(messages)
        return out.scatter_reduce(0, idx, messages, reduce="amax", include_self=False)
    out = out.index_add(0, index, messages)
    if how == "mean":
        count = torch.bincount(index, minlength=num_targets).clamp(min=1).to(messages.dtype)  # (n,)
        out = out / count[:, None]
    return out


def readout(H: torch.Tensor, batch: torch.Tensor | None = None, num_graphs: int | None = None,
            how: str = "mean") -> torch.Tensor:
    """Graph-level pooling of node features H (N, d) into (G, d); ``batch`` (N,) maps nodes to graphs.

    Without ``batch`` all nodes belong to one graph and the result has shape (1, d).
    """
    check_ndim("H", H, 2)
    if batch is None:
        batch = torch.zeros(H.shape[0], dtype=torch.long, device=H.device)
    G = int(batch.max()) + 1 if num_graphs is None else num_graphs
    return aggregate(H, batch, G, how)


class MeanMessagePassing(nn.Module):
    """The lecture layer H' = sigma((I + D^{-1} A) H W) with a learnable W (d, d')."""

    def __init__(self, d: int, d_out: int, activation: Activation | None = torch.relu) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.empty(d, d_out))
        nn.init.xavier_uniform_(self.W)
        self.activation = activation

    def forward(self, A: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
        return mean_message_passing(A, H, self.W, self.activation)


class GCNLayer(nn.Module):
    """Graph convolution H' = D~^{-1/2} (A + I) D~^{-1/2} H W + b (activation applied by the caller)."""

    def __init__(self, d: int, d_out: int, bias: bool = True) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.empty(d, d_out))
        nn.init.xavier_uniform_(self.W)
        self.b = nn.Parameter(torch.zeros(d_out)) if bias else None

    def forward(self, A: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
        A = _check_graph(A, H, self.W)
        out = gcn_normalized_adjacency(A) @ (H @ self.W)  # (n, d')
        return out + self.b if self.b is not None else out


class ConcatMLP(nn.Module):
    """f(x_1, ..., x_k) = MLP([x_1; ...; x_k]): concatenate the inputs (last axis), then a 2-layer MLP."""

    def __init__(self, d_in: int, d_out: int, d_hidden: int | None = None) -> None:
        super().__init__()
        d_hidden = d_hidden or d_out
        self.net = nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat(xs, dim=-1))


class MPNNLayer(nn.Module):
    """The general message-passing layer of lecture 004, with functions shared by all nodes and edges:

        m_{j->i}  = f_m(h_i, h_j, h_{j->i})                         message on edge j -> i
        m_i       = Aggr({m_{j->i} : j in N(i)})                    "sum" | "mean" | "max"
        h'_i      = f_node(h_i, m_i)                                node update
        h'_{j->i} = f_edge(h_i, m_i, h_j, m_j, h_{j->i})            edge update (optional)

    ``forward(H, edge_index, E=None)`` takes H (n, d), edge_index (2, n_edges) with columns (j, i) and edge
    features E (n_edges, d_e) (pass None when the graph has none: f_m then gets an empty (n_edges, 0)
    tensor). Returns (H', E'), E' is None without ``f_edge``.
    """

    def __init__(self, f_m: Callable[..., torch.Tensor], f_node: Callable[..., torch.Tensor],
                 f_edge: Callable[..., torch.Tensor] | None = None, aggr: str = "mean") -> None:
        super().__init__()
        if aggr not in AGGREGATIONS:
            raise ValueError(f"aggr must be one of {AGGREGATIONS}, got {aggr!r}")
        self.f_m, self.f_node, self.f_edge, self.aggr = f_m, f_node, f_edge, aggr

    def forward(self, H: torch.Tensor, edge_index: torch.Tensor,
                E: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_ndim("H", H, 2)
        check_shape("edge_index", edge_index, (2, "n_edges"))
        src, dst = edge_index[0], edge_index[1]  # (n_edges,) each: j and i
        if E is None:
            E = H.new_zeros(edge_index.shape[1], 0)
        check_shape("E", E, (edge_index.shape[1], "d_e"))
        h_i, h_j = H[dst], H[src]  # (n_edges, d)
        messages = self.f_m(h_i, h_j, E)  # (n_edges, d_m)
        M = aggregate(messages, dst, H.shape[0], self.aggr)  # (n, d_m)
        H_new = self.f_node(H, M)  # (n, d')
        E_new = self.f_edge(h_i, M[dst], h_j, M[src], E) if self.f_edge is not None else None
        return H_new, E_new


def _gcn_stack(d_in: int, d_hidden: int, num_layers: int) -> nn.ModuleList:
    sizes = [d_in] + [d_hidden] * num_layers
    return nn.ModuleList(GCNLayer(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def _encode(layers: nn.ModuleList, A: torch.Tensor, H: torch.Tensor, dropout: float,
            training: bool) -> torch.Tensor:
    for layer in layers:
        H = torch.relu(layer(A, nn.functional.dropout(H, dropout, training)))  # (n, d_hidden)
    return H


class NodeClassifier(nn.Module):
    """Node-level prediction y_i = f_theta(h_i^{(L)}): L GCN layers, then a linear layer per node."""

    def __init__(self, d_in: int, d_hidden: int, n_classes: int, num_layers: int = 2,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.layers = _gcn_stack(d_in, d_hidden, num_layers)
        self.out = nn.Linear(d_hidden, n_classes)
        self.dropout = dropout

    def forward(self, A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        return self.out(_encode(self.layers, A, X, self.dropout, self.training))  # (n, n_classes)


class EdgePredictor(nn.Module):
    """Edge-level prediction y_ij = f_theta(h_i^{(L)}, h_j^{(L)}): GCN layers, then an MLP on [h_i; h_j]."""

    def __init__(self, d_in: int, d_hidden: int, n_out: int = 1, num_layers: int = 2) -> None:
        super().__init__()
        self.layers = _gcn_stack(d_in, d_hidden, num_layers)
        self.f_theta = ConcatMLP(2 * d_hidden, n_out, d_hidden)

    def forward(self, A: torch.Tensor, X: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """``pairs`` (2, P) lists node pairs (i, j) as columns; returns scores (P, n_out)."""
        check_shape("pairs", pairs, (2, "P"))
        H = _encode(self.layers, A, X, 0.0, self.training)  # (n, d_hidden)
        return self.f_theta(H[pairs[0]], H[pairs[1]])


class GraphClassifier(nn.Module):
    """Graph-level prediction y_G = f_theta(pooling({h_i^{(L)}})): GCN layers, readout, then an MLP."""

    def __init__(self, d_in: int, d_hidden: int, n_classes: int, num_layers: int = 2,
                 pooling: str = "sum") -> None:
        super().__init__()
        if pooling not in AGGREGATIONS:
            raise ValueError(f"pooling must be one of {AGGREGATIONS}, got {pooling!r}")
        self.layers = _gcn_stack(d_in, d_hidden, num_layers)
        self.f_theta = ConcatMLP(d_hidden, n_classes, d_hidden)
        self.pooling = pooling

    def forward(self, A: torch.Tensor, X: torch.Tensor, batch: torch.Tensor | None = None,
                num_graphs: int | None = None) -> torch.Tensor:
        H = _encode(self.layers, A, X, 0.0, self.training)  # (N, d_hidden)
        return self.f_theta(readout(H, batch, num_graphs, self.pooling))  # (G, n_classes)


def mean_pairwise_cosine(H: torch.Tensor) -> float:
    """Mean cosine similarity between the rows of H (n, d) over all pairs i != j (1 = fully smoothed)."""
    check_ndim("H", H, 2)
    n = H.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 nodes, got {n}")
    U = nn.functional.normalize(H, dim=1)  # (n, d) unit rows (zero rows stay zero)
    S = U @ U.T  # (n, n)
    return float((S.sum() - S.diagonal().sum()) / (n * (n - 1)))


def oversmoothing_curve(A: torch.Tensor, H: torch.Tensor, depth: int, *, random_weights: bool = False,
                        seed: int = 0) -> list[float]:
    """Mean pairwise cosine of the node features after 0, 1, ..., ``depth`` lecture layers.

    Each layer is H <- (I + D^{-1} A) H W. With ``random_weights=False`` W = I/2 (pure smoothing, no
    activation); otherwise W is a fresh orthogonal matrix per layer (so the norm neither grows nor
    collapses) followed by ReLU. The similarity rises towards 1 as depth grows: over-smoothing.
    """
    A = _check_graph(A, H)
    gen = torch.Generator().manual_seed(seed)
    d = H.shape[1]
    sims = [mean_pairwise_cosine(H)]
    for _ in range(depth):
        if random_weights:
            Q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
            H = mean_message_passing(A, H, Q.to(device=H.device, dtype=H.dtype), torch.relu)
        else:
            W = 0.5 * torch.eye(d, device=H.device, dtype=H.dtype)
            H = mean_message_passing(A, H, W, activation=None)
        sims.append(mean_pairwise_cosine(H))
    return sims


def grid_convolution_as_messages(X: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """A 2-D convolution written as message passing on the pixel grid (zero padding, stride 1).

    Every pixel is a node i with feature h_i = X[:, r, c] (C,); its neighbours are the pixels j at the
    offsets (dr, dc) of a k x k window. The message weight depends on the offset, not only on the edge:

        h'_i = sum_{(dr, dc)} K[:, :, dr + k//2, dc + k//2] h_{(r + dr, c + dc)}

    i.e. one weight matrix per relative position (the lecture's layer shares one W for all neighbours).
    X (C, H, W), kernel (C', C, k, k) with odd k; returns (C', H, W) = F.conv2d(X, kernel, padding=k//2).
    """
    check_ndim("X", X, 3)
    check_ndim("kernel", kernel, 4)
    C, Hh, Ww = X.shape
    k = kernel.shape[-1]
    if kernel.shape[1] != C or kernel.shape[2] != k or k % 2 == 0:
        raise ValueError(f"kernel must be (C', {C}, k, k) with odd k, got {tuple(kernel.shape)}")
    H = X.reshape(C, Hh * Ww).T  # (n, C): node features, n = H * W pixels
    rows = torch.arange(Hh, device=X.device).repeat_interleave(Ww)  # (n,)
    cols = torch.arange(Ww, device=X.device).repeat(Hh)  # (n,)
    out = H.new_zeros(Hh * Ww, kernel.shape[0])  # (n, C')
    for dr in range(-(k // 2), k // 2 + 1):
        for dc in range(-(k // 2), k // 2 + 1):
            r, c = rows + dr, cols + dc
            ok = (r >= 0) & (r < Hh) & (c >= 0) & (c < Ww)  # edges j -> i that exist (inside the image)
            i, j = torch.nonzero(ok).flatten(), (r * Ww + c)[ok]
            W_offset = kernel[:, :, dr + k // 2, dc + k // 2]  # (C', C): the weight of this position
            out = out.index_add(0, i, H[j] @ W_offset.T)  # messages W_offset h_j summed into node i
    return out.T.reshape(-1, Hh, Ww)  # (C', H, W)


def adjacency_attention(A: torch.Tensor, H: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor,
                        W_v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-attention restricted to the graph: node i attends only to j in N(i) and to itself.

        alpha_ij = softmax_{j in N(i) + {i}} ( (h_i W_q) . (h_j W_k) / sqrt(d_k) )
        h'_i     = sum_j alpha_ij h_j W_v

    A (n, n), H (n, d), W_q and W_k (d, d_k), W_v (d, d_v); returns (H' (n, d_v), alpha (n, n)).
    With W_q = 0 all scores are equal and h'_i is the mean of h_j W_v over N(i) + {i}; with a complete
    graph it is ordinary self-attention.
    """
    A = _check_graph(A, H, W_v)
    mask = (A != 0) | torch.eye(A.shape[0], dtype=torch.bool, device=A.device)  # (n, n): edges + self
    return scaled_dot_product_attention(H @ W_q, H @ W_k, H @ W_v, mask)


class TreeMatchGNN(nn.Module):
    """A GNN for the tree "neighbours match" task (:func:`seqcourse.data.graphs.tree_neighbors_match`).

    ``num_layers`` sum-aggregation layers h'_i = relu(h_i W_self + sum_{j in N(i)} h_j W_nb + b) on the
    tree, then a linear classifier on the root h_0. With ``rewire_last=True`` the last layer is replaced
    by a fully adjacent one: the root attends to every node (scaled dot-product attention), so leaf
    information reaches it in one hop instead of squeezing through the inner nodes.

    ``forward(A (n, n), X (B, n, d_in))`` -> logits (B, n_classes); all B samples share the tree A.
    """

    def __init__(self, d_in: int, d: int, n_classes: int, num_layers: int, rewire_last: bool = False) -> None:
        super().__init__()
        check_positive(d_in=d_in, d=d, n_classes=n_classes, num_layers=num_layers)
        self.embed = nn.Linear(d_in, d)
        n_local = num_layers - 1 if rewire_last else num_layers
        self.W_self = nn.ModuleList(nn.Linear(d, d) for _ in range(n_local))
        self.W_nb = nn.ModuleList(nn.Linear(d, d, bias=False) for _ in range(n_local))
        self.attn = nn.ModuleList(nn.Linear(d, d, bias=False) for _ in range(3)) if rewire_last else None
        self.out = nn.Linear(d, n_classes)

    def forward(self, A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        check_ndim("X", X, 3)
        check_shape("A", A, (X.shape[1], X.shape[1]))
        A = A.to(X.dtype)
        H = torch.relu(self.embed(X))  # (B, n, d)
        for W_self, W_nb in zip(self.W_self, self.W_nb, strict=True):
            H = H + torch.relu(W_self(H) + W_nb(A @ H))  # (B, n, d): one hop of messages, residual
        root = H[:, :1]  # (B, 1, d)
        if self.attn is not None:
            W_q, W_k, W_v = self.attn
            m, _ = scaled_dot_product_attention(W_q(root), W_k(H), W_v(H))  # (B, 1, d): all nodes -> root
            root = torch.relu(root + m)
        return self.out(root[:, 0])  # (B, n_classes)


def _demo() -> None:  # pragma: no cover - run by hand: python -m seqcourse.nn.gnn
    from seqcourse.data.graphs import karate_club

    g = karate_club()
    print("edges:", edge_index_from_adjacency(g.A).shape[1] // 2)
    print("over-smoothing:", [round(s, 3) for s in oversmoothing_curve(g.A, g.X, 8)])


if __name__ == "__main__":  # pragma: no cover
    _demo()
