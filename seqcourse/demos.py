"""Small trainers the chapters and assignments call, each built on :func:`seqcourse.train.fit`.

Models live in :mod:`seqcourse.nn`; the few functions here put a model, a data set and a training recipe
together so that a chapter can show the result in one line. Each one is covered by a test that checks
what it promises (``tests/test_demos.py``).

* :func:`train_hello`: the lecture's "hello" language model (chapter 语言模型);
* :func:`train_dates`: the attention seq2seq model on date-format translation (assignment a06).
"""

from __future__ import annotations

import torch

from seqcourse.data import dates
from seqcourse.data.text import PAD_ID
from seqcourse.metrics import sequence_accuracy
from seqcourse.nn.language_model import RNNLanguageModel
from seqcourse.nn.seq2seq import Seq2Seq
from seqcourse.train import fit
from seqcourse.utils import check_positive, seed_everything

__all__ = ["HELLO_VOCAB", "train_hello", "train_dates"]

HELLO_VOCAB = ["h", "e", "l", "o"]


def train_hello(steps: int = 80, cell: str = "lstm", seed: int = 0) -> RNNLanguageModel:
    """Fit the lecture's example, inputs "hell" -> targets "ello" over the vocabulary [h, e, l, o], with
    ``steps`` Adam updates (learning rate 0.05) on that one sequence; returns the model in eval mode."""
    check_positive(steps=steps)
    seed_everything(seed)
    ids = {ch: i for i, ch in enumerate(HELLO_VOCAB)}
    x = torch.tensor([[ids[c] for c in "hell"]])  # (1, 4)
    y = torch.tensor([[ids[c] for c in "ello"]])  # (1, 4)
    model = RNNLanguageModel(len(HELLO_VOCAB), emb_size=8, hidden_size=16, cell=cell)
    fit(model, [(x, y)], epochs=steps, lr=0.05, progress=False)
    return model.eval()


def train_dates(
    n_train: int = 2000,
    n_val: int = 300,
    epochs: int = 3,
    batch_size: int = 50,
    attention: bool = True,
    sampling_prob: float = 0.0,
    seed: int = 0,
) -> tuple[Seq2Seq, float]:
    """Train :class:`~seqcourse.nn.seq2seq.Seq2Seq` on date-format translation (:mod:`seqcourse.data.dates`)
    on the CPU; return the model (eval mode) and the share of ``n_val`` held-out dates that greedy decoding
    translates exactly (``tests/test_demos.py`` checks it is at least 0.8 with the defaults)."""
    check_positive(n_train=n_train, n_val=n_val, epochs=epochs, batch_size=batch_size)
    g = seed_everything(seed)
    vocab = dates.date_vocab()
    src, lengths, tgt = dates.encode_pairs(dates.date_pairs(n_train, seed=seed), vocab)
    order = torch.randperm(n_train, generator=g)
    batches = []
    for k in range(0, n_train, batch_size):
        idx = order[k : k + batch_size]
        S = int(lengths[idx].max())  # drop the padding columns this batch does not need
        batches.append((src[idx, :S], lengths[idx], tgt[idx]))
    model = Seq2Seq(len(vocab), len(vocab), emb_size=16, hidden_size=64, attention=attention,
                    sampling_prob=sampling_prob)
    fit(model, batches, epochs=epochs, lr=1e-2, clip=1.0, progress=False)
    model.eval()
    v_src, v_len, v_tgt = dates.encode_pairs(dates.date_pairs(n_val, seed=seed + 1), vocab)
    pred = model.greedy(v_src, v_len, max_len=v_tgt.shape[1] - 1)  # (n_val, <= T)
    return model, sequence_accuracy(pred, v_tgt[:, 1:], pad_id=PAD_ID)

