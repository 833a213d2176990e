"""n-gram oracles: counts worked out by hand on a two-sentence corpus, normalisation, perplexity."""

import itertools
import math

import pytest

from seqcourse.ngram import BOS, EOS, InterpolatedLM, NGramLM

# Corpus: "a b" and "a a b". Padded bigrams: <s> a, a b, b </s> | <s> a, a a, a b, b </s>
#   #(<s>,a) = 2, #(a,b) = 2, #(a,a) = 1, #(b,</s>) = 2;  histories: #(<s>.) = 2, #(a.) = 3, #(b.) = 2
#   unigrams: a 3, b 2, </s> 2 (N = 7);  V = {a, b, </s>, <unk>}, |V| = 4
CORPUS = [["a", "b"], ["a", "a", "b"]]


def test_unigram_counts():
    mle = NGramLM(1, k=0).fit(CORPUS)
    assert mle.prob("a") == pytest.approx(3 / 7)
    assert mle.prob("b") == pytest.approx(2 / 7)
    assert mle.prob("zzz") == 0.0
    laplace = NGramLM(1, k=1).fit(CORPUS)
    assert laplace.prob("a") == pytest.approx(4 / 11)
    assert laplace.prob("zzz") == pytest.approx(1 / 11)


def test_bigram_counts_and_chain_rule():
    mle = NGramLM(2, k=0).fit(CORPUS)
    assert mle.prob("b", ["a"]) == pytest.approx(2 / 3)
    assert mle.prob("a", ["a"]) == pytest.approx(1 / 3)
    assert mle.prob("a", [BOS]) == 1.0
    # P(a b) = P(a|<s>) P(b|a) P(</s>|b) = 1 * 2/3 * 1
    assert math.exp(mle.sentence_logprob(["a", "b"])) == pytest.approx(2 / 3)
    assert mle.sentence_logprob(["b", "a"]) == -math.inf
    laplace = NGramLM(2, k=1).fit(CORPUS)
    # (2+1)/(2+4) * (2+1)/(3+4) * (2+1)/(2+4)
    assert math.exp(laplace.sentence_logprob(["a", "b"])) == pytest.approx(0.5 * 3 / 7 * 0.5)
    assert laplace.prob("never", ["a"]) == pytest.approx(1 / 7)


def test_trigram_counts():
    mle = NGramLM(3, k=0).fit(CORPUS)
    # #(<s>,a,b) = 1 and #(<s>,a,a) = 1 out of #(<s>,a .) = 2
    assert mle.prob("b", [BOS, "a"]) == pytest.approx(1 / 2)
    assert mle.prob("b", ["a", "a"]) == 1.0
    assert mle.prob("b", ["x", "a", "a"]) == 1.0  # only the last n - 1 words count


@pytest.mark.parametrize("n,k", [(1, 1.0), (2, 0.5), (3, 1.0), (2, 0.0)])
def test_conditionals_sum_to_one(n, k):
    lm = NGramLM(n, k=k).fit(CORPUS)
    words = sorted(lm.vocab)
    histories = [BOS, "a", "b"] if k == 0 else [BOS, "a", "b", "unseen"]
    for h in itertools.product(histories, repeat=n - 1):
        if k == 0 and lm.history_counts[h] == 0:
            continue
        assert sum(lm.prob(w, h) for w in words) == pytest.approx(1.0)


def test_perplexity_closed_forms():
    mle = NGramLM(2, k=0).fit(CORPUS)
    # log P(a b) = log 2/3; log P(a a b) = log 1/3 + log 2/3; N = 3 + 4 predicted tokens
    expected = math.exp(-(2 * math.log(2 / 3) + math.log(1 / 3)) / 7)
    assert mle.perplexity(CORPUS) == pytest.approx(expected)
    uniform = NGramLM(2, k=1e12).fit(CORPUS)  # k -> infinity: every word gets 1/|V|
    assert uniform.perplexity([["a", "x", "b", "b"]]) == pytest.approx(len(uniform.vocab), rel=1e-6)


def test_interpolation():
    lm = InterpolatedLM([0.2, 0.8]).fit(CORPUS)
    uni, bi = NGramLM(1, 0).fit(CORPUS), NGramLM(2, 0).fit(CORPUS)
    assert lm.prob("b", ["a"]) == pytest.approx(0.2 * uni.prob("b") + 0.8 * bi.prob("b", ["a"]))
    assert lm.sentence_logprob(["b", "a"]) > -math.inf  # the unigram term rescues the unseen bigram
    assert sum(lm.prob(w, ["a"]) for w in lm.vocab) == pytest.approx(1.0)
    assert sum(lm.prob(w, ["never"]) for w in lm.vocab) == pytest.approx(1.0)
    assert lm.prob(EOS, ["b"]) == pytest.approx(0.2 * 2 / 7 + 0.8)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n must"):
        NGramLM(0)
    with pytest.raises(ValueError, match="k must"):
        NGramLM(2, k=-1)
    with pytest.raises(TypeError, match="token lists"):
        NGramLM(2).fit(["a b"])
    with pytest.raises(ValueError, match="history"):
        NGramLM(3).fit(CORPUS).prob("a", ["a"])
    with pytest.raises(ValueError, match="lambdas"):
        InterpolatedLM([0.5, 0.6])
