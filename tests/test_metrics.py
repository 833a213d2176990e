"""Metrics of decoded sequences: token / sequence accuracy and BLEU, each against a hand computation."""

import math

import pytest
import torch

from seqcourse.metrics import bleu, corpus_bleu, sequence_accuracy, token_accuracy


def test_token_accuracy_counts_non_pad_positions():
    target = torch.tensor([[4, 5, 2, 0], [6, 2, 0, 0]])
    pred = torch.tensor([[4, 9, 2], [6, 2, 0]])
    assert token_accuracy(pred, target) == pytest.approx(4 / 5)
    assert token_accuracy(torch.tensor([[4, 5, 2, 7, 7], [6, 2, 0, 0, 0]]), target) == 1.0  # cut to T
    assert token_accuracy(torch.tensor([[4], [6]]), target) == pytest.approx(2 / 5)  # padded: eos missing
    with pytest.raises(ValueError, match="only padding"):
        token_accuracy(pred, torch.zeros(2, 4, dtype=torch.long))


def test_sequence_accuracy_needs_every_position_including_the_padding():
    target = torch.tensor([[4, 5, 2, 0], [6, 2, 0, 0], [7, 2, 0, 0]])
    pred = torch.tensor([[4, 5, 2], [6, 2, 0], [7, 7, 2]])
    assert sequence_accuracy(pred, target) == pytest.approx(2 / 3)
    late = torch.tensor([[4, 5, 2, 9], [6, 2, 0, 0], [7, 2, 0, 0]])  # a token where the target pads
    assert sequence_accuracy(late, target) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same batch size"):
        sequence_accuracy(pred[:2], target)


def test_bleu_hand_computed():
    cand = "the cat sat on the mat".split()
    ref = "the cat sat on a mat".split()
    # clipped matches: unigrams 5/6, bigrams 3/5, trigrams 2/4, 4-grams 1/3; equal lengths -> BP = 1
    assert bleu(cand, [ref]) == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)
    # Papineni et al.'s example of clipping: modified unigram precision 2/7; closest reference length 7
    refs = ["the cat is on the mat".split(), "there is a cat on the mat".split()]
    assert bleu(["the"] * 7, refs, max_n=1) == pytest.approx(2 / 7)
    # brevity penalty: c = 2, r = 6 -> exp(1 - 3)
    assert bleu("the cat".split(), ["the cat sat on the mat".split()], max_n=2) == pytest.approx(math.exp(-2))
    assert bleu(cand, [cand]) == 1.0
    assert bleu("a b c".split(), ["a b d".split()]) == 0.0  # no 4-gram (or trigram) in common
    # smoothing: (2/3 * (1+1)/(2+1) * (0+1)/(1+1))^(1/3) with max_n=3
    assert bleu("a b c".split(), ["a b d".split()], max_n=3, smooth=True) == pytest.approx(
        (2 / 3 * 2 / 3 * 1 / 2) ** (1 / 3))


def test_corpus_bleu_pools_counts():
    c = ["a b c d".split(), "e f".split()]
    r = [["a b c d".split()], ["e g".split()]]
    # unigrams 5/6, bigrams 3/4 (e f misses); max_n=2; c = r = 6
    assert corpus_bleu(c, r, max_n=2) == pytest.approx(math.sqrt(5 / 6 * 3 / 4))


def test_bleu_bad_inputs():
    with pytest.raises(TypeError, match="token lists"):
        bleu("the cat", ["the cat"])
    with pytest.raises(ValueError, match="reference"):
        corpus_bleu([["a"]], [])
    with pytest.raises(ValueError, match="max_n must be a positive int"):
        bleu(["a"], [["a"]], max_n=0)
