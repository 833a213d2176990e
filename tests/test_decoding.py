"""Decoding oracles: brute-force enumeration, greedy identities, sampling statistics, hand-computed BLEU."""

import itertools
import math

import pytest
import torch

from seqcourse.decoding import beam_search, greedy_decode, sample

V, EOS, BOS, MOD = 4, 3, 0, 97


def _table(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(2.0 * torch.randn(MOD, V, generator=g, dtype=torch.float64), dim=-1)


def make_step(table):
    """An RNN-like model whose hidden state is a hash of the prefix; only the state is used, so a beam
    search that reorders the state wrongly gets different scores than the brute force."""

    def step(prefix, state):
        h = (state["h"] * 7 + prefix[:, -1] + 1) % MOD  # (B,)
        return table[h], {"h": h, "nested": [state["nested"][0]]}

    return step


def _state(B):
    return {"h": torch.arange(B) * 13 % MOD, "nested": [torch.zeros(B, 2)]}


def brute_force_best(table, h0, max_len, alpha=0.0):
    best, best_score = None, -math.inf
    for L in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=L):
            if EOS in seq[:-1] or (L < max_len and seq[-1] != EOS):
                continue  # a hypothesis ends at its first eos or at max_len
            h, prev, score = h0, BOS, 0.0
            for tok in seq:
                h = (h * 7 + prev + 1) % MOD
                score += float(table[h, tok])
                prev = tok
            score /= L**alpha
            if score > best_score:
                best, best_score = list(seq), score
    return best


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_beam_equals_exhaustive_search(seed, alpha):
    table, B, max_len = _table(seed), 3, 4
    got = beam_search(make_step(table), _state(B), BOS, EOS, beam_width=128, max_len=max_len,
                      length_penalty=alpha)
    for b in range(B):
        assert got[b] == brute_force_best(table, int(_state(B)["h"][b]), max_len, alpha)


def _trim(row):
    row = row.tolist()
    return row[: row.index(EOS) + 1] if EOS in row else row


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_beam_width_one_equals_greedy(seed):
    table, B = _table(seed), 5
    greedy = greedy_decode(make_step(table), _state(B), BOS, EOS, max_len=8)
    beam = beam_search(make_step(table), _state(B), BOS, EOS, beam_width=1, max_len=8)
    assert [_trim(r) for r in greedy] == beam


def test_beam_beats_greedy_on_a_garden_path():
    # First token: A (0.6) or B (0.4). After A every continuation has p = 1/3; after B, eos has p = 0.9.
    A, B_ = 1, 2
    after = {BOS: [0.0, 0.6, 0.4, 0.0], A: [1 / 3, 0.0, 1 / 3, 1 / 3], B_: [0.05, 0.05, 0.0, 0.9]}

    def step(prefix, state):
        probs = torch.tensor([after.get(int(t), [0.25] * 4) for t in prefix[:, -1]])
        return probs.clamp_min(1e-12).log(), state

    s = torch.zeros(1, 1)
    assert greedy_decode(step, s, BOS, EOS, max_len=2)[0].tolist()[0] == A
    assert beam_search(step, s, BOS, EOS, beam_width=2, max_len=2) == [[B_, EOS]]


def test_greedy_stops_and_pads_after_eos():
    table = _table(5)
    out = greedy_decode(make_step(table), _state(6), BOS, EOS, max_len=10, pad=-1)
    for row in out.tolist():
        if EOS in row:
            assert all(t == -1 for t in row[row.index(EOS) + 1 :])
        assert -1 not in row[: row.index(EOS) if EOS in row else len(row)]


def test_sample_top_k_one_and_low_temperature_are_greedy():
    table, B = _table(7), 8
    greedy = greedy_decode(make_step(table), _state(B), BOS, EOS, max_len=6)
    g = torch.Generator().manual_seed(0)
    step = make_step(table)
    assert torch.equal(sample(step, _state(B), BOS, EOS, 6, temperature=5.0, top_k=1, generator=g), greedy)
    assert torch.equal(sample(step, _state(B), BOS, EOS, 6, temperature=1e-4, generator=g), greedy)
    assert torch.equal(sample(step, _state(B), BOS, EOS, 6, temperature=0.0), greedy)


def test_sample_matches_the_distribution_and_top_k_support():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])

    def step(prefix, state):
        return probs.log().expand(prefix.shape[0], V), state

    n, dev = 20000, probs.device
    g = torch.Generator().manual_seed(1)
    first = sample(step, None, BOS, None, 1, generator=g, batch_size=n, device=dev)[:, 0]
    freq = torch.bincount(first, minlength=V).double() / n
    assert torch.allclose(freq, probs.double(), atol=0.015)  # about 4 standard errors
    hot = sample(step, None, BOS, None, 1, temperature=2.0, generator=g, batch_size=n, device=dev)[:, 0]
    hot_freq = torch.bincount(hot, minlength=V).double() / n
    expected = probs.double().sqrt() / probs.double().sqrt().sum()  # p^(1/T), T = 2
    assert torch.allclose(hot_freq, expected, atol=0.015)
    top2 = sample(step, None, BOS, None, 1, top_k=2, generator=g, batch_size=n, device=dev)[:, 0]
    assert set(top2.tolist()) == {2, 3}
    assert (top2 == 3).double().mean().item() == pytest.approx(0.4 / 0.7, abs=0.015)


def test_bad_inputs():
    table = _table(0)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(make_step(table), _state(2), BOS, EOS, beam_width=0, max_len=3)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(make_step(table), _state(2), BOS, EOS, max_len=0)
    with pytest.raises(ValueError, match="batch_size"):
        greedy_decode(lambda p, s: (torch.zeros(p.shape[0], V), s), None, BOS, EOS, 3, device="cpu")
    with pytest.raises(ValueError, match="log_probs"):
        greedy_decode(lambda p, s: (torch.zeros(V), s), _state(2), BOS, EOS, 3)
    with pytest.raises(ValueError, match="temperature"):
        sample(make_step(table), _state(2), BOS, EOS, 3, temperature=-1.0)
    with pytest.raises(ValueError, match="max_len must be a positive int, got True"):
        greedy_decode(make_step(table), _state(2), BOS, EOS, max_len=True)
    with pytest.raises(TypeError, match="bos and eos must be int"):
        greedy_decode(make_step(table), _state(2), True, EOS, max_len=3)


def test_a_state_without_tensors_needs_an_explicit_device():
    """Nothing falls back to the CPU silently: without a tensor in the state the caller names the device."""
    def step(prefix, state):
        return torch.zeros(prefix.shape[0], V, device=prefix.device), state

    for decode in (greedy_decode, sample):
        with pytest.raises(ValueError, match="pass device="):
            decode(step, None, BOS, EOS, 3, batch_size=2)
    with pytest.raises(ValueError, match="pass device="):
        beam_search(step, None, BOS, EOS, 2, 3, batch_size=2)
    out = greedy_decode(step, None, BOS, None, 3, batch_size=2, device="meta")  # no data-dependent stop
    assert out.device.type == "meta" and out.shape == (2, 3)
    with pytest.raises(ValueError, match="device=meta but the state's tensors are on cpu"):
        greedy_decode(make_step(_table(0)), _state(2), BOS, EOS, 3, device="meta")
    with pytest.raises(ValueError, match="step returned log_probs on cpu for a prefix on meta"):
        greedy_decode(lambda p, s: (torch.zeros(p.shape[0], V), s), None, BOS, None, 3, batch_size=2,
                      device="meta")
