"""Synthetic sequence tasks that train on a laptop CPU in seconds.

Every generator takes a ``torch.Generator`` so that a chapter, a test and an assignment see the same data
from the same seed. Token tasks share the reserved ids of :mod:`seqcourse.data.text`:

======  ====  =====================================================
name    id    meaning
======  ====  =====================================================
PAD     0     padding after the end of a shorter sequence
BOS     1     begin-of-sequence, the decoder's first input
EOS     2     end-of-sequence, the decoder's last target
FIRST   3     first ordinary symbol; symbols are ``3 .. 3 + n_symbols - 1``
======  ====  =====================================================

Token tasks return ``(src, tgt)`` with ``src`` of shape (B, T) and ``tgt = [BOS, y_1..y_n, EOS, PAD...]`` of
shape (B, T + 2). A seq2seq decoder reads ``tgt[:, :-1]`` and predicts ``tgt[:, 1:]`` (teacher forcing);
the true source lengths are ``(src != PAD).sum(1)``.
"""

from __future__ import annotations

import math

import torch

from seqcourse.data.text import BOS_ID, EOS_ID, PAD_ID
from seqcourse.utils import check_int_range, check_positive

__all__ = [
    "PAD",
    "BOS",
    "EOS",
    "FIRST",
    "copy_task",
    "reverse_task",
    "adding_task",
    "sine_task",
    "narx_task",
    "narx_step",
]

PAD, BOS, EOS = PAD_ID, BOS_ID, EOS_ID
FIRST = 3


def _random_tokens(
    batch_size: int, seq_len: int, n_symbols: int, min_len: int | None, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random symbols (B, T) padded with PAD after a random length in [min_len, T]; also the lengths (B,)."""
    check_positive(batch_size=batch_size, seq_len=seq_len, n_symbols=n_symbols)
    min_len = seq_len if min_len is None else min_len
    check_int_range("min_len", min_len, 1, seq_len)
    tokens = torch.randint(FIRST, FIRST + n_symbols, (batch_size, seq_len), generator=generator)  # (B, T)
    lengths = torch.randint(min_len, seq_len + 1, (batch_size,), generator=generator)  # (B,)
    positions = torch.arange(seq_len)  # (T,)
    tokens = tokens.masked_fill(positions[None, :] >= lengths[:, None], PAD)  # (B, T)
    return tokens, lengths


def _wrap(body: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """[BOS, body[:len], EOS, PAD...] of shape (B, T + 2) for a PAD-padded body (B, T)."""
    B, T = body.shape
    tgt = body.new_full((B, T + 2), PAD)  # (B, T + 2)
    tgt[:, 0] = BOS
    tgt[:, 1 : T + 1] = body
    tgt[torch.arange(B), lengths + 1] = EOS
    return tgt


def copy_task(
    batch_size: int,
    seq_len: int,
    n_symbols: int = 10,
    *,
    min_len: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy the input: y = x.

    Returns ``src`` (B, T) and ``tgt`` (B, T + 2) = [BOS, x_1..x_n, EOS, PAD...]. With ``min_len`` the
    lengths n are drawn uniformly from [min_len, T] and the rest of ``src`` is PAD.
    """
    src, lengths = _random_tokens(batch_size, seq_len, n_symbols, min_len, generator)
    return src, _wrap(src, lengths)


def reverse_task(
    batch_size: int,
    seq_len: int,
    n_symbols: int = 10,
    *,
    min_len: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reverse the input: y = (x_n, ..., x_1); shapes as in :func:`copy_task`.

    Only the first n (non-PAD) symbols are reversed, so padding stays at the end.
    """
    src, lengths = _random_tokens(batch_size, seq_len, n_symbols, min_len, generator)
    positions = torch.arange(seq_len)  # (T,)
    index = (lengths[:, None] - 1 - positions[None, :]).clamp(min=0)  # (B, T), source index of output t
    body = src.gather(1, index).masked_fill(positions[None, :] >= lengths[:, None], PAD)  # (B, T)
    return src, _wrap(body, lengths)


def adding_task(
    batch_size: int, seq_len: int, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997), a test of long-term memory.

    Input x (B, T, 2): channel 0 holds values u_t ~ U[0, 1]; channel 1 is a marker that is 1 at exactly two
    positions, one in the first half [0, T/2) and one in the second half [T/2, T). The target (B,) is the
    sum of the two marked values. Predicting the constant 1 gives a mean squared error of about 1/6, the
    baseline a model must beat.
    """
    check_positive(batch_size=batch_size)
    check_int_range("seq_len", seq_len, 2)
    half = seq_len // 2
    values = torch.rand(batch_size, seq_len, generator=generator)  # (B, T)
    first = torch.randint(0, half, (batch_size,), generator=generator)  # (B,)
    second = torch.randint(half, seq_len, (batch_size,), generator=generator)  # (B,)
    markers = torch.zeros(batch_size, seq_len)  # (B, T)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)  # (B, T, 2)
    y = values[rows, first] + values[rows, second]  # (B,)
    return x, y


def sine_task(
    batch_size: int,
    seq_len: int,
    *,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One-step-ahead prediction of sine waves with random frequency and phase.

    s_t = sin(omega t + phi) (+ Gaussian noise of std ``noise``), omega ~ U[0.1, 0.5], phi ~ U[0, 2 pi).
    Returns x (B, T, 1) = s_0..s_{T-1} and y (B, T, 1) = s_1..s_T, so ``y[:, t] == x[:, t + 1]``.
    """
    check_positive(batch_size=batch_size, seq_len=seq_len)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    omega = 0.1 + 0.4 * torch.rand(batch_size, 1, generator=generator)  # (B, 1)
    phi = 2 * math.pi * torch.rand(batch_size, 1, generator=generator)  # (B, 1)
    t = torch.arange(seq_len + 1, dtype=torch.float32)  # (T + 1,)
    s = torch.sin(omega * t[None, :] + phi)  # (B, T + 1)
    if noise > 0:
        s = s + noise * torch.randn(s.shape, generator=generator)
    return s[:, :-1, None], s[:, 1:, None]


def narx_step(y_n: torch.Tensor, y_prev: torch.Tensor, u_n: torch.Tensor) -> torch.Tensor:
    """The nonlinear plant of Narendra & Parthasarathy (1990), a NARX system with q = 2:

    y_{n+1} = F(y_n, y_{n-1}; u_n) = y_n y_{n-1} (y_n + 2.5) / (1 + y_n^2 + y_{n-1}^2) + u_n.
    """
    return y_n * y_prev * (y_n + 2.5) / (1 + y_n**2 + y_prev**2) + u_n


def narx_task(
    batch_size: int, seq_len: int, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """System identification data for the input-output recurrent (NARX) model of lecture 003.

    Inputs u_n ~ U[-2, 2]; the plant starts from y_0 = y_{-1} = 0 and follows :func:`narx_step`.
    Returns u (B, T, 1) = u_0..u_{T-1} and y (B, T, 1) = y_1..y_T: ``y[:, n]`` depends on inputs up to n.
    """
    check_positive(batch_size=batch_size, seq_len=seq_len)
    u = 4 * torch.rand(batch_size, seq_len, generator=generator) - 2  # (B, T)
    y_n = u.new_zeros(batch_size)  # (B,)
    y_prev = u.new_zeros(batch_size)  # (B,)
    ys = []
    for n in range(seq_len):
        y_n, y_prev = narx_step(y_n, y_prev, u[:, n]), y_n
        ys.append(y_n)
    return u[..., None], torch.stack(ys, dim=1)[..., None]
