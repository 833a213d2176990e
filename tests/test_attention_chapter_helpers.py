"""Helpers added for the chapters 自注意力与 Transformer and 高效注意力: attention recording, saved-tensor
memory (the interactive charts are tested in test_charts_figures.py)."""

import pytest
import torch
from torch import nn

from seqcourse.nn.attention import MultiHeadAttention, record_attention, scaled_dot_product_attention
from seqcourse.nn.transformer import EncoderBlock, Transformer, TransformerConfig
from seqcourse.utils import saved_tensor_bytes

# ---------------------------------------------------------------------------------------------------------
# record_attention
# ---------------------------------------------------------------------------------------------------------


def test_recorded_weights_match_torch_multihead_attention():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True).double().eval()
    block = EncoderBlock.from_torch(layer).eval()
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    with torch.no_grad():
        plain = block(x)
        with record_attention(block) as records:
            recorded_out = block(x)
        _, ref = layer.self_attn(x, x, x, need_weights=True, average_attn_weights=False)  # (B, H, L, S)
    assert list(records) == ["self_attn"] and len(records["self_attn"]) == 1
    torch.testing.assert_close(records["self_attn"][0], ref)
    torch.testing.assert_close(recorded_out, plain)  # recording does not change the output
    torch.testing.assert_close(recorded_out, layer(x))


def test_recording_keeps_a_callers_weights_request_and_restores_forward():
    torch.manual_seed(1)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    with record_attention(mha) as records:
        _, averaged = mha(x, need_weights=True)  # (B, L, S)
        _, none = mha(x)
    assert none is None
    torch.testing.assert_close(averaged, records[""][0].mean(dim=1))
    assert len(records[""]) == 2
    assert "forward" not in vars(mha)  # the class's forward is back
    _, after = mha(x)
    assert after is None and len(records[""]) == 2  # nothing recorded after the block


def test_transformer_records_every_attention_with_a_causal_decoder():
    torch.manual_seed(2)
    config = TransformerConfig(9, 9, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
                               d_ff=32)
    model = Transformer(config)
    src = torch.randint(3, 9, (2, 6))
    tgt_in = torch.randint(3, 9, (2, 4))
    with torch.no_grad(), record_attention(model) as records:
        model(src, tgt_in)
    assert set(records) == {
        "encoder_layers.0.self_attn", "decoder_layers.0.self_attn", "decoder_layers.0.cross_attn"
    }
    assert records["encoder_layers.0.self_attn"][0].shape == (2, 2, 6, 6)
    assert records["decoder_layers.0.cross_attn"][0].shape == (2, 2, 4, 6)
    dec = records["decoder_layers.0.self_attn"][0]  # (B, H, 4, 4)
    assert torch.all(dec.triu(diagonal=1) == 0)  # no query sees a later key
    torch.testing.assert_close(dec.sum(-1), torch.ones(2, 2, 4))


# ---------------------------------------------------------------------------------------------------------
# saved_tensor_bytes
# ---------------------------------------------------------------------------------------------------------


def test_saved_bytes_of_a_small_graph_in_closed_form():
    x = torch.randn(3, 4, requires_grad=True)
    W = torch.randn(4, 5, requires_grad=True)
    y, n_bytes = saved_tensor_bytes(lambda: (x @ W).exp().sum())
    # x @ W keeps x and W; exp keeps its output (3 x 5); sum keeps nothing
    assert n_bytes == 4 * (3 * 4 + 4 * 5 + 3 * 5)
    torch.testing.assert_close(y, (x @ W).exp().sum())


def test_saved_bytes_count_a_storage_once_and_nothing_without_grad():
    x = torch.randn(10, requires_grad=True)
    assert saved_tensor_bytes(torch.mul, x, x)[1] == 4 * 10  # x saved for both factors, counted once
    assert saved_tensor_bytes(torch.mul, x.detach(), x.detach())[1] == 0
    b = torch.randn(2, requires_grad=True)
    assert saved_tensor_bytes(lambda: x[:2] * b)[1] == 4 * (10 + 2)  # the view x[:2] holds all of x


@pytest.mark.parametrize("N", [16, 64])
def test_readable_attention_keeps_the_n_by_n_weights(N):
    d = 8
    q, k, v = (torch.randn(1, N, d, requires_grad=True) for _ in range(3))
    _, n_bytes = saved_tensor_bytes(scaled_dot_product_attention, q, k, v)
    assert n_bytes == 4 * (3 * N * d + N * N)  # q, k, v and the softmax weights
