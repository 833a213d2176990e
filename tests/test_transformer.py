"""Oracle tests for seqcourse.nn.transformer: torch's layers with copied weights, causality, decoding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqcourse.decoding import beam_search, greedy_decode, sample
from seqcourse.metrics import token_accuracy
from seqcourse.nn.attention import causal_mask, lengths_to_mask
from seqcourse.nn.nat import NATConfig, NATransformer
from seqcourse.nn.transformer import (
    DecoderBlock,
    EncoderBlock,
    FeedForward,
    Transformer,
    TransformerConfig,
    shift_right,
)
from seqcourse.train import fit

D = torch.float64
_NAT = NATConfig(12, 12, max_len=6, d_model=16, num_heads=2, num_layers=1, d_ff=32)


def _randomise(module: nn.Module) -> nn.Module:
    """Random biases and LayerNorm gains, so that a dropped bias or a skipped norm cannot go unnoticed."""
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "bias" in name or "norm" in name:
                p.normal_()
    return module.eval()


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_block_matches_torch_layer(norm_first):
    torch.manual_seed(0)
    ref = _randomise(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                                norm_first=norm_first).double())
    ours = EncoderBlock.from_torch(ref).eval()
    assert ours.norm_first == norm_first
    x = torch.randn(3, 5, 8, dtype=D)
    key_mask = lengths_to_mask(torch.tensor([5, 2, 4]), 5)
    expected = ref(x, src_key_padding_mask=~key_mask)
    torch.testing.assert_close(ours(x, key_mask=key_mask), expected)


def test_encoder_block_is_post_ln_by_the_lecture_formula():
    torch.manual_seed(0)
    block = _randomise(EncoderBlock(8, 2, 16).double())
    x = torch.randn(2, 4, 8, dtype=D)
    x1 = block.norm1(x + block.self_attn(x)[0])
    W_1, b_1 = block.ffn.W_1.weight.T, block.ffn.W_1.bias
    W_2, b_2 = block.ffn.W_2.weight.T, block.ffn.W_2.bias
    ffn = torch.relu(x1 @ W_1 + b_1) @ W_2 + b_2  # max(0, X W_1 + b_1) W_2 + b_2
    torch.testing.assert_close(block(x), block.norm2(x1 + ffn))
    assert isinstance(block.ffn, FeedForward)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_block_matches_torch_layer(norm_first):
    torch.manual_seed(0)
    ref = _randomise(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                                norm_first=norm_first).double())
    ours = DecoderBlock.from_torch(ref).eval()
    y, z = torch.randn(2, 6, 8, dtype=D), torch.randn(2, 4, 8, dtype=D)
    mem_mask = lengths_to_mask(torch.tensor([4, 3]), 4)
    expected = ref(y, z, tgt_mask=~causal_mask(6), memory_key_padding_mask=~mem_mask)
    torch.testing.assert_close(ours(y, z, memory_key_mask=mem_mask), expected)
    no_causal = ref(y, z, memory_key_padding_mask=~mem_mask)
    torch.testing.assert_close(ours(y, z, memory_key_mask=mem_mask, is_causal=False), no_causal)


def test_from_torch_rejects_gelu():
    with pytest.raises(ValueError, match="ReLU"):
        EncoderBlock.from_torch(nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", batch_first=True))


def test_decoder_output_t_does_not_depend_on_later_inputs():
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(11, 13, d_model=16, num_heads=2, d_ff=32)).double().eval()
    src = torch.randint(3, 11, (2, 5))
    memory, src_mask = model.encode(src)
    y = torch.randn(2, 7, 16, dtype=D, requires_grad=True)
    h = y
    for block in model.decoder_layers:
        h = block(h, memory, memory_key_mask=src_mask)
    t = 3
    (h[:, t] * torch.randn(16, dtype=D)).sum().backward()  # (a plain sum of a LayerNorm output is constant)
    assert torch.all(y.grad[:, t + 1 :] == 0)
    assert torch.all(y.grad[:, : t + 1].abs().sum(-1) > 0)


def test_source_padding_does_not_change_the_output():
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(11, 13, d_model=16, num_heads=2, d_ff=32)).double().eval()
    src = torch.randint(3, 11, (1, 5))
    tgt_in = torch.randint(3, 13, (1, 4))
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], dim=1)  # pad_id = 0
    torch.testing.assert_close(model(padded, tgt_in), model(src, tgt_in))


def test_shift_right_and_teacher_forcing_loss():
    y = torch.tensor([[5, 6, 7, 2], [8, 2, 0, 0]])
    assert shift_right(y, bos=1).tolist() == [[1, 5, 6, 7], [1, 8, 2, 0]]
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(10, 10, d_model=16, num_heads=2, d_ff=32))
    src = torch.randint(3, 10, (2, 4))
    tgt = torch.cat([torch.ones(2, 1, dtype=torch.long), y], dim=1)  # [bos, y]
    logits = model(src, shift_right(y, 1))
    expected = nn.functional.cross_entropy(logits.reshape(-1, 10), y.reshape(-1), ignore_index=0)
    torch.testing.assert_close(model.loss((src, tgt)), expected)


def test_decoder_drives_seqcourse_decoding_consistently():
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(12, 12, d_model=16, num_heads=2, d_ff=32)).double().eval()
    src = torch.randint(3, 12, (3, 6))
    with torch.no_grad():
        step, state = model.decoder(src)
        pred = greedy_decode(step, state, bos=1, eos=None, max_len=5)  # (B, 5)
        # Oracle: one teacher-forced pass over [bos, pred] must put its argmax exactly on pred.
        logits = model(src, shift_right(pred, 1))
        assert torch.equal(logits.argmax(-1), pred)
        beams = beam_search(step, state, bos=1, eos=None, beam_width=1, max_len=5)
        assert beams == pred.tolist()
        greedy_by_sampling = sample(step, state, bos=1, eos=None, max_len=5, top_k=1)
        assert torch.equal(greedy_by_sampling, pred)


@pytest.mark.slow
def test_reversal_is_learnt_to_99_percent():
    """The chapter's recipe: one layer, d_model = 32, 1200 Adam steps on reversal of 8 symbols."""
    from seqcourse.data.synthetic import BOS, EOS, FIRST, reverse_task
    from seqcourse.utils import seed_everything

    g = seed_everything(0)
    vocab = FIRST + 10
    model = Transformer(TransformerConfig(vocab, vocab, d_model=32, num_heads=2, num_encoder_layers=1,
                                          num_decoder_layers=1, d_ff=64, max_len=10))
    batches = [reverse_task(64, 8, 10, generator=g) for _ in range(1200)]
    fit(model, batches, lr=3e-3, clip=1.0, progress=False)
    src, tgt = reverse_task(1000, 8, 10, generator=torch.Generator().manual_seed(10**6))  # held out
    model.eval()
    with torch.no_grad():
        pred = greedy_decode(*model.decoder(src), BOS, EOS, max_len=9)
    assert token_accuracy(pred, tgt[:, 1:]) >= 0.99


def test_config_is_validated():
    with pytest.raises(ValueError, match="d_model must be a positive int"):
        TransformerConfig(5, 5, d_model=0)
    with pytest.raises(ValueError, match="dropout"):
        TransformerConfig(5, 5, dropout=1.0)
    with pytest.raises(TypeError, match="TransformerConfig"):
        Transformer(5)
    with pytest.raises(ValueError, match=r"token ids in \[0, 5\)"):
        Transformer(TransformerConfig(5, 5, d_model=8, num_heads=2)).encode(torch.tensor([[1, 5]]))


# --- non-autoregressive Transformer -----------------------------------------------------------------------


def test_nat_generate_uses_the_predicted_length_and_one_parallel_pass():
    torch.manual_seed(0)
    model = NATransformer(_NAT).double().eval()
    with torch.no_grad():
        model.length_head.bias.fill_(-100.0)
        model.length_head.bias[3] = 100.0  # every prediction is length 3
    src = torch.randint(3, 12, (4, 5))
    pred = model.generate(src)
    assert pred.shape == (4, 3) and torch.all(pred != 0)
    memory, src_mask, _ = model.encode(src)
    expected = model.decode(memory, src_mask, torch.full((4,), 3)).argmax(-1)
    assert torch.equal(pred, expected)


def test_nat_decoder_is_not_causal_and_loss_adds_the_length_term():
    torch.manual_seed(0)
    model = NATransformer(_NAT).double()
    src = torch.randint(3, 12, (2, 5))
    y = torch.tensor([[4, 5, 6, 0], [7, 8, 0, 0]])
    logits, length_logits = model(src, torch.tensor([3, 2]))
    ce = nn.functional.cross_entropy
    length = torch.tensor([3, 2])
    expected = ce(logits.flatten(0, 1), y[:, :3].reshape(-1), ignore_index=0) + ce(length_logits, length)
    torch.testing.assert_close(model.loss((src, y)), expected)
    # The decoder reads position queries without a causal mask: output 0 depends on query 2.
    memory, src_mask, _ = model.encode(src)
    queries = model.pos(model.query.expand(2, 3, 16)).detach().requires_grad_()
    out = model.decoder_layers[0](queries, memory, memory_key_mask=src_mask, is_causal=False)
    torch.testing.assert_close(model.out(out), model.decode(memory, src_mask, torch.tensor([3, 3])))
    grad = torch.autograd.grad((out[:, 0] * torch.randn(16, dtype=D)).sum(), queries)[0]
    assert grad[:, 2].abs().sum() > 0


def test_nat_decoder_protocol_reproduces_generate():
    torch.manual_seed(1)
    model = NATransformer(_NAT).eval()
    with torch.no_grad():
        model.length_head.weight.mul_(30.0)  # the predicted length varies strongly with the source
    src = torch.randint(3, 12, (32, 5))
    pred = model.generate(src)
    assert len({int(n) for n in (pred != 0).sum(1)}) > 1  # rows of different lengths
    with torch.no_grad():
        step, state = model.decoder(src)
        greedy = greedy_decode(step, state, bos=1, eos=model.pad_id, max_len=6)
        beam = beam_search(step, state, bos=1, eos=model.pad_id, beam_width=3, max_len=6)
    assert torch.equal(greedy[:, : pred.shape[1]], pred)  # greedy stops with one pad after each row
    tokens = [[t for t in row if t != 0] for row in pred.tolist()]
    assert [[t for t in row if t != 0] for row in beam] == tokens
