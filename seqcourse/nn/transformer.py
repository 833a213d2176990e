"""The Transformer (Vaswani et al. 2017) as lectures 001, 002 and 004 build it, batch-first.

Encoder block (post-LN, the lectures' form)::

    X'  = LayerNorm(X + MultiHead(X))
    X'' = LayerNorm(X' + FFN(X')),      FFN(X) = max(0, X W_1 + b_1) W_2 + b_2

``norm_first=True`` gives the pre-LN variant ``X' = X + MultiHead(LayerNorm(X))`` (lecture 001's "Layer Norm
adjustment"). The decoder block adds masked (causal) self-attention before, and cross-attention to the
encoder output Z after. The full model embeds tokens, adds the sinusoidal positional encoding, trains with
shifted-right teacher forcing (``model.loss((src, tgt))``), and hands the decoders of
:mod:`seqcourse.decoding` a ``(step, state)`` pair from ``model.decoder(src)``. Its hyper-parameters form a
:class:`TransformerConfig`, as in nanoGPT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.decoding import Step
from seqcourse.nn.attention import (
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
)
from seqcourse.utils import check_ndim, check_non_negative, check_positive, check_token_ids

__all__ = ["FeedForward", "EncoderBlock", "DecoderBlock", "TransformerConfig", "Transformer", "shift_right"]


class FeedForward(nn.Module):
    """Position-wise ``FFN(X) = max(0, X W_1 + b_1) W_2 + b_2``: (..., d_model) -> (..., d_model)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.W_1 = nn.Linear(d_model, d_ff)
        self.W_2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.W_2(self.dropout(torch.relu(self.W_1(x))))  # (..., d_model)


def _from_torch_layer(cls: type, layer: nn.Module, norms: tuple[str, ...]) -> nn.Module:
    """Build ``cls`` with ``layer``'s sizes and copy the weights shared by encoder and decoder layers:
    self-attention, the FFN (``linear1``, ``linear2``) and the named LayerNorms."""
    if not getattr(layer, "activation_relu_or_gelu", 1) == 1:
        raise ValueError("only ReLU feed-forward layers can be copied (the lectures' FFN)")
    if not layer.self_attn.batch_first:
        raise ValueError("copy from a batch_first=True layer so both take (B, T, d_model)")
    new = cls(layer.self_attn.embed_dim, layer.self_attn.num_heads, layer.linear1.out_features,
              dropout=layer.dropout.p, norm_first=layer.norm_first).to(layer.linear1.weight)
    new.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
    with torch.no_grad():
        for ours, theirs in ((new.ffn.W_1, layer.linear1), (new.ffn.W_2, layer.linear2)):
            ours.weight.copy_(theirs.weight)
            ours.bias.copy_(theirs.bias)
    for name in norms:
        getattr(new, name).load_state_dict(getattr(layer, name).state_dict())
    return new


class EncoderBlock(nn.Module):
    """One encoder block: self-attention and FFN sublayers, each with a residual connection and LayerNorm.

    ``forward(x (B, T, d_model), key_mask (B, T) True = real token, mask (T, T) or (B, T, T))``
    -> (B, T, d_model).
    """

    def __init__(
        self, d_model: int, num_heads: int, d_ff: int, *, dropout: float = 0.0, norm_first: bool = False
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def _sa(self, x: torch.Tensor, key_mask, mask) -> torch.Tensor:
        return self.dropout(self.self_attn(x, key_mask=key_mask, mask=mask)[0])  # (B, T, d_model)

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_ndim("x", x, 3)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), key_mask, mask)
            return x + self.dropout(self.ffn(self.norm2(x)))
        x = self.norm1(x + self._sa(x, key_mask, mask))  # LayerNorm(X + MultiHead(X))
        return self.norm2(x + self.dropout(self.ffn(x)))  # LayerNorm(X + FFN(X))

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> EncoderBlock:
        """A copy of a ReLU, batch-first ``nn.TransformerEncoderLayer``."""
        return _from_torch_layer(cls, layer, ("norm1", "norm2"))


class DecoderBlock(nn.Module):
    """One decoder block: masked self-attention, cross-attention to the encoder output Z, FFN.

    Post-LN: ``Y' = LN(Y + SelfAttn(Y))``, ``Y'' = LN(Y' + CrossAttn(Y', Z))``, ``Y''' = LN(Y'' + FFN(Y''))``.
    ``forward(y (B, T, d_model), memory (B, S, d_model), memory_key_mask (B, S), key_mask (B, T),
    is_causal=True)`` -> (B, T, d_model). ``is_causal=False`` lets every position see every other (NAT).
    """

    def __init__(
        self, d_model: int, num_heads: int, d_ff: int, *, dropout: float = 0.0, norm_first: bool = False
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(
        self,
        y: torch.Tensor,
        memory: torch.Tensor,
        memory_key_mask: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        is_causal: bool = True,
    ) -> torch.Tensor:
        check_ndim("y", y, 3)
        check_ndim("memory", memory, 3)

        def sa(h: torch.Tensor) -> torch.Tensor:
            return self.dropout(self.self_attn(h, key_mask=key_mask, is_causal=is_causal)[0])

        def ca(h: torch.Tensor) -> torch.Tensor:
            return self.dropout(self.cross_attn(h, memory, memory, key_mask=memory_key_mask)[0])

        if self.norm_first:
            y = y + sa(self.norm1(y))
            y = y + ca(self.norm2(y))
            return y + self.dropout(self.ffn(self.norm3(y)))
        y = self.norm1(y + sa(y))  # (B, T, d_model)
        y = self.norm2(y + ca(y))  # (B, T, d_model)
        return self.norm3(y + self.dropout(self.ffn(y)))  # (B, T, d_model)

    @classmethod
    def from_torch(cls, layer: nn.TransformerDecoderLayer) -> DecoderBlock:
        """A copy of a ReLU, batch-first ``nn.TransformerDecoderLayer``."""
        new = _from_torch_layer(cls, layer, ("norm1", "norm2", "norm3"))
        new.cross_attn = MultiHeadAttention.from_torch(layer.multihead_attn)
        return new


def shift_right(y: torch.Tensor, bos: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: ``[bos, y_1, ..., y_{T-1}]`` from targets ``y`` (B, T)."""
    check_ndim("y", y, 2)
    return torch.cat([y.new_full((y.shape[0], 1), bos), y[:, :-1]], dim=1)  # (B, T)


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of :class:`Transformer` (the defaults train the chapters' tasks on a CPU).

    ``max_len`` bounds the positions of the positional encoding; positions equal to ``pad_id`` are masked as
    keys and ignored by the loss.
    """

    src_vocab: int
    tgt_vocab: int
    d_model: int = 64
    num_heads: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.0
    max_len: int = 256
    norm_first: bool = False
    learned_positions: bool = False
    pad_id: int = 0

    def __post_init__(self) -> None:
        check_positive(src_vocab=self.src_vocab, tgt_vocab=self.tgt_vocab, d_model=self.d_model,
                       num_heads=self.num_heads, d_ff=self.d_ff, max_len=self.max_len)
        check_non_negative(num_encoder_layers=self.num_encoder_layers,
                           num_decoder_layers=self.num_decoder_layers, pad_id=self.pad_id)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")


class Transformer(nn.Module):
    """Encoder-decoder Transformer on token ids, built from a :class:`TransformerConfig`.

    ``forward(src (B, S), tgt_in (B, T))`` -> logits (B, T, tgt_vocab), where ``tgt_in`` is the shifted-right
    target. Positions equal to ``pad_id`` in ``src`` / ``tgt_in`` are masked as keys. Token embeddings are
    scaled by sqrt(d_model) before the positional encoding is added. With ``norm_first`` a final LayerNorm
    closes each stack (as in ``nn.Transformer``).
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
        self.config = c = config
        self.d_model, self.pad_id = c.d_model, c.pad_id
        self.src_embed = nn.Embedding(c.src_vocab, c.d_model)
        self.tgt_embed = nn.Embedding(c.tgt_vocab, c.d_model)
        position = LearnedPositionalEmbedding if c.learned_positions else SinusoidalPositionalEncoding
        self.src_pos, self.tgt_pos = position(c.d_model, c.max_len), position(c.d_model, c.max_len)
        block = {"dropout": c.dropout, "norm_first": c.norm_first}
        self.encoder_layers = nn.ModuleList(
            EncoderBlock(c.d_model, c.num_heads, c.d_ff, **block) for _ in range(c.num_encoder_layers)
        )
        self.decoder_layers = nn.ModuleList(
            DecoderBlock(c.d_model, c.num_heads, c.d_ff, **block) for _ in range(c.num_decoder_layers)
        )
        self.enc_norm = nn.LayerNorm(c.d_model) if c.norm_first else nn.Identity()
        self.dec_norm = nn.LayerNorm(c.d_model) if c.norm_first else nn.Identity()
        self.out = nn.Linear(c.d_model, c.tgt_vocab)
        self.dropout = nn.Dropout(c.dropout)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``src`` (B, S) -> (memory Z (B, S, d_model), src key mask (B, S))."""
        check_token_ids("src", src, self.config.src_vocab)
        src_mask = src != self.pad_id  # (B, S)
        x = self.dropout(self.src_pos(self.src_embed(src) * math.sqrt(self.d_model)))  # (B, S, d_model)
        for block in self.encoder_layers:
            x = block(x, key_mask=src_mask)
        return self.enc_norm(x), src_mask

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """``tgt_in`` (B, T) attends causally to itself and to ``memory`` -> logits (B, T, tgt_vocab)."""
        check_token_ids("tgt_in", tgt_in, self.config.tgt_vocab)
        y = self.dropout(self.tgt_pos(self.tgt_embed(tgt_in) * math.sqrt(self.d_model)))  # (B, T, d_model)
        for block in self.decoder_layers:
            y = block(y, memory, memory_key_mask=src_mask, is_causal=True)
        return self.out(self.dec_norm(y))  # (B, T, tgt_vocab)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory, src_mask = self.encode(src)
        return self.decode(tgt_in, memory, src_mask)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Teacher-forcing cross-entropy for ``batch = (src, tgt)``, ``tgt = [bos, y_1..y_n, eos, pad..]``.

        The decoder reads ``tgt[:, :-1]`` (the shifted-right target) and predicts ``tgt[:, 1:]``; ``pad_id``
        targets are ignored.
        """
        src, tgt = batch
        logits = self(src, tgt[:, :-1])  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=self.pad_id)

    def decoder(self, src: torch.Tensor) -> tuple[Step, tuple[torch.Tensor, torch.Tensor]]:
        """``(step, state)`` for :mod:`seqcourse.decoding`: ``step(prefix (B, t), state) -> (log p, state)``.

        The state is ``(memory, src_mask)`` (batch at dim 0, so beam search can reorder it); each step
        re-reads the whole prefix, which is simple and exact (no key/value cache).
        """
        memory, src_mask = self.encode(src)

        def step(prefix: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
            logits = self.decode(prefix, *state)[:, -1]  # (B, V)
            return torch.log_softmax(logits, dim=-1), state

        return step, (memory, src_mask)
