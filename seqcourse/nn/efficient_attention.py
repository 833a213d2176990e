"""Efficient attention (lecture 001, "各种各样的 Attention"): ways to avoid the full N x N attention matrix.

Every function takes ``q`` (..., N, d_k), ``k`` (..., N, d_k), ``v`` (..., N, d_v) like
:func:`seqcourse.nn.attention.scaled_dot_product_attention` and returns the output (..., N, d_v) only: not
forming the N x N weights is the point. The leading dims are free, so the functions plug into
``MultiHeadAttention(..., attention_fn=...)`` on per-head tensors (B, H, N, d_k).

* skip parts of the matrix by hand: :func:`local_attention` (|t - i| <= w), :func:`strided_attention`
  ((t - i) mod s = 0), :func:`global_attention` (special tokens that see and are seen by all);
* find the large entries: :func:`clustering_attention` (k-means buckets, attend within a bucket);
* learn the pattern: :class:`LearnablePatternAttention` (learned block mask);
* shorten keys and values: :class:`LinformerAttention` (N -> k by learned projections);
* change the order of the products: :func:`linear_attention` (exp(q.k) ~ phi(q).phi(k));
* skip queries and keys: :class:`SynthesizerAttention` (a learned attention matrix);
* attention on a graph: :func:`graph_attention_mask` (attend to neighbours only, mask = A + I).

Each ``*_mask`` function gives the boolean (N, N) pattern (True = may attend) that the matching function
computes; the tests check every function against full attention restricted to its mask.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.nn.attention import attend, check_qkv, scaled_dot_product_attention
from seqcourse.utils import check_int_range, check_non_negative, check_positive

__all__ = [
    "local_mask",
    "local_attention",
    "strided_mask",
    "strided_attention",
    "global_mask",
    "global_attention",
    "kmeans_buckets",
    "clustering_attention",
    "LearnablePatternAttention",
    "LinformerAttention",
    "elu_feature_map",
    "linear_attention",
    "SynthesizerAttention",
    "graph_attention_mask",
]


def _check_self(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> int:
    check_qkv(q, k, v)
    if q.shape[-2] != k.shape[-2]:
        raise ValueError(f"this pattern needs as many queries as keys, got L={q.shape[-2]}, S={k.shape[-2]}")
    return q.shape[-2]


# ---------------------------------------------------------------------------------------------------------
# Local (truncated), strided and global attention
# ---------------------------------------------------------------------------------------------------------


def local_mask(N: int, window: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """(N, N) mask, True where |t - i| <= window."""
    pos = torch.arange(N, device=device)
    return (pos[:, None] - pos[None, :]).abs() <= window


def _windows(k: torch.Tensor, v: torch.Tensor, w: int):
    """Keys (..., N, d_k, 2w+1) and values (..., N, 2w+1, d_v) of each position's window t-w..t+w, and the
    window's key positions (N, 2w+1) (outside [0, N) where the zero padding lies)."""
    N = k.shape[-2]
    k_win = F.pad(k, (0, 0, w, w)).unfold(-2, 2 * w + 1, 1)  # (..., N, d_k, 2w + 1)
    v_win = F.pad(v, (0, 0, w, w)).unfold(-2, 2 * w + 1, 1).transpose(-2, -1)  # (..., N, 2w + 1, d_v)
    offsets = torch.arange(-w, w + 1, device=k.device)  # (2w + 1,)
    return k_win, v_win, torch.arange(N, device=k.device)[:, None] + offsets  # (N, 2w + 1)


def local_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> torch.Tensor:
    """Truncated attention: query t sees keys t - w .. t + w only; cost O(N (2w + 1) d) instead of O(N^2 d).

    Keys and values are padded by w on both sides and cut into N overlapping windows of 2w + 1; scores
    outside the sequence are masked. ``window >= N - 1`` is full attention.
    """
    N = _check_self(q, k, v)
    check_non_negative(window=window)
    w = min(window, N - 1)
    k_win, v_win, key_pos = _windows(k, v, w)
    scores = (q.unsqueeze(-2) @ k_win) / math.sqrt(q.shape[-1])  # (..., N, 1, 2w + 1)
    inside = ((key_pos >= 0) & (key_pos < N)).unsqueeze(-2)  # (N, 1, 2w + 1)
    out, _ = attend(scores, v_win, inside)  # (..., N, 1, d_v)
    return out.squeeze(-2)  # (..., N, d_v)


def strided_mask(N: int, stride: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """(N, N) mask, True where (t - i) mod stride == 0: t, t +- s, t +- 2s, ..."""
    check_positive(stride=stride)
    pos = torch.arange(N, device=device)
    return (pos[:, None] - pos[None, :]) % stride == 0


def strided_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, stride: int) -> torch.Tensor:
    """Query t sees the keys i with (t - i) mod s == 0, i.e. the positions with the same residue mod s.

    The sequence is regrouped into s interleaved subsequences (N/s positions each), and full attention runs
    inside each group: cost O(N^2 d / s).
    """
    N = _check_self(q, k, v)
    check_positive(stride=stride)
    n_rows = -(-N // stride)  # ceil(N / s)
    extra = n_rows * stride - N

    def group(x: torch.Tensor) -> torch.Tensor:  # (..., N, d) -> (..., s, N/s, d); group r: positions r mod s
        x = F.pad(x, (0, 0, 0, extra))  # (..., n_rows s, d)
        return x.unflatten(-2, (n_rows, stride)).transpose(-3, -2)

    real = torch.arange(n_rows * stride, device=q.device) < N  # (n_rows s,)
    key_mask = real.view(n_rows, stride).T.unsqueeze(-2)  # (s, 1, n_rows): padded keys are masked
    out, _ = scaled_dot_product_attention(group(q), group(k), group(v), key_mask)  # (..., s, n_rows, d_v)
    return out.transpose(-3, -2).flatten(-3, -2)[..., :N, :]  # (..., N, d_v)


def global_mask(
    N: int, n_global: int, window: int = 0, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """(N, N) mask: the first ``n_global`` tokens attend to all and are attended by all; the others also
    see their local window |t - i| <= window."""
    mask = local_mask(N, window, device=device)
    mask[:n_global, :] = True
    mask[:, :n_global] = True
    return mask


def global_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, n_global: int, window: int = 0
) -> torch.Tensor:
    """Global + local attention (Longformer-style), with the first ``n_global`` positions as special tokens.

    Rows of the global tokens are full attention (g x N); every other row attends to the g global keys plus
    its local window, one softmax over both: cost O(N (g + 2w + 1) d).
    """
    N = _check_self(q, k, v)
    check_int_range("n_global", n_global, 0, N)
    w = min(window, N - 1)
    g = n_global
    out_global, _ = scaled_dot_product_attention(q[..., :g, :], k, v)  # (..., g, d_v)
    # Ordinary rows: scores to the g global keys, then to the 2w + 1 window keys not already global.
    s_glob = q @ k[..., :g, :].transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., N, g)
    k_win, v_win, key_pos = _windows(k, v, w)
    s_win = (q.unsqueeze(-2) @ k_win).squeeze(-2) / math.sqrt(q.shape[-1])  # (..., N, 2w + 1)
    win_ok = (key_pos >= g) & (key_pos < N)  # (N, 2w + 1)
    glob_ok = torch.ones(N, g, dtype=torch.bool, device=q.device)  # (N, g)
    mask = torch.cat([glob_ok, win_ok], dim=-1).unsqueeze(-2)  # (N, 1, g + 2w + 1)
    scores = torch.cat([s_glob, s_win], dim=-1).unsqueeze(-2)  # (..., N, 1, g + 2w + 1)
    values = torch.cat([v[..., :g, :].unsqueeze(-3).expand(*v_win.shape[:-2], g, -1), v_win], dim=-2)
    out, _ = attend(scores, values, mask)  # (..., N, 1, d_v)
    return torch.cat([out_global, out.squeeze(-2)[..., g:, :]], dim=-2)  # (..., N, d_v)


# ---------------------------------------------------------------------------------------------------------
# Clustering (Reformer / Routing Transformer idea)
# ---------------------------------------------------------------------------------------------------------


def kmeans_buckets(
    q: torch.Tensor,
    k: torch.Tensor,
    num_clusters: int,
    iters: int = 10,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 1: cluster queries and keys together by k-means; return their bucket ids (..., N) and (..., S).

    Centroids start at random rows of [q; k] (per leading index) and move to the mean of their members;
    an empty cluster keeps its centroid.
    """
    check_positive(num_clusters=num_clusters)
    x = torch.cat([q, k], dim=-2).detach()  # (..., L + S, d_k)
    flat = x.reshape(-1, *x.shape[-2:])  # (M, P, d_k)
    M, P, _ = flat.shape
    C = min(num_clusters, P)
    start = torch.rand(M, P, generator=generator).argsort(-1)[:, :C].to(x.device)  # (M, C)
    centroids = flat.gather(1, start[..., None].expand(-1, -1, flat.shape[-1]))  # (M, C, d_k)
    for _ in range(iters):
        assign = torch.cdist(flat, centroids).argmin(-1)  # (M, P)
        one_hot = F.one_hot(assign, C).to(flat.dtype)  # (M, P, C)
        counts = one_hot.sum(1)  # (M, C)
        means = one_hot.transpose(1, 2) @ flat / counts.clamp(min=1)[..., None]  # (M, C, d_k)
        centroids = torch.where(counts[..., None] > 0, means, centroids)
    assign = torch.cdist(flat, centroids).argmin(-1).view(*x.shape[:-1])  # (..., L + S)
    return assign[..., : q.shape[-2]], assign[..., q.shape[-2] :]


def clustering_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    num_clusters: int,
    *,
    iters: int = 10,
    buckets: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Step 2: query t attends only to the keys in its own bucket; other weights are 0 (a query whose bucket
    holds no key gets a zero output). ``buckets`` (from :func:`kmeans_buckets`) skips the clustering.

    Runs one small attention per (leading index, bucket), on the gathered members only.
    """
    check_qkv(q, k, v)
    bq, bk = buckets if buckets is not None else kmeans_buckets(q, k, num_clusters, iters, generator)
    lead = q.shape[:-2]
    qf, kf, vf = (t.reshape(-1, *t.shape[-2:]) for t in (q, k, v))  # (M, N, d)
    bqf, bkf = bq.reshape(-1, q.shape[-2]), bk.reshape(-1, k.shape[-2])  # (M, L), (M, S)
    out = qf.new_zeros(*qf.shape[:-1], v.shape[-1])  # (M, L, d_v)
    for m in range(qf.shape[0]):
        for c in bqf[m].unique().tolist():
            rows, cols = (bqf[m] == c).nonzero().squeeze(1), (bkf[m] == c).nonzero().squeeze(1)
            if cols.numel():
                out[m, rows] = scaled_dot_product_attention(qf[m, rows], kf[m, cols], vf[m, cols])[0]
    return out.view(*lead, *out.shape[-2:])  # (..., L, d_v)


# ---------------------------------------------------------------------------------------------------------
# Learnable patterns, Linformer, synthesizer
# ---------------------------------------------------------------------------------------------------------


class LearnablePatternAttention(nn.Module):
    """Attention restricted to a learned block pattern.

    The N x N matrix is cut into blocks of ``block_size``; a learned logit P[a, b] per block pair is added to
    the scores of that block, and each query block keeps only its ``keep`` highest-logit key blocks (the
    diagonal block always stays). Gradients reach P through the kept blocks.
    """

    def __init__(self, max_len: int, block_size: int, keep: int) -> None:
        super().__init__()
        check_positive(block_size=block_size)
        check_positive(keep=keep)
        self.block_size, self.keep = block_size, keep
        n_blocks = -(-max_len // block_size)
        self.P = nn.Parameter(0.01 * torch.randn(n_blocks, n_blocks))

    def block_bias_and_mask(self, N: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, N) additive bias from P and the boolean (N, N) mask of the kept blocks."""
        nb = -(-N // self.block_size)
        if nb > self.P.shape[0]:
            raise ValueError(f"N={N} exceeds max_len={self.P.shape[0] * self.block_size}")
        P = self.P[:nb, :nb]
        diag = torch.eye(nb, dtype=torch.bool, device=P.device)
        ranked = P.detach().masked_fill(diag, math.inf)  # the diagonal block is always kept
        top = ranked.topk(min(self.keep, nb), dim=-1).indices  # (nb, keep)
        block_mask = torch.zeros(nb, nb, dtype=torch.bool, device=P.device).scatter_(1, top, True)
        block_id = torch.arange(N, device=P.device) // self.block_size  # (N,)
        return P[block_id][:, block_id], block_mask[block_id][:, block_id]

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        N = _check_self(q, k, v)
        bias, mask = self.block_bias_and_mask(N)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + bias.to(q.dtype)  # (..., N, N)
        return attend(scores, v, mask)[0]


class LinformerAttention(nn.Module):
    """Shorter keys and values: ``softmax(Q (E K)^T / sqrt(d_k)) (F V)`` with learned E, F of shape (k, N).

    The query length is unchanged (the output needs N rows); only the N keys and values are compressed to
    k << N rows, so the matrix is N x k. Sequences shorter than ``seq_len`` use the first N columns.
    """

    def __init__(self, seq_len: int, k: int) -> None:
        super().__init__()
        check_positive(seq_len=seq_len)
        check_positive(k=k)
        self.E = nn.Parameter(torch.randn(k, seq_len) / math.sqrt(seq_len))
        self.F = nn.Parameter(torch.randn(k, seq_len) / math.sqrt(seq_len))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        check_qkv(q, k, v)
        S = k.shape[-2]
        if S > self.E.shape[1]:
            raise ValueError(f"key length {S} exceeds seq_len={self.E.shape[1]}")
        E, F_ = self.E[:, :S].to(k.dtype), self.F[:, :S].to(v.dtype)
        return scaled_dot_product_attention(q, E @ k, F_ @ v)[0]  # (..., L, d_v), keys (..., k, d_k)


class SynthesizerAttention(nn.Module):
    """Random synthesizer: the attention matrix is a learned parameter R, not a function of q and k.

    ``output = softmax(R[:L, :S]) V``; ``q`` and ``k`` are accepted for the common interface and ignored.
    """

    def __init__(self, max_len: int) -> None:
        super().__init__()
        check_positive(max_len=max_len)
        self.R = nn.Parameter(0.01 * torch.randn(max_len, max_len))

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_qkv(q, k, v)
        L, S = q.shape[-2], k.shape[-2]
        if max(L, S) > self.R.shape[0]:
            raise ValueError(f"lengths L={L}, S={S} exceed max_len={self.R.shape[0]}")
        return attend(self.R[:L, :S].to(v.dtype).expand(*q.shape[:-2], L, S), v, mask)[0]


# ---------------------------------------------------------------------------------------------------------
# Linear attention: change the order of the products
# ---------------------------------------------------------------------------------------------------------


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1 > 0 (Katharopoulos et al. 2020), so that phi(q).phi(k) > 0 like exp(q.k)."""
    return F.elu(x) + 1


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    feature_map: Callable[[torch.Tensor], torch.Tensor] = elu_feature_map,
    eps: float = 1e-6,
) -> torch.Tensor:
    """``b^t = phi(q^t)^T [sum_i phi(k^i) v^i^T] / phi(q^t)^T [sum_j phi(k^j)]`` (lecture 001).

    The sums over i do not depend on t, so they are computed once: cost O(N d d') instead of O(N^2 (d + d')).
    ``causal=True`` replaces them by prefix sums over i <= t (O(N d d') memory for the running sums).
    """
    check_qkv(q, k, v)
    phi_q, phi_k = feature_map(q), feature_map(k)  # (..., L, d), (..., S, d)
    if not causal:
        kv = phi_k.transpose(-2, -1) @ v  # (..., d, d_v): sum_i phi(k^i) v^i^T
        z = phi_k.sum(dim=-2)  # (..., d): sum_j phi(k^j)
        num = phi_q @ kv  # (..., L, d_v)
        den = (phi_q * z.unsqueeze(-2)).sum(-1, keepdim=True)  # (..., L, 1)
        return num / (den + eps)
    if q.shape[-2] != k.shape[-2]:
        raise ValueError(f"causal linear attention needs L == S, got L={q.shape[-2]}, S={k.shape[-2]}")
    kv = torch.cumsum(phi_k.unsqueeze(-1) * v.unsqueeze(-2), dim=-3)  # (..., N, d, d_v): sum_{i<=t}
    z = torch.cumsum(phi_k, dim=-2)  # (..., N, d)
    num = (phi_q.unsqueeze(-2) @ kv).squeeze(-2)  # (..., N, d_v)
    den = (phi_q * z).sum(-1, keepdim=True)  # (..., N, 1)
    return num / (den + eps)


# ---------------------------------------------------------------------------------------------------------
# Self-attention on a graph
# ---------------------------------------------------------------------------------------------------------


def graph_attention_mask(A: torch.Tensor) -> torch.Tensor:
    """Boolean mask (A + I) != 0 from an adjacency matrix A (..., n, n): node t attends to itself and its
    neighbours only. Use it as the ``mask`` of any attention function."""
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"A must be a square (..., n, n) adjacency matrix, got shape {tuple(A.shape)}")
    eye = torch.eye(A.shape[-1], dtype=torch.bool, device=A.device)
    return (A != 0) | eye
