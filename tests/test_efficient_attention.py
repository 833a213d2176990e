"""Oracle tests for seqcourse.nn.efficient_attention: full attention restricted to explicit masks, the
explicit phi-kernel matrix for linear attention, causality by autograd, and counted multiplications."""

from __future__ import annotations

import pytest
import torch

from seqcourse.count import attention_mults, linear_attention_mults
from seqcourse.nn.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from seqcourse.nn.efficient_attention import (
    LearnablePatternAttention,
    LinformerAttention,
    SynthesizerAttention,
    clustering_attention,
    elu_feature_map,
    global_attention,
    global_mask,
    graph_attention_mask,
    kmeans_buckets,
    linear_attention,
    local_attention,
    local_mask,
    strided_attention,
    strided_mask,
)

D = torch.float64


def _qkv(N=11, d_k=4, d_v=3, lead=(2, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*lead, N, d, generator=g, dtype=D) for d in (d_k, d_k, d_v))


def _full(q, k, v, mask):
    return scaled_dot_product_attention(q, k, v, mask)[0]


# --- hand-made patterns -----------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [0, 1, 3])
def test_local_attention_equals_full_attention_with_local_mask(window):
    q, k, v = _qkv()
    torch.testing.assert_close(local_attention(q, k, v, window), _full(q, k, v, local_mask(11, window)))


@pytest.mark.parametrize("window", [10, 11, 50])
def test_local_window_at_least_n_is_full_attention(window):
    q, k, v = _qkv()
    torch.testing.assert_close(local_attention(q, k, v, window), _full(q, k, v, None))


def test_local_mask_is_the_band():
    m = local_mask(5, 1)
    assert m.tolist()[0] == [True, True, False, False, False]
    assert m.tolist()[2] == [False, True, True, True, False]


@pytest.mark.parametrize(("N", "stride"), [(11, 3), (12, 4), (7, 1), (5, 8)])
def test_strided_attention_equals_full_attention_with_strided_mask(N, stride):
    q, k, v = _qkv(N=N)
    expected = _full(q, k, v, strided_mask(N, stride))
    torch.testing.assert_close(strided_attention(q, k, v, stride), expected)
    assert strided_mask(N, stride)[0, stride % N] == (stride < N)  # 0 and s share the residue


@pytest.mark.parametrize(("n_global", "window"), [(2, 0), (2, 1), (0, 2), (3, 20), (11, 0)])
def test_global_attention_equals_full_attention_with_global_mask(n_global, window):
    q, k, v = _qkv()
    expected = _full(q, k, v, global_mask(11, n_global, window))
    torch.testing.assert_close(global_attention(q, k, v, n_global, window), expected)


def test_global_mask_rows_and_columns():
    m = global_mask(6, 2, window=0)
    assert m[:2].all() and m[:, :2].all()
    assert m[2:, 2:].equal(torch.eye(4, dtype=torch.bool))


# --- clustering, learnable patterns, Linformer, synthesizer -----------------------------------------------


def test_clustering_attention_equals_full_attention_with_same_bucket_mask():
    q, k, v = _qkv(N=16)
    bq, bk = kmeans_buckets(q, k, num_clusters=3, generator=torch.Generator().manual_seed(0))
    assert bq.shape == (2, 3, 16) and bk.shape == (2, 3, 16) and int(bq.max()) < 3
    mask = bq.unsqueeze(-1) == bk.unsqueeze(-2)  # (..., N, N) same bucket
    out = clustering_attention(q, k, v, 3, buckets=(bq, bk))
    torch.testing.assert_close(out, _full(q, k, v, mask))
    assert 0 < mask.float().mean() < 1  # the test exercises a real restriction


def test_kmeans_buckets_separates_two_far_apart_groups():
    x = torch.cat([torch.randn(6, 2, dtype=D) * 0.1 + 10, torch.randn(6, 2, dtype=D) * 0.1 - 10])
    bq, bk = kmeans_buckets(x[::2], x[1::2], 2, generator=torch.Generator().manual_seed(1))
    labels = torch.cat([bq, bk])
    first = torch.cat([torch.arange(0, 12, 2), torch.arange(1, 12, 2)]) < 6
    assert labels[first].unique().numel() == 1 and labels[~first].unique().numel() == 1
    assert labels[first][0] != labels[~first][0]


def test_learnable_pattern_equals_masked_attention_with_its_bias_and_learns():
    torch.manual_seed(0)
    att = LearnablePatternAttention(max_len=12, block_size=3, keep=2).double()
    q, k, v = _qkv(N=11)
    bias, mask = att.block_bias_and_mask(11)
    assert mask.float().mean() < 1 and mask.diagonal().all()
    scores = q @ k.transpose(-2, -1) / 2.0 + bias  # d_k = 4
    expected = torch.softmax(scores.masked_fill(~mask, -torch.inf), -1) @ v
    out = att(q, k, v)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert att.P.grad.abs().sum() > 0


def test_linformer_with_identity_projections_is_full_attention():
    q, k, v = _qkv(N=9)
    lin = LinformerAttention(seq_len=9, k=9).double()
    with torch.no_grad():
        lin.E.copy_(torch.eye(9))
        lin.F.copy_(torch.eye(9))
    torch.testing.assert_close(lin(q, k, v), _full(q, k, v, None))
    small = LinformerAttention(seq_len=9, k=4).double()
    expected = _full(q, small.E @ k, small.F @ v, None)
    torch.testing.assert_close(small(q, k, v), expected)
    with pytest.raises(ValueError, match="seq_len"):
        small(*_qkv(N=10))


def test_synthesizer_ignores_q_and_k():
    torch.manual_seed(0)
    syn = SynthesizerAttention(8).double()
    q, k, v = _qkv(N=6)
    out = syn(q, k, v)
    torch.testing.assert_close(out, torch.softmax(syn.R[:6, :6], -1) @ v)
    torch.testing.assert_close(syn(q * 3, -k, v), out)


def test_graph_attention_mask_is_a_plus_identity():
    A = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    assert graph_attention_mask(A).tolist() == [[True, True, False], [True, True, True], [False, True, True]]
    x = torch.randn(3, 4, dtype=D)
    _, w = scaled_dot_product_attention(x, x, x, graph_attention_mask(A))
    assert w[0, 2] == 0 and w[2, 0] == 0 and torch.allclose(w.sum(-1), torch.ones(3, dtype=D))
    with pytest.raises(ValueError, match="square"):
        graph_attention_mask(torch.ones(2, 3))


# --- linear attention -------------------------------------------------------------------------------------


def _phi_kernel_attention(q, k, v, causal):
    """Oracle: form the N x N matrix phi(q_t).phi(k_i), normalise each row, multiply by V."""
    A = elu_feature_map(q) @ elu_feature_map(k).transpose(-2, -1)  # (..., N, N)
    if causal:
        A = A * causal_mask(q.shape[-2])
    return (A / A.sum(-1, keepdim=True)) @ v


@pytest.mark.parametrize("causal", [False, True])
def test_linear_attention_equals_explicit_phi_kernel_matrix(causal):
    q, k, v = _qkv(N=10)
    torch.testing.assert_close(linear_attention(q, k, v, causal=causal, eps=0.0),
                               _phi_kernel_attention(q, k, v, causal))


@pytest.mark.parametrize(
    "fn",
    [
        lambda q, k, v: linear_attention(q, k, v, causal=True),
        lambda q, k, v: scaled_dot_product_attention(q, k, v, causal_mask(q.shape[-2]))[0],
    ],
    ids=["causal_linear", "causal_sdpa"],
)
def test_causal_output_t_has_zero_gradient_wrt_later_inputs(fn):
    q, k, v = (t[0, 0].clone().requires_grad_() for t in _qkv(N=8))
    t = 4
    (fn(q, k, v)[t] * torch.tensor([1.0, -2.0, 0.5], dtype=D)).sum().backward()
    for x in (q, k, v):
        assert torch.all(x.grad[t + 1 :] == 0)
        assert x.grad[: t + 1].abs().sum() > 0


def test_linear_attention_in_multi_head_attention():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, attention_fn=linear_attention).double()
    x = torch.randn(2, 5, 8, dtype=D)
    out, _ = mha(x)
    q, k, v = (lin(x).view(2, 5, 2, 4).transpose(1, 2) for lin in (mha.W_Q, mha.W_K, mha.W_V))
    heads = _phi_kernel_attention(q, k, v, causal=False).transpose(1, 2).reshape(2, 5, 8)
    torch.testing.assert_close(out, mha.W_O(heads), atol=1e-6, rtol=1e-6)


# --- multiplication counts (lecture 001) -------------------------------------------------------------------


class _Counter:
    def __init__(self):
        self.mults = 0

    def matmul(self, A, B):
        """Plain triple loop that counts every scalar multiplication."""
        n, m = len(A), len(A[0])
        p = len(B[0])
        assert len(B) == m
        out = [[0.0] * p for _ in range(n)]
        for i in range(n):
            for j in range(p):
                for r in range(m):
                    out[i][j] += A[i][r] * B[r][j]
                    self.mults += 1
        return out


@pytest.mark.parametrize(("d", "d_prime", "N"), [(2, 3, 5), (4, 1, 7), (3, 3, 3)])
def test_multiplication_counts_match_counted_loops(d, d_prime, N):
    g = torch.Generator().manual_seed(0)
    K, Q = torch.randn(d, N, generator=g).tolist(), torch.randn(d, N, generator=g).tolist()
    V = torch.randn(d_prime, N, generator=g).tolist()
    KT = [list(col) for col in zip(*K, strict=True)]
    first = _Counter()
    O_1 = first.matmul(V, first.matmul(KT, Q))  # V (K^T Q): N x N matrix first
    second = _Counter()
    O_2 = second.matmul(second.matmul(V, KT), Q)  # (V K^T) Q: associativity first
    assert first.mults == attention_mults(d, d_prime, N)
    assert second.mults == linear_attention_mults(d, d_prime, N)
    torch.testing.assert_close(torch.tensor(O_1), torch.tensor(O_2))  # same result, different cost


def test_multiplication_counts_closed_forms_and_errors():
    assert attention_mults(64, 64, 1024) == 128 * 1024**2
    assert linear_attention_mults(64, 64, 1024) == 2 * 64 * 64 * 1024
    assert linear_attention_mults(64, 64, 1024) < attention_mults(64, 64, 1024)
    with pytest.raises(ValueError, match="N"):
        attention_mults(4, 4, 0)


# --- bad inputs -------------------------------------------------------------------------------------------


def test_efficient_attention_bad_inputs():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="window"):
        local_attention(q, k, v, -1)
    with pytest.raises(ValueError, match="stride"):
        strided_attention(q, k, v, 0)
    with pytest.raises(ValueError, match="n_global"):
        global_attention(q, k, v, 12)
    with pytest.raises(ValueError, match="d_k"):
        linear_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="as many queries as keys"):
        local_attention(q[..., :5, :], k, v, 2)
