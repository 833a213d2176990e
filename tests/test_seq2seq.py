"""seq2seq oracles: additive scores vs seqcourse.nn.attention, padding invariance, scheduled sampling at p = 1
equals greedy decoding, beam width 1 equals greedy, and the date model learns."""

import pytest
import torch

from seqcourse.data.text import BOS_ID, EOS_ID, PAD_ID
from seqcourse.decoding import greedy_decode
from seqcourse.nn.attention import additive_scores
from seqcourse.nn.seq2seq import Seq2Seq

V = 9


def _model(attention=True, seed=0):
    torch.manual_seed(seed)
    return Seq2Seq(V, V, emb_size=6, hidden_size=8, attention=attention, attn_size=5).double()


def _batch():
    src = torch.tensor([[4, 5, 6, 7, 8], [5, 6, 4, PAD_ID, PAD_ID], [8, PAD_ID, PAD_ID, PAD_ID, PAD_ID]])
    lengths = torch.tensor([5, 3, 1])
    tgt_in = torch.tensor([[BOS_ID, 4, 5, 6], [BOS_ID, 7, 7, 8], [BOS_ID, 6, 5, 4]])
    return src, lengths, tgt_in


def test_attention_scores_weights_and_padding():
    model = _model()
    src, lengths, _ = _batch()
    state = model.encode(src, lengths)
    e_ref = additive_scores(state["s"][:, None, :], state["H"], model.W_a, model.U_a, model.v)[:, 0]  # (B, S)
    _, _, alpha = model.decode_step(torch.full((3,), BOS_ID), state)
    ref = torch.softmax(e_ref.masked_fill(~state["mask"], -torch.inf), dim=-1)
    torch.testing.assert_close(alpha, ref)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3, dtype=torch.float64))
    assert alpha[1, 3:].eq(0).all() and alpha[2, 1:].eq(0).all() and alpha[2, 0] == 1


@pytest.mark.parametrize("attention", [True, False])
def test_padding_does_not_change_the_output(attention):
    model = _model(attention)
    src, lengths, tgt_in = _batch()
    logits, attn = model(src, lengths, tgt_in)
    for b in range(3):
        n = int(lengths[b])
        alone, attn_alone = model(src[b : b + 1, :n], lengths[b : b + 1], tgt_in[b : b + 1])
        torch.testing.assert_close(logits[b : b + 1], alone)
        if attention:
            torch.testing.assert_close(attn[b : b + 1, :, :n], attn_alone)
            assert attn.shape == (3, 4, 5)
        else:
            assert attn is None


def test_context_vector_is_the_last_real_encoder_state():
    model = _model(attention=False)
    src, lengths, _ = _batch()
    state = model.encode(src, lengths)
    H, _ = model.encoder(model.src_embedding(src[1:2, :3]))
    torch.testing.assert_close(state["C"][1], H[0, -1])


def test_sampling_prob_one_feeds_own_predictions_like_greedy():
    model = _model(seed=3)
    src, lengths, tgt_in = _batch()
    tgt_in = torch.cat([tgt_in, tgt_in], dim=1)  # 8 steps
    logits, _ = model(src, lengths, tgt_in, sampling_prob=1.0)
    fed = logits.argmax(-1)  # what the model predicted (and fed back) at each step
    greedy = model.greedy(src, lengths, max_len=8)
    for b in range(3):
        row = greedy[b].tolist()
        n = row.index(EOS_ID) + 1 if EOS_ID in row else len(row)
        assert fed[b, :n].tolist() == row[:n]
    teacher, _ = model(src, lengths, tgt_in, sampling_prob=0.0)
    assert not torch.allclose(teacher, logits)  # gold inputs differ from the model's own


def test_beam_width_one_equals_greedy():
    model = _model(seed=1)
    src, lengths, _ = _batch()
    greedy = model.greedy(src, lengths, max_len=6)
    beam1 = model.beam(src, lengths, beam_width=1, max_len=6)
    for b in range(3):
        row = greedy[b].tolist()
        assert beam1[b] == (row[: row.index(EOS_ID) + 1] if EOS_ID in row else row)


def test_loss_is_teacher_forcing_and_samples_only_in_training_mode():
    model = _model()
    src, lengths, tgt_in = _batch()
    tgt = torch.cat([tgt_in, torch.tensor([[EOS_ID], [PAD_ID], [EOS_ID]])], dim=1)  # (B, 5)
    logits, _ = model(src, lengths, tgt[:, :-1])
    want = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD_ID)
    torch.testing.assert_close(model.loss((src, lengths, tgt)), want)
    model.sampling_prob = 1.0
    model.eval()  # evaluation is teacher-forced whatever sampling_prob says
    torch.testing.assert_close(model.loss((src, lengths, tgt)), want)
    model.train()
    assert not torch.allclose(model.loss((src, lengths, tgt)), want)


def test_decoder_infers_lengths_from_padding():
    model = _model()
    src, lengths, _ = _batch()
    with torch.no_grad():
        assert torch.equal(greedy_decode(*model.decoder(src), BOS_ID, EOS_ID, 6),
                           greedy_decode(*model.decoder(src, lengths), BOS_ID, EOS_ID, 6))


def test_bad_inputs():
    model = _model()
    src, lengths, tgt_in = _batch()
    with pytest.raises(ValueError, match="src_lengths"):
        model(src, torch.tensor([5, 0, 1]), tgt_in)
    with pytest.raises(ValueError, match="src_lengths"):
        model(src, torch.tensor([5, 3]), tgt_in)
    with pytest.raises(ValueError, match="sampling_prob"):
        model(src, lengths, tgt_in, sampling_prob=1.5)
    with pytest.raises(ValueError, match="batch size"):
        model(src, lengths, tgt_in[:2])
