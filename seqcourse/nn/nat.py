"""Non-autoregressive Transformer (NAT, lecture 001): every output token in one parallel pass.

An autoregressive decoder (AT) needs y_1 .. y_{t-1} before it can emit y_t. A NAT decoder instead reads only
position queries (the positional encodings of 0 .. n-1), attends to itself without a causal mask and to
the encoder output Z, and predicts all n tokens at once. The output length n comes from a separate
**length predictor**: a classifier on the mean of Z over the real source positions.

``NATransformer.generate(src)`` therefore costs one decoder pass instead of n. It follows the protocol of
the other sequence models: ``loss((src, y))`` and ``decoder(src) -> (step, state)``, where the state is the
table of log-probabilities that one pass computed and each step reads its row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.decoding import Step
from seqcourse.nn.attention import SinusoidalPositionalEncoding, lengths_to_mask
from seqcourse.nn.transformer import DecoderBlock, EncoderBlock
from seqcourse.utils import check_non_negative, check_positive, check_token_ids

__all__ = ["NATConfig", "NATransformer"]


@dataclass(frozen=True)
class NATConfig:
    """Hyper-parameters of :class:`NATransformer`; ``max_len`` is the longest output it can predict."""

    src_vocab: int
    tgt_vocab: int
    max_len: int
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 128
    pad_id: int = 0

    def __post_init__(self) -> None:
        check_positive(src_vocab=self.src_vocab, tgt_vocab=self.tgt_vocab, max_len=self.max_len,
                       d_model=self.d_model, num_heads=self.num_heads, d_ff=self.d_ff)
        check_non_negative(num_layers=self.num_layers, pad_id=self.pad_id)


class NATransformer(nn.Module):
    """Encoder, length predictor and a non-causal decoder on position queries.

    ``forward(src (B, S), length (B,))`` -> ``(token logits (B, T, V) with T = max(length),
    length logits (B, max_len + 1))``.
    """

    def __init__(self, config: NATConfig) -> None:
        super().__init__()
        if not isinstance(config, NATConfig):
            raise TypeError(f"config must be a NATConfig, got {type(config).__name__}")
        self.config = c = config
        self.d_model, self.max_len, self.pad_id = c.d_model, c.max_len, c.pad_id
        self.src_embed = nn.Embedding(c.src_vocab, c.d_model)
        self.pos = SinusoidalPositionalEncoding(c.d_model, c.max_len + 64)
        self.query = nn.Parameter(0.02 * torch.randn(c.d_model))  # shared query vector, plus the position
        self.encoder_layers = nn.ModuleList(
            EncoderBlock(c.d_model, c.num_heads, c.d_ff) for _ in range(c.num_layers)
        )
        self.decoder_layers = nn.ModuleList(
            DecoderBlock(c.d_model, c.num_heads, c.d_ff) for _ in range(c.num_layers)
        )
        self.length_head = nn.Linear(c.d_model, c.max_len + 1)  # classes 0 .. max_len
        self.out = nn.Linear(c.d_model, c.tgt_vocab)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (memory Z (B, S, d_model), source mask (B, S), length logits (B, max_len + 1))."""
        check_token_ids("src", src, self.config.src_vocab)
        src_mask = src != self.pad_id  # (B, S)
        z = self.pos(self.src_embed(src) * math.sqrt(self.d_model))  # (B, S, d_model)
        for block in self.encoder_layers:
            z = block(z, key_mask=src_mask)
        weights = src_mask.to(z.dtype).unsqueeze(-1)  # (B, S, 1)
        pooled = (z * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, d_model): mean over real positions
        return z, src_mask, self.length_head(pooled)

    def decode(
        self, memory: torch.Tensor, src_mask: torch.Tensor, length: torch.Tensor, T: int | None = None
    ) -> torch.Tensor:
        """All positions in parallel: queries PE(0 .. T-1) + q, no causal mask -> logits (B, T, V).

        ``T`` defaults to max(length) (which reads the lengths' values).
        """
        B = length.shape[0]
        T = max(int(length.max()), 1) if T is None else T
        y = self.pos(self.query.expand(B, T, self.d_model))  # (B, T, d_model)
        tgt_mask = lengths_to_mask(length, T)  # (B, T)
        for block in self.decoder_layers:
            y = block(y, memory, memory_key_mask=src_mask, key_mask=tgt_mask, is_causal=False)
        return self.out(y)  # (B, T, V)

    def forward(self, src: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memory, src_mask, length_logits = self.encode(src)
        return self.decode(memory, src_mask, length), length_logits

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Token cross-entropy over the real target positions plus the length classifier's cross-entropy.

        ``batch = (src (B, S), y (B, T))`` with ``y`` padded by ``pad_id``; the true lengths come from ``y``.
        """
        src, y = batch
        length = (y != self.pad_id).sum(1)  # (B,)
        logits, length_logits = self(src, length)  # (B, T', V), (B, max_len + 1)
        y = y[:, : logits.shape[1]]
        token_loss = F.cross_entropy(logits.flatten(0, 1), y.reshape(-1), ignore_index=self.pad_id)
        return token_loss + F.cross_entropy(length_logits, length)

    def _predict(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted lengths n (B,) and token logits (B, max_len, V), positions >= n masked out as keys."""
        memory, src_mask, length_logits = self.encode(src)
        length = length_logits.argmax(-1).clamp(min=1)  # (B,)
        return length, self.decode(memory, src_mask, length, T=self.max_len)

    @torch.no_grad()
    def generate(self, src: torch.Tensor) -> torch.Tensor:
        """Predict the length n, then all n tokens in one pass; positions >= n are ``pad_id``. -> (B, T)."""
        length, logits = self._predict(src)
        T = max(int(length.max()), 1)
        tokens = logits[:, :T].argmax(-1)  # (B, T)
        return tokens.masked_fill(~lengths_to_mask(length, T), self.pad_id)

    def decoder(self, src: torch.Tensor) -> tuple[Step, torch.Tensor]:
        """``(step, state)`` for :mod:`seqcourse.decoding`, decoding with ``eos = pad_id``.

        One pass computes the log-probabilities of every position; the state is that table (B, max_len, V),
        with each position at or after the predicted length forced to ``pad_id``, and step t returns row t
        whatever the prefix holds: the positions are independent given the source, which is what makes the
        model non-autoregressive. Greedy decoding therefore reproduces :meth:`generate`.
        """
        length, logits = self._predict(src)
        log_probs = torch.log_softmax(logits, dim=-1)  # (B, max_len, V)
        after = ~lengths_to_mask(length, self.max_len)  # (B, max_len): positions >= n
        ended = torch.full_like(log_probs[0, 0], -math.inf)  # (V,): only pad_id may follow the end
        ended[self.pad_id] = 0.0
        log_probs = torch.where(after[..., None], ended, log_probs)

        def step(prefix: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            t = prefix.shape[1] - 1
            if t >= table.shape[1]:
                return ended.expand(table.shape[0], -1), table
            return table[:, t], table

        return step, log_probs
