"""Text pipeline, date data and the shipped corpus: round trips, hand-written expectations, clear errors."""

import datetime

import pytest
import torch

from seqcourse.data import dates
from seqcourse.data.corpus import python_docs, python_docs_topics
from seqcourse.data.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIALS,
    UNK_ID,
    Vocab,
    make_batches,
    pad,
    stream_batches,
    tokenize,
)


def test_tokenize_modes():
    assert tokenize("Don't stop, LSTM!") == ["Don't", "stop", ",", "LSTM", "!"]
    assert tokenize("Hi Bob", lower=True) == ["hi", "bob"]
    assert tokenize("ab c", "char") == ["a", "b", " ", "c"]
    zh = tokenize("我爱 北京", "zh")
    assert "".join(zh) == "我爱北京" and all(t.strip() for t in zh)
    with pytest.raises(ValueError, match="mode"):
        tokenize("x", "bytes")
    with pytest.raises(TypeError, match="str"):
        tokenize(["x"])


def test_vocab_ids_frequency_order_and_unk():
    sents = [tokenize("b a b c"), tokenize("b a")]
    v = Vocab(sents)
    assert v.itos[:4] == list(SPECIALS)
    assert (v["<pad>"], v["<bos>"], v["<eos>"], v["<unk>"]) == (PAD_ID, BOS_ID, EOS_ID, UNK_ID)
    assert v.itos[4:] == ["b", "a", "c"]  # by frequency (3, 2, 1)
    ids = v.encode(["a", "zebra", "c"], bos=True, eos=True)
    assert ids == [BOS_ID, 5, UNK_ID, 6, EOS_ID]
    assert v.decode(ids) == ["a", "<unk>", "c"]
    assert v.decode(ids, strip=False) == ["<bos>", "a", "<unk>", "c", "<eos>"]
    assert v.decode(torch.tensor([4, 5, EOS_ID, 6])) == ["b", "a"]  # stops at <eos>
    tokens = ["b", "a", "c", "b"]
    assert v.decode(v.encode(tokens)) == tokens


def test_vocab_min_freq_and_max_size():
    sents = [list("aaabbc")]
    assert Vocab(sents, min_freq=2).itos[4:] == ["a", "b"]
    assert Vocab(sents, max_size=5).itos[4:] == ["a"]
    assert "c" not in Vocab(sents, max_size=6) and len(Vocab(sents, max_size=6)) == 6
    with pytest.raises(ValueError, match="min_freq"):
        Vocab(sents, min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        Vocab(sents, max_size=2)
    with pytest.raises(TypeError, match="tokenized"):
        Vocab(["a sentence"])
    with pytest.raises(ValueError, match="outside"):
        Vocab(sents).decode([99])


def test_pad_shapes_lengths_and_truncation():
    x, lengths = pad([[5, 6, 7], [8], []])
    assert x.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]] and x.dtype == torch.long
    assert lengths.tolist() == [3, 1, 0]
    x, lengths = pad([[5, 6, 7], [8]], max_len=5, pad_id=-1)
    assert x.shape == (2, 5) and x[1].tolist() == [8, -1, -1, -1, -1]
    x, lengths = pad([[5, 6, 7], [8]], max_len=2, truncate=True)
    assert x.tolist() == [[5, 6], [8, 0]] and lengths.tolist() == [2, 1]
    with pytest.raises(ValueError, match="max_len"):
        pad([[5, 6, 7]], max_len=2)
    with pytest.raises(ValueError, match="no sequences"):
        pad([])


def test_make_batches_covers_everything_once():
    seqs = [[i + 4] * (i % 3 + 1) for i in range(10)]
    batches = make_batches(seqs, 4, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    seen = sorted(
        tuple(row[: int(n)].tolist()) for x, lengths in batches for row, n in zip(x, lengths, strict=True)
    )
    assert seen == sorted(tuple(s) for s in seqs)


def test_stream_batches_shift_and_continuity():
    ids = list(range(100))
    batches = stream_batches(ids, batch_size=3, seq_len=5)
    per_row = 99 // 3
    assert len(batches) == per_row // 5
    for k, (x, y) in enumerate(batches):
        assert x.shape == y.shape == (3, 5)
        assert torch.equal(y, x + 1)  # the target is the next id
        assert x[:, 0].tolist() == [r * per_row + 5 * k for r in range(3)]  # rows continue across batches
    with pytest.raises(ValueError, match="too short"):
        stream_batches(ids[:5], 2, 5)


def test_dates_formats_and_encoding():
    d = datetime.date(2024, 3, 5)
    assert dates.format_date(d, "zh") == "2024年3月5日"
    assert dates.format_date(d, "en") == "March 5, 2024"
    assert dates.format_date(d, "en_short") == "5 Mar 2024"
    assert dates.format_date(d, "dmy") == "05/03/2024"
    assert dates.format_date(d, "iso") == "2024-03-05"
    pairs = dates.date_pairs(200, seed=1)
    assert pairs == dates.date_pairs(200, seed=1) and pairs != dates.date_pairs(200, seed=2)
    for src, tgt in pairs:
        day = datetime.date.fromisoformat(tgt)
        assert src in {dates.format_date(day, s) for s in dates.STYLES}
    vocab = dates.date_vocab()
    src, lengths, tgt = dates.encode_pairs(pairs, vocab)
    assert tgt.shape == (200, 12) and (tgt[:, 0] == BOS_ID).all() and (tgt[:, -1] == EOS_ID).all()
    assert not (src == UNK_ID).any() and not (tgt == UNK_ID).any()
    for i in range(3):
        assert "".join(vocab.decode(src[i, : lengths[i]])) == pairs[i][0]
        assert "".join(vocab.decode(tgt[i])) == pairs[i][1]
    with pytest.raises(ValueError, match="style"):
        dates.date_pairs(3, styles=["roman"])


def test_python_docs_split_is_a_partition():
    topics = python_docs_topics()
    train, val = python_docs("train"), python_docs("val")
    assert len(train) > 100_000 and len(val) > 10_000
    assert len(train) + len(val) + 2 == len(python_docs("all"))
    names = sorted(topics)
    assert topics[names[9]].strip() in val and topics[names[9]].strip() not in train
    assert topics[names[0]].strip() in train
    with pytest.raises(ValueError, match="split"):
        python_docs("test")
