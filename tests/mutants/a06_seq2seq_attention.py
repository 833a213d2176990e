"""Plausible wrong answers to a06_seq2seq_attention (additive attention, teacher forcing, beam search)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) additive attention
    Mutant("softmax_over_batch", breaks={"a"},
           edits={"a_attention_answer": [("torch.softmax(e, dim=-1)", "torch.softmax(e, dim=0)")]}),
    Mutant("padding_not_masked", breaks={"a"},
           edits={"a_attention_answer": [('e = e.masked_fill(~mask, float("-inf"))', "e = e")]}),
    Mutant("forgot_score_bias", breaks={"a"},
           edits={"a_attention_answer": [("+ b_a) @ v", ") @ v")]}),
    # (b) teacher forcing
    Mutant("decoder_reads_the_target", breaks={"b"},
           edits={"b_loss_answer": [("model.decode_step(tgt[:, i], state)",
                                     "model.decode_step(tgt[:, i + 1], state)")]}),
    Mutant("padding_counted_in_loss", breaks={"b"},
           edits={"b_loss_answer": [(", ignore_index=PAD_ID)", ")")]}),
    Mutant("decoder_state_not_updated", breaks={"b"},
           edits={"b_loss_answer": [("logits, state, _ = model.decode_step",
                                     "logits, _, _ = model.decode_step")]}),
    # (c) beam search
    Mutant("children_keep_parent_state", breaks={"c"},
           edits={"c_beam_answer": [("new_st, token == eos", "st, token == eos")]}),
    Mutant("one_child_per_hypothesis", breaks={"c"},
           edits={"c_beam_answer": [("topk(min(beam_width, log_probs.shape[-1]))", "topk(1)")]}),
    Mutant("score_not_accumulated", breaks={"c"},
           edits={"c_beam_answer": [("score + value", "value")]}),
    Mutant("finished_hypotheses_dropped", breaks={"c"}, partial=True,
           edits={"c_beam_answer": [("candidates.append((tokens, score, st, True))", "pass")]}),
]
