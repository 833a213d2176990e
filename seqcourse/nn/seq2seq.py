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
model learns to recover from its mistakes as it must at test time.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.data.text import BOS_ID, EOS_ID, PAD_ID
from seqcourse.decoding import beam_search, greedy_decode
from seqcourse.nn.attention import attend, lengths_to_mask
from seqcourse.nn.recurrent import GRU, GRUCell
from seqcourse.utils import check_ndim, check_shape

__all__ = ["Seq2Seq", "train_dates"]


class Seq2Seq(nn.Module):
    """GRU encoder-decoder: ``attention=True`` is the Bahdanau decoder, ``False`` the context-vector one."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        emb_size: int = 32,
        hidden_size: int = 64,
        attention: bool = True,
        attn_size: int | None = None,
    ) -> None:
        super().__init__()
        n, a = hidden_size, attn_size or hidden_size
        self.attention = attention
        self.src_embedding = nn.Embedding(src_vocab_size, emb_size)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, emb_size)
        self.encoder = GRU(emb_size, n, batch_first=True)
        self.W_s = nn.Linear(n, n)  # s_0 = tanh(W_s C + b_s)
        if attention:
            self.W_a = nn.Linear(n, a, bias=False)
            self.U_a = nn.Linear(n, a)
            self.v = nn.Linear(a, 1, bias=False)
        self.decoder = GRUCell(emb_size + n, n)
        self.W_o = nn.Linear(2 * n + emb_size, tgt_vocab_size)

    # --- encoder ----------------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encode ``src`` (B, S) with true lengths (B,); returns the decoder's initial state, all batch-first:
        ``s`` (B, n), ``C`` (B, n), ``H`` (B, S, n), ``UH`` = U_a H (B, S, a) hoisted out of the decoder
        loop, and ``mask`` (B, S), True on real positions."""
        check_ndim("src", src, 2)
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
        s = self.decoder(torch.cat([emb, c], dim=-1), s)  # (B, n) = s_i
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
        if not 0.0 <= sampling_prob <= 1.0:
            raise ValueError(f"sampling_prob must be in [0, 1], got {sampling_prob}")
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
                    coin = torch.rand(y_prev.shape, generator=generator).to(y_prev.device) < sampling_prob
                    y_prev = torch.where(coin, own, y_prev)
            logits, state, alpha = self.decode_step(y_prev, state)
            logits_all.append(logits)
            alphas.append(alpha)
        attn = torch.stack(alphas, dim=1) if self.attention else None  # (B, T, S)
        return torch.stack(logits_all, dim=1), attn  # (B, T, V)

    def loss(
        self, src: torch.Tensor, src_lengths: torch.Tensor, tgt: torch.Tensor, sampling_prob: float = 0.0
    ) -> torch.Tensor:
        """Cross-entropy of ``tgt[:, 1:]`` given ``tgt[:, :-1]``; ``<pad>`` targets are ignored."""
        logits, _ = self(src, src_lengths, tgt[:, :-1], sampling_prob)
        return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD_ID)

    # --- inference through seqcourse.decoding ------------------------------------------------------------
    def step_fn(self):
        """``step(prefix, state)`` for :mod:`seqcourse.decoding`; the state is :meth:`encode`'s dict."""

        def step(prefix: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
            logits, state, _ = self.decode_step(prefix[:, -1], state)
            return torch.log_softmax(logits, dim=-1), state

        return step

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int = 20) -> torch.Tensor:
        """Greedy translations (B, L), ``<eos>`` included, ``<pad>`` after it."""
        state = self.encode(src, src_lengths)
        return greedy_decode(self.step_fn(), state, BOS_ID, EOS_ID, max_len, pad=PAD_ID)

    @torch.no_grad()
    def beam(
        self, src: torch.Tensor, src_lengths: torch.Tensor, beam_width: int = 4, max_len: int = 20
    ) -> list[list[int]]:
        """Beam-search translations, one token list per example (``<eos>`` included if produced)."""
        state = self.encode(src, src_lengths)
        return beam_search(self.step_fn(), state, BOS_ID, EOS_ID, beam_width, max_len)


def _exact_match(model: Seq2Seq, src: torch.Tensor, lengths: torch.Tensor, tgt: torch.Tensor) -> float:
    out = model.greedy(src, lengths, max_len=tgt.shape[1] - 1)  # (B, <= 11)
    want = tgt[:, 1:]  # (B, 11)
    if out.shape[1] < want.shape[1]:
        out = F.pad(out, (0, want.shape[1] - out.shape[1]), value=PAD_ID)
    return float((out == want).all(dim=1).float().mean())


def train_dates(
    n_train: int = 2000,
    n_val: int = 300,
    epochs: int = 3,
    batch_size: int = 50,
    attention: bool = True,
    sampling_prob: float = 0.0,
    seed: int = 0,
) -> tuple[Seq2Seq, float]:
    """Train on date-format translation (``seqcourse.data.dates``); return the model and the share of held-out
    dates translated exactly (greedy). About 10 s on one free CPU core with the defaults (about 94 %)."""
    from seqcourse.data import dates

    torch.manual_seed(seed)
    vocab = dates.date_vocab()
    src, lengths, tgt = dates.encode_pairs(dates.date_pairs(n_train, seed=seed), vocab)
    v_src, v_len, v_tgt = dates.encode_pairs(dates.date_pairs(n_val, seed=seed + 1), vocab)
    model = Seq2Seq(len(vocab), len(vocab), emb_size=16, hidden_size=64, attention=attention)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n_train, generator=g)
        for k in range(0, n_train, batch_size):
            idx = order[k : k + batch_size]
            S = int(lengths[idx].max())
            opt.zero_grad()
            loss = model.loss(src[idx, :S], lengths[idx], tgt[idx], sampling_prob)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    model.eval()
    return model, _exact_match(model, v_src, v_len, v_tgt)
