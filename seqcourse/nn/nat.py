"""Non-autoregressive Transformer (NAT, lecture 001): every output token in one parallel pass.

An autoregressive decoder (AT) needs y_1 .. y_{t-1} before it can emit y_t. A NAT decoder instead reads only
position queries (the positional encodings of 0 .. n-1), attends to itself without a causal mask and to
the encoder output Z, and predicts all n tokens at once. The output length n comes from a separate
**length predictor**: a classifier on the mean of Z over the real source positions.

``NATransformer.generate(src)`` therefore costs one decoder pass instead of n; ``nat_demo`` trains one on
sequence reversal. Importing the module runs nothing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.nn.attention import SinusoidalPositionalEncoding, lengths_to_mask
from seqcourse.nn.transformer import DecoderBlock, EncoderBlock
from seqcourse.utils import check_ndim

__all__ = ["NATransformer", "nat_loss", "nat_demo"]


class NATransformer(nn.Module):
    """Encoder, length predictor and a non-causal decoder on position queries.

    ``forward(src (B, S), length (B,))`` -> ``(token logits (B, T, V) with T = max(length),
    length logits (B, max_len + 1))``.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        max_len: int,
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        d_ff: int = 128,
        *,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.d_model, self.max_len, self.pad_id = d_model, max_len, pad_id
        self.src_embed = nn.Embedding(src_vocab, d_model)
        self.pos = SinusoidalPositionalEncoding(d_model, max(max_len, 1) + 64)
        self.query = nn.Parameter(0.02 * torch.randn(d_model))  # shared query vector, plus the position
        self.encoder = nn.ModuleList(EncoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers))
        self.decoder = nn.ModuleList(DecoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers))
        self.length_head = nn.Linear(d_model, max_len + 1)  # classes 0 .. max_len
        self.out = nn.Linear(d_model, tgt_vocab)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (memory Z (B, S, d_model), source mask (B, S), length logits (B, max_len + 1))."""
        check_ndim("src", src, 2)
        src_mask = src != self.pad_id  # (B, S)
        z = self.pos(self.src_embed(src) * math.sqrt(self.d_model))  # (B, S, d_model)
        for block in self.encoder:
            z = block(z, key_mask=src_mask)
        weights = src_mask.to(z.dtype).unsqueeze(-1)  # (B, S, 1)
        pooled = (z * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, d_model): mean over real positions
        return z, src_mask, self.length_head(pooled)

    def decode(self, memory: torch.Tensor, src_mask: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """All positions in parallel: queries PE(0 .. T-1) + q, no causal mask -> logits (B, T, V)."""
        B, T = length.shape[0], max(int(length.max()), 1)
        y = self.pos(self.query.expand(B, T, self.d_model))  # (B, T, d_model)
        tgt_mask = lengths_to_mask(length, T)  # (B, T)
        for block in self.decoder:
            y = block(y, memory, memory_key_mask=src_mask, key_mask=tgt_mask, is_causal=False)
        return self.out(y)  # (B, T, V)

    def forward(self, src: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memory, src_mask, length_logits = self.encode(src)
        return self.decode(memory, src_mask, length), length_logits

    @torch.no_grad()
    def generate(self, src: torch.Tensor) -> torch.Tensor:
        """Predict the length n, then all n tokens in one pass; positions >= n are ``pad_id``. -> (B, T)."""
        memory, src_mask, length_logits = self.encode(src)
        length = length_logits.argmax(-1).clamp(min=1)  # (B,)
        tokens = self.decode(memory, src_mask, length).argmax(-1)  # (B, T)
        return tokens.masked_fill(~lengths_to_mask(length, tokens.shape[1]), self.pad_id)


def nat_loss(model: NATransformer, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Token cross-entropy over the real target positions plus the length classifier's cross-entropy.

    ``batch = (src (B, S), y (B, T))`` with ``y`` padded by ``pad_id``; the true lengths come from ``y``.
    """
    src, y = batch
    length = (y != model.pad_id).sum(1)  # (B,)
    logits, length_logits = model(src, length)  # (B, T', V), (B, max_len + 1)
    y = y[:, : logits.shape[1]]
    token_loss = F.cross_entropy(logits.flatten(0, 1), y.reshape(-1), ignore_index=model.pad_id)
    return token_loss + F.cross_entropy(length_logits, length)


def nat_demo(
    *, seq_len: int = 8, n_symbols: int = 10, steps: int = 1500, batch_size: int = 64, seed: int = 0
) -> dict[str, Any]:
    """Train a NAT on reversal with lengths 1 .. seq_len; evaluate length and token accuracy on 1000 held-out
    sequences. Returns ``{"model", "history", "length_accuracy", "token_accuracy"}``."""
    from seqcourse.data.synthetic import EOS, FIRST, PAD, reverse_task
    from seqcourse.nn.transformer import token_accuracy
    from seqcourse.train import fit
    from seqcourse.utils import seed_everything

    def targets(tgt: torch.Tensor) -> torch.Tensor:  # [BOS, y, EOS, PAD..] -> [y, PAD..]
        return tgt[:, 1:-1].masked_fill(tgt[:, 1:-1] == EOS, PAD)

    g = seed_everything(seed)
    vocab = FIRST + n_symbols
    model = NATransformer(vocab, vocab, max_len=seq_len, d_model=32, num_heads=2, num_layers=1, d_ff=64)
    batches = []
    for _ in range(steps):
        src, tgt = reverse_task(batch_size, seq_len, n_symbols, min_len=1, generator=g)
        batches.append((src, targets(tgt)))
    history = fit(model, batches, step=nat_loss, epochs=1, lr=3e-3, clip=1.0, progress=False)
    held_out = torch.Generator().manual_seed(10**6 + seed)
    src, tgt = reverse_task(1000, seq_len, n_symbols, min_len=1, generator=held_out)
    y = targets(tgt)
    model.eval()
    pred = model.generate(src)
    length_ok = (pred != PAD).sum(1) == (y != PAD).sum(1)
    return {"model": model, "history": history, "length_accuracy": float(length_ok.float().mean()),
            "token_accuracy": token_accuracy(pred, y, pad_id=PAD)}
