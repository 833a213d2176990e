"""Oracle tests for the 递归网络、回声状态网络与记忆网络 chapter: recursive nets and BPTS, memory networks,
NTM addressing, the 2-D RNN, Mackey–Glass and ESN free running, generated trees and bAbI-style stories."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqcourse.data import babi, trees
from seqcourse.data.timeseries import mackey_glass
from seqcourse.nn import memory
from seqcourse.nn.esn import EchoStateNetwork
from seqcourse.nn.mdrnn import mdrnn_2d
from seqcourse.nn.recursive import RecursiveNN, SequenceClassifier, bpts, flatten_trees

# ------------------------------------------------------------------ expression trees


def test_expression_values_tokens_and_depths():
    t = (0, 3, (1, 7, 5))  # MAX(3, MIN(7, 5)) = 5
    assert trees.evaluate(t) == 5 and trees.evaluate((1, 3, (0, 7, 5))) == 3  # structure changes the value
    assert [trees.TOKENS[i] for i in trees.prefix_tokens(t)] == "( MAX 3 ( MIN 7 5 ) )".split()
    assert trees.tree_depth(t) == 2 and trees.tree_depth(4) == 0
    ts, y = trees.expression_dataset(200, 3, seed=1)
    assert all(1 <= trees.tree_depth(x) <= 3 for x in ts)
    assert y.tolist() == [trees.evaluate(x) for x in ts]
    assert len(set(y.tolist())) == 10


def test_flatten_puts_children_before_parents():
    flat = flatten_trees([(0, 3, (1, 7, 5)), 4])
    assert flat.roots.tolist() == [4, 5]
    for p in range(len(flat.token)):
        if flat.op[p] >= 0:
            assert flat.left[p] < p and flat.right[p] < p
            assert flat.height[p] == 1 + max(flat.height[flat.left[p]], flat.height[flat.right[p]])
    with pytest.raises(TypeError, match="tuple"):
        flatten_trees([(0, 1)])


# ------------------------------------------------------------------ recursive network and BPTS


def model64(seed: int = 0) -> RecursiveNN:
    torch.manual_seed(seed)
    m = RecursiveNN(10, 2, 5, 10).double()
    with torch.no_grad():
        m.b.normal_()
        m.c.normal_()
    return m


@pytest.mark.parametrize("seed", range(4))
def test_bpts_matches_autograd_and_batched_forward(seed):
    m = model64(seed)
    gen = torch.Generator().manual_seed(seed)
    ts = [trees.random_expression(4, gen) for _ in range(3)]
    logits = m(ts)  # batched, level by level
    for k, t in enumerate(ts):
        y = trees.evaluate(t)
        loss, grads = bpts(m, t, y)
        ref = F.cross_entropy(m([t]), torch.tensor([y]))
        assert loss == pytest.approx(ref.item(), rel=1e-12)
        torch.testing.assert_close(logits[k], m([t])[0])
        auto = torch.autograd.grad(ref, [m.E, m.W, m.b, m.V, m.c])
        for name, g in zip("E W b V c".split(), auto, strict=True):
            torch.testing.assert_close(grads[name], g, rtol=1e-10, atol=1e-12)


def test_recursive_net_rejects_unknown_symbols():
    m = RecursiveNN(10, 2, 4, 10)
    with pytest.raises(ValueError, match="tokens must be < 10"):
        m([(0, 12, 3)])
    with pytest.raises(ValueError, match="operators < 2"):
        m([(5, 1, 3)])


def test_sequence_classifier_ignores_padding():
    torch.manual_seed(0)
    g = SequenceClassifier(len(trees.TOKENS), 8, 10)
    seq = torch.tensor(trees.prefix_tokens((0, 3, (1, 7, 5))))
    padded = torch.cat([seq, torch.zeros(6, dtype=torch.long)])
    a = g(seq[None], torch.tensor([len(seq)]))
    b = g(padded[None], torch.tensor([len(seq)]))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, g(seq[None, :-1], torch.tensor([len(seq) - 1])))


# ------------------------------------------------------------------ bAbI-style data and MemN2N


def replay(example: babi.QAExample) -> str:
    """Independent oracle: read the story sentence by sentence and answer the question."""
    place, holder = {}, {}
    for s in example.story:
        if s[1] == "went":
            place[s[0]] = s[4]
        else:
            holder[s[4]] = s[0]
    target = example.question[-2]
    return place[holder[target]] if target in holder else place[target]


def test_generated_answers_follow_from_the_story():
    data = babi.generate_qa(300, seed=3)
    assert sum(len(e.support) == 2 for e in data) > 60
    for e in data:
        assert replay(e) == e.answer
        assert all(0 <= k < len(e.story) for k in e.support)
        assert any(e.answer in e.story[k] for k in e.support)
    S, Q, A = babi.encode_stories(data[:5])
    assert S.shape == (5, 8, 5) and Q.shape[0] == 5 and A.shape == (5,)
    assert [babi.VOCAB[i] for i in S[0, 0].tolist()] == data[0].story[0]


def test_memn2n_matches_explicit_loops_and_masks_padding():
    torch.manual_seed(0)
    net = memory.MemN2N(len(babi.VOCAB), 6, n_hops=2).double()
    S, Q, _ = babi.encode_stories(babi.generate_qa(3, seed=0))
    logits, hops = net(S, Q)
    assert len(hops) == 2 and torch.allclose(hops[0].sum(1), torch.ones(3, dtype=torch.float64))
    for b in range(3):  # explicit per-sentence loops with A^k = E_{k-1}, C^k = E_k
        n_s = S.shape[1]
        u = net.E[0].weight[Q[b]].sum(0)
        for k in (1, 2):
            def emb(j, s, b=b, n_s=n_s):
                return net.E[j].weight[S[b, s]].sum(0) + net.T[j, n_s - 1 - s]
            scores = torch.stack([u @ emb(k - 1, s) for s in range(n_s)])
            p = torch.softmax(scores, 0)
            torch.testing.assert_close(p, hops[k - 1][b])
            u = u + sum(p[s] * emb(k, s) for s in range(n_s))
        torch.testing.assert_close(logits[b], net.E[2].weight @ u)
    # an all-padding sentence in front changes nothing (masked; the other sentences keep their age)
    S_pad = torch.cat([torch.zeros(3, 1, S.shape[2], dtype=torch.long), S], dim=1)
    logits_pad, hops_pad = net(S_pad, Q)
    torch.testing.assert_close(logits_pad, logits)
    assert (hops_pad[0][:, 0] == 0).all()
    with pytest.raises(ValueError, match="max_sentences"):
        net(torch.ones(1, 25, 3, dtype=torch.long), Q[:1])


# ------------------------------------------------------------------ NTM addressing


def test_content_addressing_is_softmax_of_scaled_cosine():
    gen = torch.Generator().manual_seed(0)
    M = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    k = M[2] * 3.0  # same direction as slot 2
    w = memory.content_addressing(M, k, beta=5.0)
    cos = torch.stack([torch.dot(M[i], k) / (M[i].norm() * k.norm()) for i in range(6)])
    torch.testing.assert_close(w, torch.softmax(5.0 * cos, 0))
    assert int(memory.content_addressing(M, k, beta=200.0).argmax()) == 2
    assert memory.content_addressing(M, k, beta=200.0)[2] > 0.999


def test_location_addressing_shift_interpolate_sharpen():
    w = torch.tensor([0.1, 0.6, 0.2, 0.05, 0.05], dtype=torch.float64)
    forward = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)  # shifts -1, 0, +1
    torch.testing.assert_close(memory.circular_shift(w, forward), torch.roll(w, 1))
    torch.testing.assert_close(memory.circular_shift(w, torch.tensor([1.0, 0, 0], dtype=torch.float64)),
                               torch.roll(w, -1))
    blur = memory.circular_shift(w, torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64))
    assert blur[1].item() == pytest.approx(0.25 * 0.1 + 0.5 * 0.6 + 0.25 * 0.2)
    assert blur.sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(memory.sharpen(w, 1.0), w)
    sharp = memory.sharpen(w, 3.0)
    torch.testing.assert_close(sharp, w**3 / (w**3).sum())
    assert sharp.max() > w.max()
    w_c = torch.tensor([0, 0, 0, 1.0, 0], dtype=torch.float64)
    torch.testing.assert_close(memory.interpolate(w_c, w, 1.0), w_c)
    torch.testing.assert_close(memory.interpolate(w_c, w, 0.0), w)
    with pytest.raises(ValueError, match="odd length"):
        memory.circular_shift(w, torch.ones(2))
    with pytest.raises(ValueError, match="gamma"):
        memory.sharpen(w, 0.5)
    with pytest.raises(ValueError, match="gate g"):
        memory.interpolate(w_c, w, 1.5)


def test_write_then_read_and_full_pipeline():
    M = torch.zeros(5, 3, dtype=torch.float64)
    w = torch.tensor([0, 1.0, 0, 0, 0], dtype=torch.float64)
    a = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    M = memory.memory_write(M, w, torch.ones(3, dtype=torch.float64), a)
    torch.testing.assert_close(memory.memory_read(M, w), a)
    assert M[[0, 2, 3, 4]].abs().sum() == 0
    ones, zeros = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    M2 = memory.memory_write(M, 0.5 * w, ones, zeros)
    torch.testing.assert_close(M2[1], 0.5 * a)  # half-erased
    e = torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64)  # erase only some components
    M3 = memory.memory_write(M, w, e, zeros)
    torch.testing.assert_close(M3[1], a * (1 - e))
    # pipeline: g = 0 ignores the content, the shift moves the previous weights one slot forward
    step = torch.tensor([0, 0, 1.0], dtype=torch.float64)
    w_next = memory.address(M, w, a, beta=1.0, g=0.0, s=step, gamma=1.0)
    torch.testing.assert_close(w_next, torch.roll(w, 1))
    w_content = memory.address(M, torch.roll(w, 2), a, beta=100.0, g=1.0,
                               s=torch.tensor([0, 1.0, 0], dtype=torch.float64), gamma=1.0)
    assert int(w_content.argmax()) == 1


def test_scripted_copy_reproduces_the_sequence_with_moving_heads():
    gen = torch.Generator().manual_seed(0)
    seq = (torch.rand(6, 5, generator=gen, dtype=torch.float64) > 0.5).double()
    seq[0] = torch.tensor([1.0, 0, 1, 0, 1], dtype=torch.float64)  # a distinctive first vector
    out, writes, reads = memory.scripted_copy(seq, n_slots=10)
    torch.testing.assert_close(out, seq, atol=1e-6, rtol=0)
    assert writes.argmax(1).tolist() == list(range(6)) == reads.argmax(1).tolist()
    assert writes.shape == reads.shape == (6, 10)
    with pytest.raises(ValueError, match="does not fit"):
        memory.scripted_copy(seq, n_slots=4)


# ------------------------------------------------------------------ 2-D RNN


def test_mdrnn_on_one_row_is_an_ordinary_rnn_and_sees_the_upper_left():
    gen = torch.Generator().manual_seed(0)
    n, m = 4, 3
    U, W_1, W_2 = (torch.randn(n, k, generator=gen, dtype=torch.float64) for k in (m, n, n))
    b = torch.randn(n, generator=gen, dtype=torch.float64)
    row = torch.randn(1, 6, m, generator=gen, dtype=torch.float64)
    rnn = torch.nn.RNN(m, n, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(U)
        rnn.weight_hh_l0.copy_(W_2)
        rnn.bias_ih_l0.copy_(b)
        rnn.bias_hh_l0.zero_()
    torch.testing.assert_close(mdrnn_2d(row, U, W_1, W_2, b)[0], rnn(row)[0][0])
    X = torch.randn(4, 5, m, generator=gen, dtype=torch.float64, requires_grad=True)
    h = mdrnn_2d(X, U, W_1, W_2, b)
    (g,) = torch.autograd.grad(h[2, 3].sum(), X)
    support = g.abs().sum(-1) > 0  # (4, 5)
    expected = torch.zeros(4, 5, dtype=torch.bool)
    expected[:3, :4] = True
    assert torch.equal(support, expected)


# ------------------------------------------------------------------ Mackey–Glass and ESN free running


def test_mackey_glass_fixed_point_and_reference_loop():
    # beta / gamma = 2 and n = 10: x* = (beta / gamma - 1)^(1 / n) = 1 is a fixed point
    torch.testing.assert_close(mackey_glass(50, x0=1.0, washout=0), torch.ones(50, dtype=torch.float64))
    hist = [1.2] * 171  # tau = 17 time units of dt = 0.1
    for _ in range(40 * 10):
        d = hist[-171]
        hist.append(hist[-1] + 0.1 * (0.2 * d / (1 + d**10) - 0.1 * hist[-1]))
    ref = torch.tensor(hist[170::10][:40], dtype=torch.float64)
    torch.testing.assert_close(mackey_glass(40, washout=0), ref)
    x = mackey_glass(600)
    assert 0.2 < x.min() < x.max() < 1.5 and x.std() > 0.1  # chaotic, not settled


def test_esn_generate_feeds_predictions_back():
    esn = EchoStateNetwork(1, 30, 1, spectral_radius=0.9, ridge=1e-6, seed=0, dtype=torch.float64)
    u = torch.sin(torch.arange(200, dtype=torch.float64) / 5)[:, None]
    esn.fit(u[:-1], u[1:], washout=20)
    gen = esn.generate(u[:100], 5)
    seq = u[:100]
    for t in range(5):  # oracle: rerun the whole (growing) sequence and take the last prediction
        nxt = esn(seq)[-1:]
        torch.testing.assert_close(gen[t], nxt[0])
        seq = torch.cat([seq, nxt])
    with pytest.raises(ValueError, match="input_size == output_size"):
        EchoStateNetwork(2, 10, 1).generate(torch.zeros(5, 2), 3)
