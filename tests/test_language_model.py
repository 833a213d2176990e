"""Recurrent language model: the lecture's "hello" example, state carrying, perplexity closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqcourse.data.corpus import python_docs
from seqcourse.data.text import Vocab, stream_batches
from seqcourse.nn.language_model import RNNLanguageModel, perplexity
from seqcourse.train import fit


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("prompt_len", [1, 3])
def test_decoder_steps_equal_the_full_forward(cell, prompt_len):
    torch.manual_seed(0)
    model = RNNLanguageModel(7, emb_size=5, hidden_size=6, cell=cell, num_layers=2).double()
    x = torch.randint(0, 7, (3, 6))
    full = torch.log_softmax(model(x)[0], dim=-1)  # (B, T, V)
    step, state = model.decoder(x[:, :prompt_len])  # the state after x[:, :prompt_len - 1]
    assert all(s.shape == (3, 2, 6) for s in state)  # batch-first (B, L, n) for beam search
    prefix = x[:, prompt_len - 1 : prompt_len]  # decoding starts from bos = the prompt's last token
    for t in range(prompt_len - 1, 6):
        log_probs, state = step(prefix, state)
        torch.testing.assert_close(log_probs, full[:, t])
        prefix = torch.cat([prefix, x[:, t + 1 : t + 2]], dim=1)
    with pytest.raises(ValueError, match="at least one token"):
        model.decoder(x[:, :0])


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
    fit(model, train_b[:25], lr=2e-2, progress=False)  # model.loss
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
