"""Plausible wrong answers to a04_lstm_gru (LSTM forward and backward, parameter counts, GRU)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) LSTM forward pass
    Mutant("no_input_gate", breaks={"a"},
           edits={"a_forward_answer": [("C = f * C_prev + i * C_tilde", "C = f * C_prev + C_tilde")]}),
    Mutant("h_without_tanh", breaks={"a"},
           edits={"a_forward_answer": [("h = o * np.tanh(C)", "h = o * C")]}),
    Mutant("cell_state_not_carried", breaks={"a"},
           edits={"a_forward_answer": [("h_prev, C_prev = h, C", "h_prev = h")]}),
    Mutant("input_before_state", breaks={"a"},
           edits={"a_forward_answer": [("np.concatenate([h_prev, xs[t]])",
                                        "np.concatenate([xs[t], h_prev])")]}),
    # (b) backward pass
    Mutant("no_cell_path", breaks={"b"},
           edits={"b_backward_answer": [("(1.0 - tanh_C ** 2) + dC_next", "(1.0 - tanh_C ** 2)")]}),
    Mutant("no_tanh_derivative_on_C", breaks={"b"},
           edits={"b_backward_answer": [("dh_t * o[t] * (1.0 - tanh_C ** 2)", "dh_t * o[t]")]}),
    Mutant("forget_grad_uses_C_t", breaks={"b"},
           edits={"b_backward_answer": [("dC * C_prev[t] * f[t]", "dC * C[t] * f[t]")]}),
    Mutant("recurrent_grad_uses_input_columns", breaks={"b"},
           edits={"b_backward_answer": [('params[f"W_{g}"][:, :n].T', 'params[f"W_{g}"][:, -n:].T')]}),
    # (c) parameter counts
    Mutant("torch_one_bias_per_gate", breaks={"c"},
           edits={"c_count_answer": [("2 * n)  # weight_ih", "n)  # weight_ih")]}),
    Mutant("every_layer_reads_x", breaks={"c"},
           edits={"c_count_answer": [("inputs = m if layer == 0 else n", "inputs = m")]}),
    # (d) GRU
    Mutant("update_gate_swapped", breaks={"d"},
           edits={"d_gru_answer": [("(1.0 - z) * g + z * h_prev", "z * g + (1.0 - z) * h_prev")]}),
    Mutant("reset_gate_skips_b_hg", breaks={"d"},
           edits={"d_gru_answer": [('r * (P["W_g"] @ h_prev + P["b_hg"])',
                                    'r * (P["W_g"] @ h_prev) + P["b_hg"]')]}),
]
