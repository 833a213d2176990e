"""CTC oracles: the loss equals the brute-force sum over all alignments; greedy decoding rules by hand."""

import itertools
import math

import pytest
import torch

from seqcourse.nn.ctc import ctc_collapse, ctc_greedy_decode, ctc_loss


def test_collapse_rules():
    assert ctc_collapse([1, 1, 0, 2, 0, 3, 3, 0, 3, 4]) == [1, 2, 3, 3, 4]  # blank keeps the repeated 3
    assert ctc_collapse([3, 3, 3]) == [3]
    assert ctc_collapse([0, 0]) == []
    assert ctc_collapse([2, 5, 2], blank=5) == [2, 2]


def test_greedy_decode_uses_argmax_and_lengths():
    path = torch.tensor([[1, 1, 0, 1, 2, 2], [2, 0, 0, 2, 1, 1]])
    log_probs = torch.log_softmax(10 * torch.nn.functional.one_hot(path, 3).double(), dim=-1)
    assert ctc_greedy_decode(log_probs) == [[1, 1, 2], [2, 2, 1]]
    assert ctc_greedy_decode(log_probs, torch.tensor([3, 4])) == [[1], [2, 2]]


def brute_force_nll(log_probs, target, T):
    C = log_probs.shape[-1]
    total = 0.0
    for pi in itertools.product(range(C), repeat=T):
        if ctc_collapse(list(pi)) == target:
            total += math.exp(sum(float(log_probs[t, pi[t]]) for t in range(T)))
    return -math.log(total)


def test_loss_equals_sum_over_alignments():
    g = torch.Generator().manual_seed(0)
    log_probs = torch.log_softmax(torch.randn(3, 5, 3, generator=g, dtype=torch.float64), dim=-1)
    targets = torch.tensor([[1, 2, 0], [1, 1, 0], [2, 1, 2]])
    target_lengths = torch.tensor([2, 2, 3])
    input_lengths = torch.tensor([5, 4, 5])
    losses = ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")
    for b in range(3):
        want = brute_force_nll(log_probs[b], targets[b, : target_lengths[b]].tolist(), int(input_lengths[b]))
        assert float(losses[b]) == pytest.approx(want, rel=1e-9)
    mean = ctc_loss(log_probs, targets, input_lengths, target_lengths)
    assert float(mean) == pytest.approx(float((losses / target_lengths).mean()))


def test_bad_inputs():
    lp = torch.log_softmax(torch.randn(2, 4, 3), dim=-1)
    t, il, tl = torch.tensor([[1, 2], [2, 0]]), torch.tensor([4, 4]), torch.tensor([2, 1])
    with pytest.raises(ValueError, match="blank"):
        ctc_loss(lp, torch.tensor([[1, 0], [2, 0]]), il, tl)
    with pytest.raises(ValueError, match="input_lengths"):
        ctc_loss(lp, t, torch.tensor([5, 4]), tl)
    with pytest.raises(ValueError, match="target_lengths"):
        ctc_loss(lp, t, il, torch.tensor([3, 1]))
    with pytest.raises(ValueError, match="3-D"):
        ctc_loss(lp[0], t, il, tl)
    with pytest.raises(ValueError, match="targets"):
        ctc_loss(lp, t[:1], il, tl)
