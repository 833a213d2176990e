"""n-gram language models from counts (lecture 002); no neural network involved, hence not under ``nn/``.

Chain rule:        P(w_1..w_T) = prod_t P(w_t | w_1..w_{t-1})
Markov assumption: P(w_t | w_1..w_{t-1}) ~ P(w_t | w_{t-n+1}..w_{t-1})   (n = 1, 2, 3: uni-, bi-, trigram)
Counts:            P(w_2 | w_1) = #(w_1, w_2) / #(w_1)
Add-k smoothing:   P(w | h) = (#(h, w) + k) / (#(h .) + k |V|)      (k = 1: Laplace)

Each sentence is padded with n - 1 start symbols ``<s>`` and one end symbol ``</s>``; the end symbol is
predicted like a word, so the probabilities of all sentences sum to one. The vocabulary V holds the training
words, ``</s>`` and ``<unk>`` (any unseen word), but not ``<s>``, which is never predicted.

>>> lm = NGramLM(2, k=0.0).fit([["a", "b"], ["a", "a"]])
>>> lm.prob("b", ("a",))   # #(a, b) / #(a .) = 1 / 3
0.3333333333333333
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from seqcourse.utils import check_positive

__all__ = ["BOS", "EOS", "UNK", "NGramLM", "InterpolatedLM"]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


class NGramLM:
    """An n-gram model with add-k smoothing: ``NGramLM(n, k).fit(sentences)``."""

    def __init__(self, n: int, k: float = 1.0) -> None:
        check_positive(n=n)
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        self.n, self.k = n, float(k)
        self.ngram_counts: Counter[tuple[str, ...]] = Counter()  # #(h, w) for every history h of length n-1
        self.history_counts: Counter[tuple[str, ...]] = Counter()  # #(h .): how often h is followed by a word
        self.vocab: set[str] = set()

    def _padded(self, sentence: Sequence[str]) -> list[str]:
        if isinstance(sentence, str):
            raise TypeError("sentences must be token lists, got a str; tokenize first")
        return [BOS] * (self.n - 1) + [w if w in self.vocab else UNK for w in sentence] + [EOS]

    def fit(self, sentences: Iterable[Sequence[str]]) -> NGramLM:
        """Count n-grams in tokenized ``sentences``; returns self."""
        sentences = list(sentences)
        if not sentences:
            raise ValueError("fit() got no sentences")
        self.vocab = {w for s in sentences for w in s} | {EOS, UNK}
        if BOS in self.vocab:
            raise ValueError(f"{BOS!r} is reserved for the start padding")
        self.ngram_counts.clear()
        self.history_counts.clear()
        for s in sentences:
            padded = self._padded(s)
            for i in range(self.n - 1, len(padded)):
                gram = tuple(padded[i - self.n + 1 : i + 1])
                self.ngram_counts[gram] += 1
                self.history_counts[gram[:-1]] += 1
        return self

    def prob(self, word: str, history: Sequence[str] = ()) -> float:
        """P(word | history) with add-k smoothing; only the last n - 1 history words are used."""
        if not self.vocab:
            raise RuntimeError("call fit() first")
        history = tuple(history)[len(history) - (self.n - 1) :] if self.n > 1 else ()
        if len(history) != self.n - 1:
            raise ValueError(f"a {self.n}-gram model needs {self.n - 1} history words, got {len(history)}")
        word = word if word in self.vocab else UNK
        history = tuple(h if h in self.vocab or h == BOS else UNK for h in history)
        num = self.ngram_counts[(*history, word)] + self.k
        den = self.history_counts[history] + self.k * len(self.vocab)
        if den == 0:
            raise ZeroDivisionError(f"history {history} never seen and k = 0; use k > 0 or interpolation")
        return num / den

    def sentence_logprob(self, sentence: Sequence[str]) -> float:
        """log P(sentence) = sum_t log P(w_t | previous n - 1 words), ``</s>`` included (natural log)."""
        padded = self._padded(sentence)
        total = 0.0
        for i in range(self.n - 1, len(padded)):
            p = self.prob(padded[i], padded[i - self.n + 1 : i])
            if p == 0.0:
                return -math.inf
            total += math.log(p)
        return total

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """exp(-(1/N) sum log P), N = number of predicted tokens (words plus one ``</s>`` per sentence)."""
        sentences = list(sentences)
        if not sentences:
            raise ValueError("perplexity() got no sentences")
        n_tokens = sum(len(s) + 1 for s in sentences)
        return math.exp(-sum(self.sentence_logprob(s) for s in sentences) / n_tokens)


class InterpolatedLM(NGramLM):
    """Linear interpolation of the 1..n-gram estimates: P(w | h) = sum_j lambda_j P_j(w | h).

    ``lambdas[j]`` weighs the (j+1)-gram model; they must be non-negative and sum to one. With k = 0 the
    unigram term still gives every seen word a non-zero probability.
    """

    def __init__(self, lambdas: Sequence[float], k: float = 0.0) -> None:
        if not lambdas or any(lam < 0 for lam in lambdas) or not math.isclose(sum(lambdas), 1.0):
            raise ValueError(f"lambdas must be non-negative and sum to 1, got {list(lambdas)}")
        super().__init__(len(lambdas), k)
        self.lambdas = list(lambdas)
        self.models = [NGramLM(j + 1, k) for j in range(len(lambdas))]

    def fit(self, sentences: Iterable[Sequence[str]]) -> InterpolatedLM:
        sentences = list(sentences)
        for m in self.models:
            m.fit(sentences)
        self.vocab = self.models[0].vocab
        return self

    def prob(self, word: str, history: Sequence[str] = ()) -> float:
        """sum_j lambda_j P_j(w | h); a j-gram whose history was never seen (with k = 0) uses P_1(w)."""
        history = tuple(history)
        unigram = self.models[0].prob(word)
        total = 0.0
        for lam, m in zip(self.lambdas, self.models, strict=True):
            if lam == 0:
                continue
            try:
                total += lam * m.prob(word, history[len(history) - (m.n - 1) :] if m.n > 1 else ())
            except ZeroDivisionError:
                total += lam * unigram
        return total
