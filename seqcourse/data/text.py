"""The text pipeline of lecture 002: raw text -> tokenize -> dictionarize -> pad -> batch.

>>> vocab = Vocab([tokenize("the cat sat on the mat")])
>>> ids = vocab.encode(tokenize("the dog sat"))
>>> vocab.decode(ids)
['the', '<unk>', 'sat']
>>> padded, lengths = pad([[4, 5, 6], [7]])
>>> padded.tolist(), lengths.tolist()
([[4, 5, 6], [7, 0, 0]], [3, 1])

Reserved ids are shared with :mod:`seqcourse.data.synthetic`: ``<pad>`` = 0 (the lecture pads with 0),
``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3; ordinary tokens start at 4.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from seqcourse.utils import check_int_range, check_positive

__all__ = [
    "PAD_ID",
    "BOS_ID",
    "EOS_ID",
    "UNK_ID",
    "SPECIALS",
    "tokenize",
    "Vocab",
    "pad",
    "make_batches",
    "stream_batches",
]

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")

_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def tokenize(text: str, mode: str = "word", *, lower: bool = False) -> list[str]:
    """Split ``text`` into tokens.

    ``mode="word"``: English words (with inner apostrophes, ``don't``) and single punctuation marks.
    ``mode="char"``: every character, spaces included (what a character-level language model reads).
    ``mode="zh"``: Chinese word segmentation (分词) with jieba when it is installed; without jieba, every
    non-space character becomes a token.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if lower:
        text = text.lower()
    if mode == "word":
        return _WORD.findall(text)
    if mode == "char":
        return list(text)
    if mode == "zh":
        try:
            import jieba
        except ImportError:
            return [ch for ch in text if not ch.isspace()]
        jieba.setLogLevel(60)  # silence the "Building prefix dict" messages
        return [w for w in jieba.lcut(text) if not w.isspace()]
    raise ValueError(f"mode must be 'word', 'char' or 'zh', got {mode!r}")


class Vocab:
    """A two-way map between tokens and integer ids (the lecture's "dictionarize" step).

    Built from tokenized sentences; tokens seen fewer than ``min_freq`` times are dropped, and only the
    ``max_size`` most frequent ones are kept (``max_size`` counts the four specials too). Ties in frequency
    keep the order of first appearance, so the same corpus always gives the same ids. Unknown tokens encode
    to ``<unk>``.
    """

    def __init__(
        self, sentences: Iterable[Sequence[str]], *, min_freq: int = 1, max_size: int | None = None
    ) -> None:
        check_positive(min_freq=min_freq)
        if max_size is not None:
            check_int_range("max_size", max_size, len(SPECIALS))
        counts: Counter[str] = Counter()
        for sentence in sentences:
            if isinstance(sentence, str):
                raise TypeError("Vocab expects tokenized sentences (lists of str), got a str; use tokenize()")
            counts.update(sentence)
        ranked = [t for t, c in counts.most_common() if c >= min_freq and t not in SPECIALS]
        if max_size is not None:
            ranked = ranked[: max_size - len(SPECIALS)]
        self.itos: list[str] = [*SPECIALS, *ranked]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.counts = counts

    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, first={self.itos[len(SPECIALS) : len(SPECIALS) + 5]})"

    def encode(self, tokens: Sequence[str], *, bos: bool = False, eos: bool = False) -> list[int]:
        """Token list -> id list, optionally wrapped in ``<bos>`` ... ``<eos>``."""
        if isinstance(tokens, str) and len(tokens) != 1:
            raise TypeError("encode expects a list of tokens, got a str; call tokenize() first")
        ids = [self.stoi.get(t, UNK_ID) for t in tokens]
        return [BOS_ID] * bos + ids + [EOS_ID] * eos

    def decode(self, ids: Iterable[int] | torch.Tensor, *, strip: bool = True) -> list[str]:
        """Id list -> token list. With ``strip``, stop at the first ``<eos>`` and drop ``<pad>``/``<bos>``."""
        if isinstance(ids, torch.Tensor):
            if ids.ndim != 1:
                raise ValueError(f"decode expects a 1-D tensor of ids, got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        out = []
        for i in ids:
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i} is outside the vocabulary [0, {len(self.itos)})")
            if strip and i == EOS_ID:
                break
            if strip and i in (PAD_ID, BOS_ID):
                continue
            out.append(self.itos[i])
        return out


def pad(
    sequences: Sequence[Sequence[int]],
    *,
    pad_id: int = PAD_ID,
    max_len: int | None = None,
    truncate: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists to one LongTensor (B, L) on the right; return it with the lengths (B,).

    ``L`` is the longest length, or ``max_len`` when given (the lecture's "fixed length"). A sequence
    longer than ``max_len`` raises ``ValueError`` unless ``truncate=True``; lengths are after truncation.
    """
    if len(sequences) == 0:
        raise ValueError("pad() got no sequences")
    lengths = [len(s) for s in sequences]
    if max_len is None:
        max_len = max(lengths)
    else:
        check_positive(max_len=max_len)
    if not truncate and max(lengths) > max_len:
        raise ValueError(f"a sequence has length {max(lengths)} > max_len={max_len}; pass truncate=True")
    out = torch.full((len(sequences), max_len), pad_id, dtype=torch.long)  # (B, L)
    for row, seq in enumerate(sequences):
        seq = list(seq)[:max_len]
        if seq:
            out[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out, torch.tensor([min(n, max_len) for n in lengths], dtype=torch.long)


def make_batches(
    sequences: Sequence[Sequence[int]],
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    pad_id: int = PAD_ID,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Cut id lists into padded batches: a list of ``(ids (B, L), lengths (B,))``; the last may be smaller."""
    check_positive(batch_size=batch_size)
    order = torch.randperm(len(sequences), generator=generator).tolist() if shuffle else range(len(sequences))
    order = list(order)
    return [
        pad([sequences[i] for i in order[k : k + batch_size]], pad_id=pad_id)
        for k in range(0, len(order), batch_size)
    ]


def stream_batches(
    ids: Sequence[int] | torch.Tensor, batch_size: int, seq_len: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Language-model batches from one id stream: pairs ``(x (B, T), y (B, T))``, y = x shifted by one.

    The stream is cut into ``batch_size`` contiguous rows; batch k holds columns [kT, (k+1)T) of every row,
    so the hidden state of row b can be carried from one batch to the next (truncated BPTT).
    """
    check_positive(batch_size=batch_size, seq_len=seq_len)
    data = torch.as_tensor(ids, dtype=torch.long)
    if data.ndim != 1:
        raise ValueError(f"ids must be a 1-D stream, got shape {tuple(data.shape)}")
    per_row = (len(data) - 1) // batch_size
    if per_row < seq_len:
        raise ValueError(
            f"a stream of {len(data)} ids is too short for batch_size={batch_size} and seq_len={seq_len}"
        )
    x = data[: per_row * batch_size].view(batch_size, per_row)  # (B, N)
    y = data[1 : per_row * batch_size + 1].view(batch_size, per_row)  # (B, N)
    return [(x[:, k : k + seq_len], y[:, k : k + seq_len]) for k in range(0, per_row - seq_len + 1, seq_len)]
