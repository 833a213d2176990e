"""Attention from the lectures' equations: convex combinations, scaled dot-product, multi-head, positions.

The package conventions (:mod:`seqcourse.nn`) hold here: batch-first row vectors ``x`` of shape
``(B, T, d)`` (lecture 004's ``d x n`` matrix ``X = [x_1, ..., x_n]`` transposed) and boolean masks with
**True = may attend**, as in ``torch.nn.functional.scaled_dot_product_attention`` (the *opposite* of
``nn.MultiheadAttention``'s ``key_padding_mask``; pass ``~mask`` when comparing with it). A query whose every
key is masked gets **zero weights and a zero output** (what ``F.scaled_dot_product_attention`` returns;
``nn.MultiheadAttention`` returns NaN there). Gradients stay finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.utils import check_floating, check_ndim, check_positive

__all__ = [
    "convex_attention",
    "additive_scores",
    "AdditiveAttention",
    "scaled_dot_product_attention",
    "check_qkv",
    "attend",
    "causal_mask",
    "lengths_to_mask",
    "positional_encoding",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "MultiHeadAttention",
    "record_attention",
]


# ---------------------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------------------


def causal_mask(L: int, S: int | None = None, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``(L, S)`` mask, True where key i <= query t: step t sees only the past and itself."""
    S = L if S is None else S
    check_positive(L=L, S=S)
    return torch.ones(L, S, dtype=torch.bool, device=device).tril()


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``(B,)`` sequence lengths -> ``(B, max_len)`` boolean mask, True on real (non-padding) positions."""
    check_ndim("lengths", lengths, 1)
    max_len = int(lengths.max()) if max_len is None else max_len
    positions = torch.arange(max_len, device=lengths.device)  # (max_len,)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, max_len)


def _check_mask(mask: torch.Tensor, scores_shape: torch.Size | tuple[int, ...]) -> None:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"mask must be a boolean tensor (True = may attend), got {got}")
    try:
        shape = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        shape = None
    if shape != tuple(scores_shape):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
            f"(..., L, S) = {tuple(scores_shape)}"
        )


def attend(scores: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None):
    """Softmax over the last axis of ``scores`` (masked), then the weighted sum of the values.

    ``scores`` (..., L, S), ``v`` (..., S, d_v), ``mask`` boolean broadcastable to (..., L, S).
    Returns ``(output (..., L, d_v), weights (..., L, S))``; a fully masked row gives zeros.
    """
    if mask is not None:
        _check_mask(mask, scores.shape)
        # A finite fill (not -inf) keeps a fully masked row NaN-free; multiplying by the mask then zeroes it.
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)  # (..., L, S)
    if mask is not None:
        weights = weights * mask
    return weights @ v, weights  # (..., L, d_v), (..., L, S)


# ---------------------------------------------------------------------------------------------------------
# Attention as a convex combination (lecture 004) and additive attention (lecture 001)
# ---------------------------------------------------------------------------------------------------------


def convex_attention(x: torch.Tensor, mask: torch.Tensor | None = None):
    """Parameter-free self-attention: ``s_ti = x_t^T x_i``, ``alpha_ti = softmax_i(s_ti)``,
    ``x'_t = sum_i alpha_ti x_i`` -- each output is a convex combination of the inputs.

    ``x`` (..., n, d) -> ``(x' (..., n, d), alpha (..., n, n))``; every row of alpha is >= 0 and sums to 1.
    """
    check_ndim("x", x, (2, 3, 4))
    s = x @ x.transpose(-2, -1)  # (..., n, n)
    return attend(s, x, mask)


def additive_scores(q: torch.Tensor, k: torch.Tensor, W_q: nn.Linear, W_k: nn.Linear, w: nn.Linear):
    """Additive (Bahdanau) scores ``s_ti = w^T tanh(W_q q_t + W_k k_i)``: (..., L, d_q), (..., S, d_k) ->
    (..., L, S)."""
    hidden = torch.tanh(W_q(q).unsqueeze(-2) + W_k(k).unsqueeze(-3))  # (..., L, S, d_h)
    return w(hidden).squeeze(-1)  # (..., L, S)


class AdditiveAttention(nn.Module):
    """Additive attention: scores from a one-hidden-layer network instead of a dot product.

    ``forward(q (..., L, d_q), k (..., S, d_k), v (..., S, d_v), mask)`` -> ``(output, weights)``.
    """

    def __init__(self, d_q: int, d_k: int, d_hidden: int) -> None:
        super().__init__()
        self.W_q = nn.Linear(d_q, d_hidden, bias=False)
        self.W_k = nn.Linear(d_k, d_hidden, bias=True)
        self.w = nn.Linear(d_hidden, 1, bias=False)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None):
        if k.shape[-2] != v.shape[-2]:
            raise ValueError(f"k and v need the same length S, got {k.shape[-2]} and {v.shape[-2]}")
        return attend(additive_scores(q, k, self.W_q, self.W_k, self.w), v, mask)


# ---------------------------------------------------------------------------------------------------------
# Scaled dot-product attention (lecture 002)
# ---------------------------------------------------------------------------------------------------------


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Raise unless ``q`` (..., L, d_k), ``k`` (..., S, d_k), ``v`` (..., S, d_v) are floating-point tensors
    whose d_k and S agree (``TypeError`` for the type, ``ValueError`` for the shapes)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        check_floating(name, t)
        if t.ndim < 2:
            raise ValueError(f"{name} must have at least 2 dims (..., length, dim), got {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k need the same d_k, got q (..., L, {q.shape[-1]}) and "
                         f"k (..., S, {k.shape[-1]})")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v need the same length S, got k (..., {k.shape[-2]}, d_k) and v "
                         f"(..., {v.shape[-2]}, d_v)")


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V``.

    Shapes: ``q`` (..., L, d_k), ``k`` (..., S, d_k), ``v`` (..., S, d_v); ``mask`` boolean, broadcastable
    to (..., L, S), True = may attend. Returns ``(output (..., L, d_v), weights (..., L, S))``.
    A query with every key masked gets zero weights and a zero output, like
    ``torch.nn.functional.scaled_dot_product_attention``.
    """
    check_qkv(q, k, v)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., L, S)
    return attend(scores, v, mask)


# ---------------------------------------------------------------------------------------------------------
# Positional encodings (lectures 001, 002)
# ---------------------------------------------------------------------------------------------------------


def positional_encoding(
    max_len: int,
    d_model: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sinusoidal encoding ``PE(pos, 2i) = sin(pos / 10000^(2i/d_model))``,
    ``PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))``, shape ``(max_len, d_model)``.

    For d_model = 4 a row is ``[sin(pos), cos(pos), sin(pos/100), cos(pos/100)]`` (lecture 002).
    ``d_model`` must be even so that every frequency has its sine and cosine.
    """
    check_positive(max_len=max_len, d_model=d_model)
    if d_model % 2:
        raise ValueError(f"d_model must be a positive even int (sin/cos pairs), got {d_model!r}")
    pos = torch.arange(max_len, dtype=torch.float64, device=device).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64, device=device)  # (d_model / 2,)
    angle = pos / 10000.0 ** (two_i / d_model)  # (max_len, d_model / 2)
    pe = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1)  # (max_len, d_model / 2, 2)
    return pe.reshape(max_len, d_model).to(dtype)


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to ``x`` (B, T, d_model); no parameters."""

    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        self.register_buffer("pe", positional_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        T = x.shape[-2]
        if offset + T > self.pe.shape[0]:
            raise ValueError(f"sequence of length {offset + T} exceeds max_len={self.pe.shape[0]}")
        return x + self.pe[offset : offset + T].to(x.dtype)  # (B, T, d_model)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a learned vector e^i per position i (lecture 001: positions 'learned from data')."""

    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        T = x.shape[-2]
        if offset + T > self.embedding.num_embeddings:
            raise ValueError(f"sequence of length {offset + T} exceeds max_len "
                             f"{self.embedding.num_embeddings}")
        positions = torch.arange(offset, offset + T, device=x.device)  # (T,)
        return x + self.embedding(positions)  # (B, T, d_model)


# ---------------------------------------------------------------------------------------------------------
# Multi-head attention (lectures 001, 002, 004)
# ---------------------------------------------------------------------------------------------------------

AttentionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class MultiHeadAttention(nn.Module):
    """Multi-head attention ``X' = W^O Concat(X^1, ..., X^H)``, ``X^h = Attn(X W_h^Q, Z W_h^K, Z W_h^V)``.

    ``W_Q``, ``W_K``, ``W_V`` hold the H heads' projections stacked (head h uses rows h d_k to (h+1) d_k - 1),
    ``W_O`` mixes the concatenated heads. ``kdim`` / ``vdim`` let keys and values come from another space
    (cross-attention from encoder outputs of size d_1 into a decoder of size d_2, lecture 004).

    ``forward(query (B, L, d_model), key (B, S, kdim) = query, value (B, S, vdim) = key)``. Masks (True = may
    attend): ``mask`` broadcastable to (B, H, L, S) -- e.g. (L, S) or (B, 1, L, S) --, ``key_mask`` (B, S) for
    padding, ``is_causal`` adds the causal mask. Returns ``(output (B, L, d_model), weights)`` where weights
    is None unless ``need_weights``: (B, L, S) averaged over heads, or (B, H, L, S) with
    ``average_weights=False``.

    Self-attention (``key is query``) projects Q, K, V with one fused matmul. Without weights requested the
    core runs ``F.scaled_dot_product_attention``; the readable path (:func:`scaled_dot_product_attention`)
    is used with ``need_weights=True`` or ``fast=False``. ``attention_fn(q, k, v) -> out`` on per-head
    tensors (B, H, T, d_k) swaps the core, e.g. for an efficient attention variant.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        *,
        kdim: int | None = None,
        vdim: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        attention_fn: AttentionFn | None = None,
    ) -> None:
        super().__init__()
        check_positive(d_model=d_model, num_heads=num_heads)
        if d_model % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide d_model={d_model}")
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.kdim, self.vdim = kdim or d_model, vdim or d_model
        self.W_Q = nn.Linear(d_model, d_model, bias=bias)
        self.W_K = nn.Linear(self.kdim, d_model, bias=bias)
        self.W_V = nn.Linear(self.vdim, d_model, bias=bias)
        self.W_O = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = dropout
        self.attention_fn = attention_fn

    # -- weight loading --------------------------------------------------------------------------------
    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of ``mha``'s weights (our module is batch-first whatever ``mha.batch_first`` says)."""
        if mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("add_bias_kv / add_zero_attn are not supported")
        bias = mha.in_proj_bias is not None
        new = cls(mha.embed_dim, mha.num_heads, kdim=mha.kdim, vdim=mha.vdim, bias=bias, dropout=mha.dropout)
        p = next(mha.parameters())
        new.to(device=p.device, dtype=p.dtype)
        d = mha.embed_dim
        if mha.in_proj_weight is not None:
            W_q, W_k, W_v = mha.in_proj_weight.detach().split(d)
        else:
            W_q, W_k, W_v = (w.detach() for w in (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight))
        with torch.no_grad():
            for lin, w in ((new.W_Q, W_q), (new.W_K, W_k), (new.W_V, W_v), (new.W_O, mha.out_proj.weight)):
                lin.weight.copy_(w)
            if bias:
                biases = mha.in_proj_bias.detach().split(d)
                for lin, b in zip((new.W_Q, new.W_K, new.W_V), biases, strict=True):
                    lin.bias.copy_(b)
                new.W_O.bias.copy_(mha.out_proj.bias)
        return new

    # -- forward ---------------------------------------------------------------------------------------
    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.d_k).transpose(1, 2)  # (B, H, T, d_k)

    def _project(self, query, key, value):
        if key is query and value is query and self.kdim == self.vdim == self.d_model:
            weight = torch.cat([self.W_Q.weight, self.W_K.weight, self.W_V.weight])  # (3 d_model, d_model)
            b = None if self.W_Q.bias is None else torch.cat([self.W_Q.bias, self.W_K.bias, self.W_V.bias])
            return F.linear(query, weight, b).chunk(3, dim=-1)  # 3 x (B, L, d_model)
        return self.W_Q(query), self.W_K(key), self.W_V(value)

    def _full_mask(self, mask, key_mask, is_causal, B, L, S, device):
        parts = []
        if mask is not None:
            if mask.dtype != torch.bool:
                raise TypeError(f"mask must be boolean (True = may attend), got {mask.dtype}")
            parts.append(mask.unsqueeze(1) if mask.ndim == 3 else mask)
        if key_mask is not None:
            if key_mask.dtype != torch.bool or tuple(key_mask.shape) != (B, S):
                raise ValueError(f"key_mask must be a boolean (B, S) = ({B}, {S}) tensor, got "
                                 f"{key_mask.dtype} {tuple(key_mask.shape)}")
            parts.append(key_mask[:, None, None, :])  # (B, 1, 1, S)
        if is_causal:
            parts.append(causal_mask(L, S, device=device))
        full = None
        for part in parts:
            full = part if full is None else full & part
        if full is not None and full.ndim > 4:
            raise ValueError(f"mask must broadcast to (B, H, L, S), got {tuple(full.shape)}")
        return full

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        mask: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        average_weights: bool = True,
        fast: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        key = query if key is None else key
        value = key if value is None else value
        check_ndim("query", query, 3)
        check_ndim("key", key, 3)
        check_ndim("value", value, 3)
        expected = (("query", query, self.d_model), ("key", key, self.kdim), ("value", value, self.vdim))
        for name, t, dim in expected:
            if t.shape[-1] != dim:
                raise ValueError(f"{name} must have last dimension {dim}, got shape {tuple(t.shape)}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"batch/length mismatch: query {tuple(query.shape)}, key {tuple(key.shape)}, "
                             f"value {tuple(value.shape)}")
        B, L, _ = query.shape
        S = key.shape[1]
        q, k, v = (self._split_heads(t) for t in self._project(query, key, value))  # (B, H, *, d_k)
        full_mask = self._full_mask(mask, key_mask, is_causal, B, L, S, query.device)
        p_drop = self.dropout if self.training else 0.0
        weights = None
        if self.attention_fn is not None:
            if full_mask is not None:
                raise ValueError("masks are not supported together with attention_fn")
            out = self.attention_fn(q, k, v)  # (B, H, L, d_k)
        elif fast and not need_weights:
            if full_mask is not None:
                _check_mask(full_mask, (B, self.num_heads, L, S))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=full_mask, dropout_p=p_drop)
        else:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)  # (B, H, L, S)
            out, weights = attend(scores, v, full_mask)  # (B, H, L, d_k), (B, H, L, S)
            if p_drop > 0:
                out = F.dropout(weights, p_drop) @ v
        out = out.transpose(1, 2).reshape(B, L, self.d_model)  # (B, L, d_model): Concat(X^1, ..., X^H)
        out = self.W_O(out)  # (B, L, d_model)
        if weights is not None and average_weights:
            weights = weights.mean(dim=1)  # (B, L, S)
        return out, weights


@contextmanager
def record_attention(model: nn.Module) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record the attention weights of every :class:`MultiHeadAttention` inside ``model``.

    Within the ``with`` block each such module runs its readable path and appends its per-head weights
    (B, H, L, S), detached, to ``records[name]``, ``name`` as in ``model.named_modules()`` (e.g.
    ``"decoder.0.cross_attn"``), one entry per call. Outputs equal the unrecorded ones up to rounding (the
    fused kernel is replaced by the explicit softmax); modules with an ``attention_fn`` are not recorded.
    The original ``forward`` methods are restored on exit.

    >>> mha = MultiHeadAttention(8, 2)
    >>> with record_attention(mha) as records:
    ...     _ = mha(torch.randn(1, 5, 8))
    >>> tuple(records[""][0].shape)
    (1, 2, 5, 5)
    """
    records: dict[str, list[torch.Tensor]] = {}
    patched = [(name, m) for name, m in model.named_modules() if isinstance(m, MultiHeadAttention)]

    def recording(name: str, original: Callable) -> Callable:
        def forward(*args, need_weights: bool = False, average_weights: bool = True, **kwargs):
            out, weights = original(*args, need_weights=True, average_weights=False, **kwargs)
            if weights is None:  # an attention_fn computes no weights
                return out, None
            records.setdefault(name, []).append(weights.detach())  # (B, H, L, S)
            if not need_weights:
                return out, None
            return out, weights.mean(dim=1) if average_weights else weights

        return forward

    for name, module in patched:
        module.forward = recording(name, module.forward)
    try:
        yield records
    finally:
        for _, module in patched:
            del module.forward  # the instance attribute; the class's forward shows through again
