"""Attention-based memory: end-to-end memory networks and Neural Turing Machine addressing.

**End-to-end memory network** (Sukhbaatar et al. 2015), one hop k = 1..K over sentence memories::

    m_i = sum_j A^k x_ij + T_A^k[i],   c_i = sum_j C^k x_ij + T_C^k[i]   (bag of words + temporal encoding)
    p_i = softmax_i(u^k . m_i),     o^k = sum_i p_i c_i,     u^{k+1} = u^k + o^k
    answer = softmax(W u^{K+1}),    u^1 = sum_j B q_j

with "adjacent" weight tying A^{k+1} = C^k, B = A^1 and W^T = C^K.

**NTM addressing** (Graves et al. 2014) for a memory M (N, M_w), one head::

    w^c_i = softmax_i(beta * cos(k, M_i))              content: compare a key with every slot
    w^g   = g w^c + (1 - g) w_prev                     interpolate with last step's weights
    w~_i  = sum_j w^g_j s_{(i - j) mod N}              location: circular shift by the distribution s
    w_i   = w~_i^gamma / sum_j w~_j^gamma              sharpen (gamma >= 1)
    read  r = sum_i w_i M_i,    write  M_i <- M_i (1 - w_i e) + w_i a     (erase e, add a)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from seqcourse.utils import check_ndim, check_positive, check_shape

__all__ = [
    "MemN2N",
    "content_addressing",
    "interpolate",
    "circular_shift",
    "sharpen",
    "address",
    "memory_read",
    "memory_write",
    "scripted_copy",
]


class MemN2N(nn.Module):
    """End-to-end memory network over stories (B, S, L) of word ids and questions (B, L_q); 0 = padding.

    Adjacent weight tying: K + 1 embeddings E_0..E_K, hop k reads keys with A^k = E_{k-1} and values
    with C^k = E_k, the question uses B = E_0, and the answer layer is W = E_K^T. ``forward`` returns
    ``(logits (B, vocab_size), hops)``, where ``hops`` lists the attention weights p (B, S) of every
    hop. A sentence that is all padding is masked out of the attention.
    """

    def __init__(self, vocab_size: int, d: int, n_hops: int = 3, max_sentences: int = 20) -> None:
        super().__init__()
        check_positive(vocab_size=vocab_size, d=d, n_hops=n_hops, max_sentences=max_sentences)
        self.E = nn.ModuleList(nn.Embedding(vocab_size, d, padding_idx=0) for _ in range(n_hops + 1))
        for emb in self.E:
            nn.init.normal_(emb.weight, std=0.1)
        self.T = nn.Parameter(0.1 * torch.randn(n_hops + 1, max_sentences, d))  # temporal, newest first
        self.n_hops, self.max_sentences = n_hops, max_sentences

    def forward(self, stories: torch.Tensor,
                questions: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        check_ndim("stories", stories, 3)
        check_shape("questions", questions, (stories.shape[0], "L_q"))
        S = stories.shape[1]
        if S > self.max_sentences:
            raise ValueError(f"stories have {S} sentences, more than max_sentences={self.max_sentences}")
        age = torch.arange(S - 1, -1, -1, device=stories.device)  # (S,): 0 for the latest sentence
        present = (stories != 0).any(dim=2)  # (B, S)
        mem = [E(stories).sum(dim=2) + T[age] for E, T in zip(self.E, self.T, strict=True)]  # (B, S, d) each
        u = self.E[0](questions).sum(dim=1)  # (B, d)
        hops = []
        for k in range(1, self.n_hops + 1):
            m, c = mem[k - 1], mem[k]  # keys A^k, values C^k
            scores = torch.einsum("bd,bsd->bs", u, m).masked_fill(~present, float("-inf"))  # (B, S)
            p = torch.softmax(scores, dim=1)  # (B, S)
            u = u + torch.einsum("bs,bsd->bd", p, c)  # u^{k+1} = u^k + o^k
            hops.append(p)
        return u @ self.E[-1].weight.T, hops  # (B, vocab_size)


def content_addressing(M: torch.Tensor, k: torch.Tensor, beta: float | torch.Tensor) -> torch.Tensor:
    """w^c = softmax(beta * cos(k, M_i)) over the N slots of M (N, M_w); k (M_w,) -> (N,)."""
    check_ndim("M", M, 2)
    check_shape("k", k, (M.shape[1],))
    cos = F.cosine_similarity(M, k[None, :], dim=1, eps=1e-8)  # (N,)
    return torch.softmax(beta * cos, dim=0)


def interpolate(w_c: torch.Tensor, w_prev: torch.Tensor, g: float | torch.Tensor) -> torch.Tensor:
    """w^g = g w^c + (1 - g) w_prev, with the gate g in [0, 1]."""
    check_shape("w_prev", w_prev, tuple(w_c.shape))
    if not 0.0 <= float(g) <= 1.0:
        raise ValueError(f"the interpolation gate g must be in [0, 1], got {float(g)}")
    return g * w_c + (1 - g) * w_prev


def circular_shift(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """w~_i = sum_j w_j s_{(i - j) mod N}: circular convolution of w (N,) with a shift distribution
    s (2R + 1,) over the shifts -R..R (s[R] is "stay", s[R + 1] is "one slot forward")."""
    check_ndim("w", w, 1)
    check_ndim("s", s, 1)
    if s.shape[0] % 2 == 0 or s.shape[0] > w.shape[0]:
        raise ValueError(f"s must have an odd length <= N={w.shape[0]}, got {s.shape[0]}")
    R = s.shape[0] // 2
    return sum(s[R + r] * torch.roll(w, shifts=r) for r in range(-R, R + 1))


def sharpen(w: torch.Tensor, gamma: float | torch.Tensor) -> torch.Tensor:
    """w_i^gamma / sum_j w_j^gamma (gamma >= 1 undoes the blur of the shift)."""
    if float(gamma) < 1.0:
        raise ValueError(f"gamma must be >= 1, got {float(gamma)}")
    p = w.clamp(min=0) ** gamma
    return p / p.sum()


def address(M: torch.Tensor, w_prev: torch.Tensor, k: torch.Tensor, beta: float, g: float,
            s: torch.Tensor, gamma: float) -> torch.Tensor:
    """The full NTM addressing pipeline: content -> interpolation -> shift -> sharpening; returns w (N,)."""
    check_shape("w_prev", w_prev, (M.shape[0],))
    return sharpen(circular_shift(interpolate(content_addressing(M, k, beta), w_prev, g), s), gamma)


def memory_read(M: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """r = sum_i w_i M_i: (N, M_w), (N,) -> (M_w,)."""
    check_ndim("M", M, 2)
    check_shape("w", w, (M.shape[0],))
    return w @ M


def memory_write(M: torch.Tensor, w: torch.Tensor, e: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """M_i <- M_i * (1 - w_i e) + w_i a: erase vector e in [0, 1]^M_w, add vector a (M_w,)."""
    check_ndim("M", M, 2)
    check_shape("w", w, (M.shape[0],))
    check_shape("e", e, (M.shape[1],))
    check_shape("a", a, (M.shape[1],))
    return M * (1 - torch.outer(w, e)) + torch.outer(w, a)


def scripted_copy(seq: torch.Tensor, n_slots: int, beta: float = 50.0,
                  gamma: float = 2.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The copy task run by the NTM heads with a fixed (not learned) controller.

    Write phase: the write head starts at slot 0 and moves one slot forward per step (location
    addressing: g = 0, shift +1), writing each input vector x_t (T, M_w) with a full erase. Read phase:
    the read head first finds the start by content (key = x_1, g = 1), then moves forward by location.
    Returns the read vectors (T, M_w) and the write and read weights (T, n_slots) of every step.
    """
    check_ndim("seq", seq, 2)
    T, width = seq.shape
    if T > n_slots:
        raise ValueError(f"a sequence of length {T} does not fit into {n_slots} slots")
    M = seq.new_zeros(n_slots, width)
    stay = seq.new_tensor([0.0, 1.0, 0.0])  # shift distribution over -1, 0, +1
    forward = seq.new_tensor([0.0, 0.0, 1.0])
    w = F.one_hot(torch.tensor(n_slots - 1), n_slots).to(seq)  # so that the first shift lands on slot 0
    writes, reads, out = [], [], []
    for t in range(T):
        w = address(M, w, seq[t], beta, 0.0, forward, gamma)  # location only: one slot forward
        M = memory_write(M, w, torch.ones_like(seq[t]), seq[t])
        writes.append(w)
    r = address(M, w, seq[0], beta, 1.0, stay, gamma)  # content: jump to where x_1 was written
    for t in range(T):
        if t > 0:
            r = address(M, r, seq[0], beta, 0.0, forward, gamma)  # then move forward by location
        reads.append(r)
        out.append(memory_read(M, r))
    return torch.stack(out), torch.stack(writes), torch.stack(reads)
