"""Plausible wrong answers to a07_transformer (attention, positions, multi-head, encoder block, reversal,
linear attention)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) scaled dot-product attention
    Mutant("softmax_over_queries", breaks={"a"},
           edits={"a_sdpa_answer": [("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)")]}),
    Mutant("mask_lets_the_future_in", breaks={"a"},
           edits={"a_sdpa_answer": [("scores.masked_fill(~mask,", "scores.masked_fill(mask,")]}),
    # (b) positional encoding
    Mutant("exponent_i_not_2i", breaks={"b"},
           edits={"b_pe_answer": [("(two_i / d_model)", "(two_i / 2 / d_model)")]}),
    # (c) multi-head attention
    Mutant("heads_split_without_transpose", breaks={"c"},
           edits={"c_mha_answer": [("Y.reshape(B, T, H, d_k).transpose(1, 2)", "Y.reshape(B, H, T, d_k)")]}),
    Mutant("forgot_W_O", breaks={"c"},
           edits={"c_mha_answer": [("return self.W_O(concat)", "return concat")]}),
    # (d) encoder block
    Mutant("pre_layer_norm", breaks={"d"},
           edits={"d_block_answer": [("X = self.norm1(X + self.attn(X, mask))",
                                      "X = X + self.attn(self.norm1(X), mask)")]}),
    Mutant("ffn_without_relu", breaks={"d"},
           edits={"d_block_answer": [("self.W_2(torch.relu(self.W_1(X)))", "self.W_2(self.W_1(X))")]}),
    # (e) the reversal model and its training
    Mutant("no_positional_encoding", breaks={"e"},
           edits={"e_reverse_answer": [
               (" + positional_encoding(T, self.d_model).to(self.embed.weight)", "")]}),
    Mutant("target_keeps_bos", breaks={"e"},
           edits={"e_reverse_answer": [("tgt[:, 1 : seq_len + 1]", "tgt[:, 0:seq_len]")]}),
    # (f) linear attention and multiplication counts
    # the values are right, only the hidden check for an N x N intermediate fails
    Mutant("quadratic_order", breaks={"f"}, partial=True,
           edits={"f_linear_answer": [("(phi_Q @ KV)", "((phi_Q @ phi_K.transpose(-2, -1)) @ V)")]}),
    Mutant("count_without_factor_two", breaks={"f"},
           edits={"f_linear_answer": [("return 2 * d * d_prime * N", "return d * d_prime * N")]}),
]
