"""Closed-form recurrent parameter counts in seqcourse.count against sum(p.numel()) of torch.nn modules."""

from __future__ import annotations

import pytest
import torch

from seqcourse import count


def numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


CASES = [(3, 4, 1, False), (5, 7, 2, False), (5, 7, 1, True), (2, 6, 2, True), (8, 3, 3, True)]


@pytest.mark.parametrize("m,n,layers,bidirectional", CASES)
def test_torch_counts(m, n, layers, bidirectional):
    kw = {"num_layers": layers, "bidirectional": bidirectional}
    assert count.torch_rnn_params(m, n, layers, bidirectional) == numel(torch.nn.RNN(m, n, **kw))
    assert count.torch_lstm_params(m, n, layers, bidirectional) == numel(torch.nn.LSTM(m, n, **kw))
    assert count.torch_gru_params(m, n, layers, bidirectional) == numel(torch.nn.GRU(m, n, **kw))


@pytest.mark.parametrize("m,n", [(3, 4), (10, 20), (1, 1)])
def test_lecture_counts_are_torch_counts_minus_the_second_bias(m, n):
    # torch.nn keeps b_ih and b_hh (one extra n-vector per gate); the lectures count one bias per gate
    assert count.rnn_params(m, n) == numel(torch.nn.RNN(m, n)) - n
    assert count.lstm_params(m, n) == numel(torch.nn.LSTM(m, n)) - 4 * n
    assert count.gru_params(m, n) == numel(torch.nn.GRU(m, n)) - 3 * n
    assert count.lstm_params(m, n) == 4 * ((m + n) * n + n)  # lecture 002's formula, spelled out


def test_lecture_example_from_explicit_layers():
    # brute force with one nn.Linear per gate on the concatenation [h, x] (lecture 002's picture)
    m, n = 6, 5
    gates = torch.nn.ModuleList(torch.nn.Linear(n + m, n) for _ in range(4))
    assert count.lstm_params(m, n) == numel(gates)


@pytest.mark.parametrize(
    "fn", [count.rnn_params, count.lstm_params, count.gru_params, count.torch_lstm_params]
)
def test_bad_sizes_raise(fn):
    with pytest.raises(ValueError, match="positive int"):
        fn(0, 4)
    with pytest.raises(ValueError, match="positive int"):
        fn(3, 2.5)
