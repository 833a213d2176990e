"""Connectionist Temporal Classification (CTC, lecture 001): many-to-many where the output is shorter.

The network emits, at each of T input steps, a distribution over C symbols that include an extra blank
phi (id ``blank``). An alignment pi in {0..C-1}^T maps to a label sequence by B(pi): merge repeated symbols,
then drop blanks, so "hh-e-ll-ll-o" -> "hello" (a blank between the two l's keeps both). The CTC loss sums
over every alignment of the target:

    -log P(y | x) = -log sum_{pi : B(pi) = y} prod_t p_t(pi_t)

computed by ``torch.nn.functional.ctc_loss`` with the forward algorithm. Here inputs are batch-first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqcourse.utils import check_ndim, check_shape

__all__ = ["ctc_loss", "ctc_collapse", "ctc_greedy_decode"]


def ctc_loss(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = 0,
    reduction: str = "mean",
) -> torch.Tensor:
    """CTC loss for batch-first ``log_probs`` (B, T, C) (log-softmax over C), padded ``targets`` (B, L),
    ``input_lengths`` (B,) and ``target_lengths`` (B,).

    ``reduction="sum"`` gives sum_b -log P(y_b | x_b); ``"none"`` the (B,) vector; ``"mean"`` (torch's
    convention) divides each term by its target length, then averages. Impossible alignments (a target too
    long for its input) give an infinite loss, as in torch.
    """
    check_ndim("log_probs", log_probs, 3)
    B, T, C = log_probs.shape
    check_ndim("targets", targets, 2)
    check_shape("targets", targets, (B, "L"))
    check_shape("input_lengths", input_lengths, (B,))
    check_shape("target_lengths", target_lengths, (B,))
    if not 0 <= blank < C:
        raise ValueError(f"blank must be a class id in [0, {C}), got {blank}")
    if int(input_lengths.max()) > T or int(input_lengths.min()) < 1:
        raise ValueError(f"input_lengths must lie in [1, T={T}], got {input_lengths.tolist()}")
    if int(target_lengths.max()) > targets.shape[1] or int(target_lengths.min()) < 0:
        raise ValueError(f"target_lengths must lie in [0, {targets.shape[1]}], got {target_lengths.tolist()}")
    positions = torch.arange(targets.shape[1], device=targets.device)  # (L,)
    real = positions[None, :] < target_lengths[:, None].to(targets.device)  # (B, L)
    if bool((targets[real] == blank).any()):
        raise ValueError(f"targets must not contain the blank id {blank}")
    return F.ctc_loss(
        log_probs.transpose(0, 1),  # (T, B, C): torch's layout
        targets,
        input_lengths,
        target_lengths,
        blank=blank,
        reduction=reduction,
    )


def ctc_collapse(path: list[int], blank: int = 0) -> list[int]:
    """B(pi): merge consecutive repeats, then remove blanks."""
    out: list[int] = []
    prev = None
    for s in path:
        if s != prev and s != blank:
            out.append(s)
        prev = s
    return out


def ctc_greedy_decode(
    log_probs: torch.Tensor, input_lengths: torch.Tensor | None = None, blank: int = 0
) -> list[list[int]]:
    """Best path decoding: pi_t = argmax_c p_t(c), then B(pi); ``log_probs`` (B, T, C) -> B label lists."""
    check_ndim("log_probs", log_probs, 3)
    B, T, _ = log_probs.shape
    if input_lengths is None:
        input_lengths = torch.full((B,), T, dtype=torch.long)
    check_shape("input_lengths", input_lengths, (B,))
    best = log_probs.argmax(-1).tolist()  # (B, T)
    return [ctc_collapse(best[b][: int(input_lengths[b])], blank) for b in range(B)]
