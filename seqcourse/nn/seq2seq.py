"""Encoder-decoder (seq2seq) with a context vector, and with Bahdanau's additive attention (lecture 002).

Encoder (GRU):     h_j = GRU(E_x[x_j], h_{j-1}),  j = 1..T_x;   context C = h_{T_x} (last real position)
Decoder state:     s_0 = tanh(W_s C + b_s),   s_i = GRU([E_y[y_{i-1}]; c_i], s_{i-1})
Plain decoder:     c_i = C for every i                         (one fixed vector must carry the whole input)
Attention decoder: e_ij = v^T tanh(W_a s_{i-1} + U_a h_j),  alpha_ij = softmax_j(e_ij),
                   c_i = sum_j alpha_ij h_j
Output:            P(y_i | y_<i, x) = softmax(W_o [s_i; c_i; E_y[y_{i-1}]] + b_o)

The lecture's Tom-chases-Jerry example is this c_i: translating "汤姆" mixes 0.6 f2("Tom"), 0.2 f2("Chase"),
0.2 f2("Jerry"); each output word gets its own weights alpha_i. Padding positions of the source get weight 0.

Training feeds the true previous token y_{i-1} (teacher forcing); with ``sampling_prob`` p > 0 each example
feeds, with probability p, the model's own previous prediction instead (scheduled sampling), so that the
model learns to recover from its mistakes as it must at test time. :func:`seqcourse.demos.train_dates`
trains one on date-format translation.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.data.text import BOS_ID, EOS_ID, PAD_ID
from seqcourse.decoding import Step, beam_search, greedy_decode
from seqcourse.nn.attention import attend, lengths_to_mask
from seqcourse.nn.recurrent import GRU, GRUCell
from seqcourse.utils import check_ndim, check_positive, check_shape, check_token_ids

__all__ = ["Seq2Seq"]


class Seq2Seq(nn.Module):
    """GRU encoder-decoder: ``attention=True`` is the Bahdanau decoder, ``False`` the context-vector one.

    ``loss((src, src_lengths, tgt))`` trains it (scheduled sampling with probability ``sampling_prob`` in
    training mode); ``step, state = decoder(src)`` feeds :mod:`seqcourse.decoding`.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        emb_size: int = 32,
        hidden_size: int = 64,
        attention: bool = True,
        attn_size: int | None = None,
        sampling_prob: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, emb_size=emb_size,
                       hidden_size=hidden_size)
        if attn_size is not None:
            check_positive(attn_size=attn_size)
        _check_probability(sampling_prob)
        n, a = hidden_size, attn_size or hidden_size
        self.attention, self.sampling_prob = attention, sampling_prob
        self.src_vocab_size = src_vocab_size
        self.src_embedding = nn.Embedding(src_vocab_size, emb_size)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, emb_size)
        self.encoder = GRU(emb_size, n, batch_first=True)
        self.W_s = nn.Linear(n, n)  # s_0 = tanh(W_s C + b_s)
        if attention:
            self.W_a = nn.Linear(n, a, bias=False)
            self.U_a = nn.Linear(n, a)
            self.v = nn.Linear(a, 1, bias=False)
        self.decoder_cell = GRUCell(emb_size + n, n)
        self.W_o = nn.Linear(2 * n + emb_size, tgt_vocab_size)

    # --- encoder ----------------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Encode ``src`` (B, S) with true lengths (B,) (default: the count of non-``<pad>`` tokens).

        Returns the decoder's initial state, all batch-first: ``s`` (B, n), ``C`` (B, n), ``H`` (B, S, n),
        ``UH`` = U_a H (B, S, a) hoisted out of the decoder loop, ``mask`` (B, S), True on real positions.
        """
        check_token_ids("src", src, self.src_vocab_size)
        if src_lengths is None:
            src_lengths = (src != PAD_ID).sum(1)  # (B,)
        check_shape("src_lengths", src_lengths, (src.shape[0],))
        if int(src_lengths.min()) < 1 or int(src_lengths.max()) > src.shape[1]:
            raise ValueError(f"src_lengths must lie in [1, {src.shape[1]}], got {src_lengths.tolist()}")
        src_lengths = src_lengths.to(src.device)
        H, _ = self.encoder(self.src_embedding(src))  # (B, S, n)
        C = H[torch.arange(src.shape[0], device=src.device), src_lengths - 1]  # (B, n): last real step
        mask = lengths_to_mask(src_lengths, src.shape[1])  # (B, S)
        state = {"s": torch.tanh(self.W_s(C)), "C": C, "H": H, "mask": mask}
        if self.attention:
            state["UH"] = self.U_a(H)  # (B, S, a)
        return state

    # --- one decoder step -------------------------------------------------------------------------------
    def decode_step(
        self, y_prev: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
        """Previous tokens (B,) -> logits (B, V), the new state and the attention weights alpha_i (B, S)."""
        s = state["s"]  # (B, n) = s_{i-1}
        alpha = None
        if self.attention:
            e = self.v(torch.tanh(self.W_a(s)[:, None, :] + state["UH"])).squeeze(-1)  # (B, S)
            c, alpha = attend(e[:, None, :], state["H"], state["mask"][:, None, :])  # (B, 1, n), (B, 1, S)
            c, alpha = c[:, 0], alpha[:, 0]  # (B, n), (B, S)
        else:
            c = state["C"]  # (B, n)
        emb = self.tgt_embedding(y_prev)  # (B, emb)
        s = self.decoder_cell(torch.cat([emb, c], dim=-1), s)  # (B, n) = s_i
        logits = self.W_o(torch.cat([s, c, emb], dim=-1))  # (B, V)
        return logits, {**state, "s": s}, alpha

    # --- training ---------------------------------------------------------------------------------------
    def forward(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        tgt_in: torch.Tensor,
        sampling_prob: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) for the decoder inputs ``tgt_in`` (B, T) = [<bos>, y_1, ..., y_{T-1}], and the
        attention weights (B, T, S) (None without attention).

        ``sampling_prob`` = 0 is teacher forcing; otherwise, from the second step on, each example feeds its
        own previous argmax prediction with probability ``sampling_prob`` (scheduled sampling).
        """
        check_ndim("tgt_in", tgt_in, 2)
        _check_probability(sampling_prob)
        if tgt_in.shape[0] != src.shape[0]:
            sizes = f"{src.shape[0]} and {tgt_in.shape[0]}"
            raise ValueError(f"src and tgt_in need the same batch size, got {sizes}")
        state = self.encode(src, src_lengths)
        logits_all, alphas = [], []
        y_prev = tgt_in[:, 0]  # (B,)
        for i in range(tgt_in.shape[1]):
            if i > 0:
                y_prev = tgt_in[:, i]
                if sampling_prob > 0:
                    own = logits_all[-1].argmax(-1)  # (B,), no gradient flows through argmax
                    where = generator.device if generator is not None else y_prev.device
                    coin = torch.rand(y_prev.shape, generator=generator, device=where).to(y_prev.device)
                    coin = coin < sampling_prob
                    y_prev = torch.where(coin, own, y_prev)
            logits, state, alpha = self.decode_step(y_prev, state)
            logits_all.append(logits)
            alphas.append(alpha)
        attn = torch.stack(alphas, dim=1) if self.attention else None  # (B, T, S)
        return torch.stack(logits_all, dim=1), attn  # (B, T, V)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of ``tgt[:, 1:]`` given ``tgt[:, :-1]`` for ``batch = (src, src_lengths, tgt)``;
        ``<pad>`` targets are ignored. In training mode the decoder feeds its own predictions with
        probability ``self.sampling_prob`` (scheduled sampling); in eval mode it is pure teacher forcing."""
        src, src_lengths, tgt = batch
        p = self.sampling_prob if self.training else 0.0
        logits, _ = self(src, src_lengths, tgt[:, :-1], p)
        return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD_ID)

    # --- inference through seqcourse.decoding ------------------------------------------------------------
    def decoder(
        self, src: torch.Tensor, src_lengths: torch.Tensor | None = None
    ) -> tuple[Step, dict[str, torch.Tensor]]:
        """``(step, state)`` for :mod:`seqcourse.decoding`; the state is :meth:`encode`'s dict and each step
        reads the newest token of the prefix."""

        def step(prefix: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
            logits, state, _ = self.decode_step(prefix[:, -1], state)
            return torch.log_softmax(logits, dim=-1), state

        return step, self.encode(src, src_lengths)

    @torch.no_grad()
    def greedy(
        self, src: torch.Tensor, src_lengths: torch.Tensor | None = None, max_len: int = 20
    ) -> torch.Tensor:
        """Greedy translations (B, L), ``<eos>`` included, ``<pad>`` after it."""
        return greedy_decode(*self.decoder(src, src_lengths), BOS_ID, EOS_ID, max_len, pad=PAD_ID)

    @torch.no_grad()
    def beam(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor | None = None,
        beam_width: int = 4,
        max_len: int = 20,
    ) -> list[list[int]]:
        """Beam-search translations, one token list per example (``<eos>`` included if produced)."""
        return beam_search(*self.decoder(src, src_lengths), BOS_ID, EOS_ID, beam_width, max_len)


def _check_probability(p: float) -> None:
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"sampling_prob must be in [0, 1], got {p!r}")
