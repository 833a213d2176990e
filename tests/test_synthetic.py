"""Synthetic tasks: each target is recomputed independently (loops, closed forms) from the returned inputs."""

import pytest
import torch

from seqcourse.data import synthetic as syn
from seqcourse.data.text import BOS_ID, EOS_ID, PAD_ID


def _lengths(src):
    return (src != syn.PAD).sum(1)


@pytest.mark.parametrize("task", [syn.copy_task, syn.reverse_task])
def test_token_tasks_layout_and_targets(task):
    g = torch.Generator().manual_seed(0)
    src, tgt = task(16, 7, 5, min_len=2, generator=g)
    assert src.shape == (16, 7) and tgt.shape == (16, 9) and src.dtype == torch.long
    for b in range(16):
        n = int(_lengths(src)[b])
        assert 2 <= n <= 7
        body = src[b, :n].tolist()
        assert all(syn.FIRST <= s < syn.FIRST + 5 for s in body)
        assert src[b, n:].eq(syn.PAD).all()
        expected = body if task is syn.copy_task else body[::-1]
        assert tgt[b].tolist() == [syn.BOS, *expected, syn.EOS] + [syn.PAD] * (7 - n)
    assert (syn.PAD, syn.BOS, syn.EOS) == (PAD_ID, BOS_ID, EOS_ID)


def test_token_tasks_reproducible_and_fixed_length():
    a = syn.copy_task(4, 6, generator=torch.Generator().manual_seed(3))
    b = syn.copy_task(4, 6, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert _lengths(a[0]).eq(6).all()


def test_adding_task_markers_and_sum():
    x, y = syn.adding_task(32, 10, generator=torch.Generator().manual_seed(1))
    assert x.shape == (32, 10, 2) and y.shape == (32,)
    marks = x[..., 1]
    assert marks.sum(1).eq(2).all()
    assert marks[:, :5].sum(1).eq(1).all() and marks[:, 5:].sum(1).eq(1).all()
    for b in range(32):
        expected = sum(float(x[b, t, 0]) for t in range(10) if x[b, t, 1] == 1)
        assert y[b].item() == pytest.approx(expected, abs=1e-6)


def test_sine_task_is_shifted_by_one():
    x, y = syn.sine_task(3, 20, generator=torch.Generator().manual_seed(2))
    assert x.shape == y.shape == (3, 20, 1)
    torch.testing.assert_close(y[:, :-1], x[:, 1:])
    assert x.abs().max() <= 1.0


def test_narx_task_follows_the_recursion():
    u, y = syn.narx_task(2, 30, generator=torch.Generator().manual_seed(4))
    u, y = u.double().squeeze(-1), y.double().squeeze(-1)
    for b in range(2):
        y_n, y_prev = 0.0, 0.0
        for n in range(30):
            y_n, y_prev = y_n * y_prev * (y_n + 2.5) / (1 + y_n**2 + y_prev**2) + u[b, n].item(), y_n
            assert y[b, n].item() == pytest.approx(y_n, rel=1e-4, abs=1e-4)
    assert y.abs().max() < 10  # the plant stays bounded for |u| <= 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="seq_len"):
        syn.copy_task(2, 0)
    with pytest.raises(ValueError, match="min_len"):
        syn.reverse_task(2, 5, min_len=6)
    with pytest.raises(ValueError, match="seq_len"):
        syn.adding_task(2, 1)
    with pytest.raises(ValueError, match="noise"):
        syn.sine_task(2, 5, noise=-1.0)
