"""Date-format translation, a small seq2seq task that trains on a CPU in well under a minute.

Human-written dates in several styles are translated, character by character, into ISO 8601::

    "2024年3月5日"  "March 5, 2024"  "5 Mar 2024"  "05/03/2024" (day first)  ->  "2024-03-05"

>>> pairs = date_pairs(2, seed=0)
>>> [len(target) for _, target in pairs]
[10, 10]
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence

import torch

from seqcourse.data.text import Vocab, pad
from seqcourse.utils import check_positive

__all__ = ["STYLES", "format_date", "random_dates", "date_pairs", "date_vocab", "encode_pairs"]

_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
STYLES = ("zh", "en", "en_short", "dmy")
_FIRST, _LAST = datetime.date(1950, 1, 1).toordinal(), datetime.date(2049, 12, 31).toordinal()


def format_date(d: datetime.date, style: str) -> str:
    """Write ``d`` in one of :data:`STYLES`, or ``"iso"`` for the target form YYYY-MM-DD."""
    if style == "zh":
        return f"{d.year}年{d.month}月{d.day}日"
    if style == "en":
        return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"
    if style == "en_short":
        return f"{d.day} {_MONTHS[d.month - 1][:3]} {d.year}"
    if style == "dmy":
        return f"{d.day:02d}/{d.month:02d}/{d.year}"
    if style == "iso":
        return d.isoformat()
    raise ValueError(f"style must be one of {(*STYLES, 'iso')}, got {style!r}")


def random_dates(n: int, seed: int = 0) -> list[datetime.date]:
    """``n`` dates drawn uniformly from 1950-01-01 .. 2049-12-31, reproducible from ``seed``."""
    check_positive(n=n)
    rng = random.Random(seed)
    return [datetime.date.fromordinal(rng.randint(_FIRST, _LAST)) for _ in range(n)]


def date_pairs(n: int, seed: int = 0, styles: Sequence[str] = STYLES) -> list[tuple[str, str]]:
    """``n`` pairs (human-written date, ISO date); each source style is drawn uniformly from ``styles``."""
    for s in styles:
        format_date(datetime.date(2000, 1, 1), s)  # validates the style names
    rng = random.Random(seed + 1_000_003)
    return [(format_date(d, rng.choice(list(styles))), d.isoformat()) for d in random_dates(n, seed)]


def date_vocab() -> Vocab:
    """The character vocabulary of every style (fixed, independent of any sample)."""
    chars = sorted(set("0123456789-/, 年月日" + "".join(_MONTHS)))
    return Vocab([chars])


def encode_pairs(
    pairs: Sequence[tuple[str, str]], vocab: Vocab | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Encode pairs for a seq2seq model.

    Returns ``src`` (B, S) padded with ``<pad>``, ``src_lengths`` (B,) and ``tgt`` (B, 12) =
    [<bos>, 10 characters, <eos>]; a decoder reads ``tgt[:, :-1]`` and predicts ``tgt[:, 1:]``.
    """
    vocab = vocab or date_vocab()
    src, lengths = pad([vocab.encode(list(source)) for source, _ in pairs])  # (B, S), (B,)
    tgt, _ = pad([vocab.encode(list(target), bos=True, eos=True) for _, target in pairs])  # (B, 12)
    return src, lengths, tgt
