"""Oracle tests for seqcourse.nn.attention: torch's SDPA and nn.MultiheadAttention, closed forms, autograd."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.nn.attention import (
    AdditiveAttention,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
    causal_mask,
    convex_attention,
    lengths_to_mask,
    positional_encoding,
    scaled_dot_product_attention,
)

D = torch.float64


def _qkv(B=2, H=3, L=5, S=7, d_k=4, d_v=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, L, d_k, generator=g, dtype=D), torch.randn(B, H, S, d_k, generator=g, dtype=D),
            torch.randn(B, H, S, d_v, generator=g, dtype=D))


# --- scaled dot-product attention -------------------------------------------------------------------------


def test_sdpa_matches_torch_without_mask():
    q, k, v = _qkv()
    out, w = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5, dtype=D))


def test_sdpa_matches_torch_with_padding_and_causal_masks():
    q, k, v = _qkv(L=6, S=6)
    pad = lengths_to_mask(torch.tensor([6, 4]), 6)  # (B, S)
    mask = causal_mask(6) & pad[:, None, None, :]  # (B, 1, L, S)
    out, w = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.all(w[~mask.expand_as(w)] == 0)


def test_sdpa_fully_masked_row_gives_zeros_like_torch_and_finite_gradients():
    q, k, v = (t.requires_grad_() for t in _qkv(L=2, S=3))
    mask = torch.tensor([[True, False, True], [False, False, False]])
    out, w = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.all(out[..., 1, :] == 0) and torch.all(w[..., 1, :] == 0)
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_sdpa_gradcheck_float64():
    q, k, v = (t[:1, :1].clone().requires_grad_() for t in _qkv(L=3, S=4, d_k=2, d_v=2))
    mask = causal_mask(3, 4)
    assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask)[0], (q, k, v))


def test_causal_sdpa_gradient_of_output_t_wrt_later_inputs_is_zero():
    q, k, v = (t[0, 0].clone().requires_grad_() for t in _qkv(L=6, S=6))
    out, _ = scaled_dot_product_attention(q, k, v, causal_mask(6))
    t = 2
    out[t].sum().backward()
    for x in (q, k, v):
        assert torch.all(x.grad[t + 1 :] == 0)
    assert k.grad[: t + 1].abs().sum() > 0 and v.grad[: t + 1].abs().sum() > 0


@pytest.mark.parametrize(
    ("shapes", "mask", "err"),
    [
        (((2, 5, 4), (2, 7, 3), (2, 7, 6)), None, "d_k"),
        (((2, 5, 4), (2, 7, 4), (2, 6, 6)), None, "length S"),
        (((2, 5, 4), (2, 7, 4), (2, 7, 6)), torch.ones(5, 6, dtype=torch.bool), "does not broadcast"),
    ],
)
def test_sdpa_bad_inputs_raise_value_error(shapes, mask, err):
    q, k, v = (torch.randn(*s) for s in shapes)
    with pytest.raises(ValueError, match=err):
        scaled_dot_product_attention(q, k, v, mask)


def test_sdpa_float_mask_raises_type_error():
    q, k, v = _qkv()
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, k, v, torch.zeros(5, 7, dtype=D))


# --- convex combination and additive attention ------------------------------------------------------------


def test_convex_attention_matches_the_sum_formula():
    x = torch.randn(5, 3, dtype=D)
    out, alpha = convex_attention(x)
    for t in range(5):
        s = torch.stack([x[t] @ x[i] for i in range(5)])
        a = torch.exp(s) / torch.exp(s).sum()
        torch.testing.assert_close(alpha[t], a)
        torch.testing.assert_close(out[t], sum(a[i] * x[i] for i in range(5)))
    assert torch.all(alpha >= 0)


def test_additive_attention_matches_loop():
    torch.manual_seed(0)
    att = AdditiveAttention(3, 4, 5).double()
    q, k, v = torch.randn(2, 3, dtype=D), torch.randn(4, 4, dtype=D), torch.randn(4, 2, dtype=D)
    out, w = att(q, k, v)
    for t in range(2):
        hidden = [torch.tanh(att.W_q.weight @ q[t] + att.W_k.weight @ k[i] + att.W_k.bias) for i in range(4)]
        s = torch.stack([att.w.weight[0] @ h for h in hidden])
        torch.testing.assert_close(w[t], torch.softmax(s, 0))
        torch.testing.assert_close(out[t], torch.softmax(s, 0) @ v)


# --- positional encodings ---------------------------------------------------------------------------------


def test_positional_encoding_d4_is_the_lecture_example():
    pe = positional_encoding(50, 4, dtype=D)
    pos = torch.arange(50, dtype=D)
    expected = torch.stack([torch.sin(pos), torch.cos(pos), torch.sin(pos / 100), torch.cos(pos / 100)], 1)
    torch.testing.assert_close(pe, expected)


def test_positional_encoding_closed_form_d_model_512():
    pe = positional_encoding(20, 512, dtype=D)
    for pos, i in [(0, 0), (3, 0), (7, 5), (19, 255), (11, 100)]:
        angle = pos / 10000 ** (2 * i / 512)
        assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-12)
        assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-12)
    assert pe.abs().max() <= 1


@pytest.mark.parametrize("d_model", [3, 0, -2])
def test_positional_encoding_rejects_odd_or_non_positive_d_model(d_model):
    with pytest.raises(ValueError, match="d_model"):
        positional_encoding(10, d_model)


def test_positional_modules_add_their_table():
    x = torch.randn(2, 6, 8)
    expected = x + positional_encoding(16, 8)[3:9]
    torch.testing.assert_close(SinusoidalPositionalEncoding(8, 16)(x, offset=3), expected)
    learned = LearnedPositionalEmbedding(8, 16)
    torch.testing.assert_close(learned(x), x + learned.embedding.weight[:6])
    with pytest.raises(ValueError, match="max_len"):
        learned(torch.randn(1, 17, 8))


# --- multi-head attention vs nn.MultiheadAttention --------------------------------------------------------


def _torch_mha(d_model=8, heads=2, **kw):
    torch.manual_seed(1)
    mha = nn.MultiheadAttention(d_model, heads, batch_first=True, **kw).double().eval()
    with torch.no_grad():  # PyTorch initialises biases to zero; randomise them so a dropped bias is caught
        for name, p in mha.named_parameters():
            if "bias" in name:
                p.normal_()
    return mha


@pytest.mark.parametrize("fast", [True, False])
def test_mha_self_attention_matches_torch_with_masks(fast):
    mha = _torch_mha()
    ours = MultiHeadAttention.from_torch(mha).eval()
    x = torch.randn(3, 5, 8, dtype=D)
    key_mask = lengths_to_mask(torch.tensor([5, 3, 4]), 5)
    attn = causal_mask(5)
    ref, _ = mha(x, x, x, key_padding_mask=~key_mask, attn_mask=~attn, need_weights=False)
    out, _ = ours(x, key_mask=key_mask, mask=attn, fast=fast)
    torch.testing.assert_close(out, ref)
    out2, _ = ours(x, key_mask=key_mask, is_causal=True, fast=fast)
    torch.testing.assert_close(out2, ref)


def test_mha_cross_attention_and_weights_match_torch():
    mha = _torch_mha(kdim=6, vdim=5)
    ours = MultiHeadAttention.from_torch(mha)
    y, z_k, z_v = torch.randn(2, 4, 8, dtype=D), torch.randn(2, 7, 6, dtype=D), torch.randn(2, 7, 5, dtype=D)
    key_mask = lengths_to_mask(torch.tensor([7, 5]), 7)
    for average in (True, False):
        ref, ref_w = mha(y, z_k, z_v, key_padding_mask=~key_mask, average_attn_weights=average)
        out, w = ours(y, z_k, z_v, key_mask=key_mask, need_weights=True, average_weights=average)
        torch.testing.assert_close(out, ref)
        torch.testing.assert_close(w, ref_w)
    out_fast, w_none = ours(y, z_k, z_v, key_mask=key_mask)
    torch.testing.assert_close(out_fast, ref)
    assert w_none is None


def test_mha_head_h_uses_its_own_rows_of_the_projections():
    torch.manual_seed(0)
    ours = MultiHeadAttention(6, 3).double()
    x = torch.randn(1, 4, 6, dtype=D)
    _, w = ours(x, need_weights=True, average_weights=False)
    for h in range(3):
        rows = slice(2 * h, 2 * h + 2)
        q = x[0] @ ours.W_Q.weight[rows].T + ours.W_Q.bias[rows]
        k = x[0] @ ours.W_K.weight[rows].T + ours.W_K.bias[rows]
        torch.testing.assert_close(w[0, h], torch.softmax(q @ k.T / math.sqrt(2), -1))


def test_mha_bad_arguments():
    with pytest.raises(ValueError, match="divide"):
        MultiHeadAttention(10, 3)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="last dimension 8"):
        mha(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="key_mask"):
        mha(torch.randn(2, 5, 8), key_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="broadcast"):
        mha(torch.randn(2, 5, 8), mask=torch.ones(5, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="boolean"):
        mha(torch.randn(2, 5, 8), mask=torch.ones(5, 5))
