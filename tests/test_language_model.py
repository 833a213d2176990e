"""Recurrent language model: the lecture's "hello" example, state carrying, perplexity closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqcourse.data.corpus import python_docs
from seqcourse.data.text import Vocab, stream_batches
from seqcourse.decoding import greedy_decode
from seqcourse.nn.language_model import HELLO_VOCAB, RNNLanguageModel, perplexity, train_hello


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_hello_is_reproduced_greedily(cell):
    model = train_hello(cell=cell)
    h = HELLO_VOCAB.index("h")
    with torch.no_grad():
        out = greedy_decode(model.step_fn(), None, bos=h, eos=None, max_len=4, batch_size=1)
    assert "h" + "".join(HELLO_VOCAB[i] for i in out[0].tolist()) == "hello"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_step_by_step_equals_full_forward(cell):
    torch.manual_seed(0)
    model = RNNLanguageModel(7, emb_size=5, hidden_size=6, cell=cell, num_layers=2).double()
    x = torch.randint(0, 7, (3, 6))
    full = torch.log_softmax(model(x)[0], dim=-1)  # (B, T, V)
    step, state = model.step_fn(), None
    for t in range(6):
        log_probs, state = step(x[:, : t + 1], state)
        torch.testing.assert_close(log_probs, full[:, t])
        assert all(s.shape[0] == 3 for s in state)  # batch-first for beam search
    # a prompt read in one call gives the same last distribution
    torch.testing.assert_close(step(x, None)[0], full[:, -1])


def test_perplexity_closed_forms():
    torch.manual_seed(0)
    model = RNNLanguageModel(11, cell="gru")
    batches = [(torch.randint(0, 11, (2, 5)), torch.randint(0, 11, (2, 5))) for _ in range(3)]
    with torch.no_grad():
        nll = sum(F.cross_entropy(model(x)[0].flatten(0, 1), y.flatten(), reduction="sum")
                  for x, y in batches)
    assert perplexity(model, batches) == pytest.approx(math.exp(float(nll) / 30), rel=1e-5)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.zero_()
    assert perplexity(model, batches) == pytest.approx(11.0)  # uniform predictions: perplexity = |V|


@pytest.mark.slow
def test_char_model_beats_uniform_on_held_out_python_docs():
    torch.manual_seed(0)
    train, val = python_docs("train")[:20_000], python_docs("val")[:2_000]
    vocab = Vocab([list(train)])
    train_b = stream_batches(vocab.encode(list(train)), 32, 25)
    val_b = stream_batches(vocab.encode(list(val)), 8, 25)
    model = RNNLanguageModel(len(vocab), emb_size=16, hidden_size=64, cell="gru")
    before = perplexity(model, val_b)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for x, y in train_b[:25]:
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()
    after = perplexity(model, val_b)
    assert before > 0.8 * len(vocab)  # an untrained model is near uniform
    assert after < 0.3 * len(vocab) and after < before / 3


def test_bad_inputs():
    model = RNNLanguageModel(5)
    with pytest.raises(TypeError, match="LongTensor"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        model(torch.tensor([[1, 5]]))
    with pytest.raises(ValueError, match="2-D"):
        model(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="cell"):
        RNNLanguageModel(5, cell="transformer")
