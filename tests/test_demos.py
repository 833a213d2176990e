"""The trainers of seqcourse.demos do what their docstrings and the chapters promise."""

import pytest
import torch

from seqcourse.decoding import greedy_decode, sample
from seqcourse.demos import HELLO_VOCAB, train_dates, train_hello


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_hello_is_reproduced_greedily_after_an_h(cell):
    model = train_hello(cell=cell)  # the chapter uses cell="rnn"
    assert not model.training
    h = HELLO_VOCAB.index("h")
    with torch.no_grad():
        out = greedy_decode(*model.decoder(torch.tensor([[h]])), bos=h, eos=None, max_len=4)
        cold = sample(*model.decoder(torch.full((5, 1), h)), bos=h, eos=None, max_len=4, temperature=0.0)
    assert "h" + "".join(HELLO_VOCAB[i] for i in out[0].tolist()) == "hello"
    assert torch.equal(cold, out.expand(5, -1))  # temperature 0 is greedy for every row


@pytest.mark.slow
def test_date_model_translates_at_least_80_percent_of_held_out_dates():
    model, accuracy = train_dates()  # the defaults assignment a06 calls
    assert accuracy >= 0.8
    assert not model.training
