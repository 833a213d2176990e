"""Scores of decoded sequences: token and whole-sequence accuracy, and BLEU (Papineni et al. 2002).

The accuracies compare a decoder's output ``pred`` (B, L) with targets ``target`` (B, T), position by
position; ``pred`` is cut or padded with ``pad_id`` to T first, so an early or late ``eos`` counts as wrong.
BLEU works on lists of tokens (any hashable symbols).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import torch
import torch.nn.functional as F

from seqcourse.utils import check_ndim, check_positive

__all__ = ["token_accuracy", "sequence_accuracy", "bleu", "corpus_bleu"]


def _aligned(pred: torch.Tensor, target: torch.Tensor, pad_id: int) -> torch.Tensor:
    check_ndim("pred", pred, 2)
    check_ndim("target", target, 2)
    if pred.shape[0] != target.shape[0]:
        sizes = f"{pred.shape[0]} and {target.shape[0]}"
        raise ValueError(f"pred and target need the same batch size, got {sizes}")
    T = target.shape[1]
    return F.pad(pred[:, :T], (0, max(0, T - pred.shape[1])), value=pad_id)  # (B, T)


def token_accuracy(pred: torch.Tensor, target: torch.Tensor, pad_id: int = 0) -> float:
    """Share of the non-pad target tokens (``eos`` included) that ``pred`` reproduces at the same position.

    ``pred`` (B, L) from a decoder, ``target`` (B, T), e.g. ``tgt[:, 1:]`` without the ``bos``.
    """
    real = target != pad_id  # (B, T)
    if not bool(real.any()):
        raise ValueError("target holds only padding")
    return float((_aligned(pred, target, pad_id) == target)[real].float().mean())


def sequence_accuracy(pred: torch.Tensor, target: torch.Tensor, pad_id: int = 0) -> float:
    """Share of rows that ``pred`` reproduces exactly (every position of ``target``, padding included)."""
    return float((_aligned(pred, target, pad_id) == target).all(dim=1).float().mean())


def _ngrams(tokens: Sequence[Hashable], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(
    candidates: Sequence[Sequence[Hashable]],
    references: Sequence[Sequence[Sequence[Hashable]]],
    max_n: int = 4,
    smooth: bool = False,
) -> float:
    """Corpus BLEU = BP * exp(mean_n log p_n), n = 1..max_n.

    p_n = sum of clipped n-gram matches / sum of candidate n-grams over the corpus, where a candidate n-gram
    counts at most as often as it appears in any one reference. BP = 1 if c > r else exp(1 - r / c), with c
    the total candidate length and r the sum of the reference lengths closest to each candidate (the shorter
    one on a tie). ``smooth=True`` adds 1 to the numerator and denominator of p_n for n >= 2 (Lin & Och 2004),
    so one missing 4-gram does not zero the score of a short sentence.
    """
    if len(candidates) != len(references):
        raise ValueError(f"got {len(candidates)} candidates but {len(references)} reference lists")
    check_positive(max_n=max_n)
    if len(candidates) == 0:
        raise ValueError("corpus_bleu() got no candidates")
    matches, totals = [0] * max_n, [0] * max_n
    c_len = r_len = 0
    for cand, refs in zip(candidates, references, strict=True):
        if isinstance(cand, str) or any(isinstance(r, str) for r in refs):
            raise TypeError("BLEU works on token lists, got a str; tokenize first")
        if len(refs) == 0:
            raise ValueError("every candidate needs at least one reference")
        c_len += len(cand)
        r_len += min((abs(len(r) - len(cand)), len(r)) for r in refs)[1]
        for n in range(1, max_n + 1):
            counts = _ngrams(cand, n)
            best_ref: Counter = Counter()
            for r in refs:
                best_ref |= _ngrams(r, n)
            matches[n - 1] += sum(min(c, best_ref[g]) for g, c in counts.items())
            totals[n - 1] += sum(counts.values())
    if c_len == 0:
        return 0.0
    log_p = 0.0
    for n in range(max_n):
        m, t = matches[n], totals[n]
        if smooth and n > 0:
            m, t = m + 1, t + 1
        if m == 0 or t == 0:
            return 0.0
        log_p += math.log(m / t) / max_n
    bp = 1.0 if c_len > r_len else math.exp(1 - r_len / c_len)
    return bp * math.exp(log_p)


def bleu(
    candidate: Sequence[Hashable],
    references: Sequence[Sequence[Hashable]],
    max_n: int = 4,
    smooth: bool = False,
) -> float:
    """Sentence BLEU of one candidate token list against one or more reference token lists.

    >>> bleu("the cat sat on the mat".split(), ["the cat sat on the mat".split()])
    1.0
    """
    return corpus_bleu([candidate], [references], max_n=max_n, smooth=smooth)
