"""The Transformer (Vaswani et al. 2017) as lectures 001, 002 and 004 build it, batch-first.

Encoder block (post-LN, the lectures' form)::

    X'  = LayerNorm(X + MultiHead(X))
    X'' = LayerNorm(X' + FFN(X')),      FFN(X) = max(0, X W_1 + b_1) W_2 + b_2

``norm_first=True`` gives the pre-LN variant ``X' = X + MultiHead(LayerNorm(X))`` (lecture 001's "Layer Norm
adjustment"). The decoder block adds masked (causal) self-attention before, and cross-attention to the
encoder output Z after. The full model embeds tokens, adds the sinusoidal positional encoding, trains with
shifted-right teacher forcing, and exposes ``step_fn`` for the decoders of :mod:`seqcourse.decoding`.

Demos (``reversal_demo``, ``date_demo``) are functions; importing the module runs nothing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.nn.attention import (
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
)
from seqcourse.utils import check_ndim

__all__ = [
    "FeedForward",
    "EncoderBlock",
    "DecoderBlock",
    "Transformer",
    "shift_right",
    "seq2seq_loss",
    "token_accuracy",
    "reversal_demo",
    "date_demo",
]


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
              layer.dropout.p, layer.norm_first).to(layer.linear1.weight)
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
        self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = False
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
        self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = False
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


class Transformer(nn.Module):
    """Encoder-decoder Transformer on token ids.

    ``forward(src (B, S), tgt_in (B, T))`` -> logits (B, T, tgt_vocab), where ``tgt_in`` is the shifted-right
    target. Positions equal to ``pad_id`` in ``src`` / ``tgt_in`` are masked as keys. Token embeddings are
    scaled by sqrt(d_model) before the positional encoding is added. With ``norm_first`` a final LayerNorm
    closes each stack (as in ``nn.Transformer``).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 64,
        num_heads: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        d_ff: int = 128,
        dropout: float = 0.0,
        *,
        max_len: int = 256,
        norm_first: bool = False,
        learned_positions: bool = False,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.d_model, self.pad_id = d_model, pad_id
        self.src_embed = nn.Embedding(src_vocab, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model)
        position = LearnedPositionalEmbedding if learned_positions else SinusoidalPositionalEncoding
        self.src_pos, self.tgt_pos = position(d_model, max_len), position(d_model, max_len)
        args = (d_model, num_heads, d_ff, dropout, norm_first)
        self.encoder = nn.ModuleList(EncoderBlock(*args) for _ in range(num_encoder_layers))
        self.decoder = nn.ModuleList(DecoderBlock(*args) for _ in range(num_decoder_layers))
        self.enc_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.dec_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.out = nn.Linear(d_model, tgt_vocab)
        self.dropout = nn.Dropout(dropout)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``src`` (B, S) -> (memory Z (B, S, d_model), src key mask (B, S))."""
        check_ndim("src", src, 2)
        src_mask = src != self.pad_id  # (B, S)
        x = self.dropout(self.src_pos(self.src_embed(src) * math.sqrt(self.d_model)))  # (B, S, d_model)
        for block in self.encoder:
            x = block(x, key_mask=src_mask)
        return self.enc_norm(x), src_mask

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """``tgt_in`` (B, T) attends causally to itself and to ``memory`` -> logits (B, T, tgt_vocab)."""
        check_ndim("tgt_in", tgt_in, 2)
        y = self.dropout(self.tgt_pos(self.tgt_embed(tgt_in) * math.sqrt(self.d_model)))  # (B, T, d_model)
        for block in self.decoder:
            y = block(y, memory, memory_key_mask=src_mask, is_causal=True)
        return self.out(self.dec_norm(y))  # (B, T, tgt_vocab)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory, src_mask = self.encode(src)
        return self.decode(tgt_in, memory, src_mask)

    def step_fn(self, src: torch.Tensor) -> tuple[Any, tuple[torch.Tensor, torch.Tensor]]:
        """``(step, state)`` for :mod:`seqcourse.decoding`: ``step(prefix (B, t), state) -> (log p, state)``.

        The state is ``(memory, src_mask)`` (batch at dim 0, so beam search can reorder it); each step
        re-reads the whole prefix, which is simple and exact (no key/value cache).
        """
        memory, src_mask = self.encode(src)

        def step(prefix: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
            logits = self.decode(prefix, *state)[:, -1]  # (B, V)
            return torch.log_softmax(logits, dim=-1), state

        return step, (memory, src_mask)


def seq2seq_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], pad_id: int = 0) -> torch.Tensor:
    """Teacher-forcing cross-entropy for ``batch = (src, tgt)`` with ``tgt = [bos, y_1..y_n, eos, pad...]``:
    the decoder reads ``tgt[:, :-1]`` (the shifted-right target) and predicts ``tgt[:, 1:]``."""
    src, tgt = batch
    logits = model(src, tgt[:, :-1])  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1), ignore_index=pad_id)


# ---------------------------------------------------------------------------------------------------------
# Demos (run on demand; a few seconds to a minute on 2 CPU cores)
# ---------------------------------------------------------------------------------------------------------


def token_accuracy(pred: torch.Tensor, target: torch.Tensor, pad_id: int = 0) -> float:
    """Share of non-pad target tokens (``eos`` included) that ``pred`` reproduces at the same position.

    ``pred`` (B, L) from a decoder, ``target`` (B, T) = ``tgt[:, 1:]``; ``pred`` is cut or padded to T.
    """
    T = target.shape[1]
    pred = F.pad(pred[:, :T], (0, max(0, T - pred.shape[1])), value=pad_id)  # (B, T)
    real = target != pad_id
    return float((pred == target)[real].float().mean())


def reversal_demo(
    *,
    seq_len: int = 8,
    n_symbols: int = 10,
    min_len: int | None = None,
    steps: int = 1200,
    batch_size: int = 64,
    d_model: int = 32,
    num_layers: int = 1,
    lr: float = 3e-3,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a small Transformer to reverse random sequences, then greedy-decode 1000 held-out ones.

    Returns ``{"model", "history", "accuracy"}``; accuracy is the held-out token accuracy (>= 0.99 within
    about 30 s on 2 CPU cores with the defaults). ``min_len`` < ``seq_len`` makes the lengths vary.
    """
    from seqcourse.data.synthetic import BOS, EOS, FIRST, reverse_task
    from seqcourse.decoding import greedy_decode
    from seqcourse.train import fit
    from seqcourse.utils import seed_everything

    g = seed_everything(seed)
    vocab = FIRST + n_symbols
    model = Transformer(vocab, vocab, d_model=d_model, num_heads=2, num_encoder_layers=num_layers,
                        num_decoder_layers=num_layers, d_ff=2 * d_model, max_len=seq_len + 2)
    batches = [reverse_task(batch_size, seq_len, n_symbols, min_len=min_len, generator=g)
               for _ in range(steps)]
    history = fit(model, batches, step=seq2seq_loss, epochs=1, lr=lr, clip=1.0, progress=False)
    held_out = torch.Generator().manual_seed(10**6 + seed)  # a stream the training batches never touch
    src, tgt = reverse_task(1000, seq_len, n_symbols, min_len=min_len, generator=held_out)
    model.eval()
    with torch.no_grad():
        step, state = model.step_fn(src)
        pred = greedy_decode(step, state, BOS, EOS, max_len=seq_len + 1)
    return {"model": model, "history": history, "accuracy": token_accuracy(pred, tgt[:, 1:])}


def date_demo(
    *, n_train: int = 12000, epochs: int = 8, batch_size: int = 64, dropout: float = 0.0, seed: int = 0
) -> dict[str, Any]:
    """Translate human-written dates (``2024年3月5日``, ``March 5, 2024``, ``05/03/2024``...) to ISO format.

    Returns ``{"model", "history", "accuracy", "examples"}``; accuracy is the share of 500 held-out dates
    translated exactly by greedy decoding (0.94 with the defaults, about 45 s of one CPU core), examples a
    few (source, prediction) pairs.
    """
    from seqcourse.data.dates import date_pairs, date_vocab, encode_pairs
    from seqcourse.data.text import BOS_ID, EOS_ID
    from seqcourse.decoding import greedy_decode
    from seqcourse.train import fit
    from seqcourse.utils import seed_everything

    seed_everything(seed)
    vocab = date_vocab()
    src, _, tgt = encode_pairs(date_pairs(n_train, seed=seed), vocab)
    batches = [(src[i : i + batch_size], tgt[i : i + batch_size]) for i in range(0, n_train, batch_size)]
    V = len(vocab)
    model = Transformer(V, V, d_model=64, num_heads=4, d_ff=128, dropout=dropout, max_len=64)
    history = fit(model, batches, step=seq2seq_loss, epochs=epochs, lr=2e-3, clip=1.0, progress=False)
    test_pairs = date_pairs(500, seed=seed + 12345)
    test_src, _, test_tgt = encode_pairs(test_pairs, vocab)
    model.eval()
    with torch.no_grad():
        step, state = model.step_fn(test_src)
        pred = greedy_decode(step, state, BOS_ID, EOS_ID, max_len=test_tgt.shape[1] - 1)
    T = test_tgt.shape[1] - 1
    exact = (F.pad(pred[:, :T], (0, max(0, T - pred.shape[1]))) == test_tgt[:, 1:]).all(dim=1)
    examples = [(test_pairs[i][0], "".join(vocab.decode(pred[i]))) for i in range(5)]
    return {"model": model, "history": history, "accuracy": float(exact.float().mean()), "examples": examples}
