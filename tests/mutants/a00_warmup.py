"""Plausible wrong answers to a00_warmup (parameter counts and the convolution output size)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) vanilla RNN
    Mutant("rnn_forgets_recurrent_weights", breaks={"a"},
           edits={"a_rnn_answer": [("return u + w + b", "return u + b")]}),
    Mutant("rnn_returns_float", breaks={"a"},
           edits={"a_rnn_answer": [("return u + w + b", "return float(u + w + b)")]}),
    # (b1) LSTM as the lecture counts it
    Mutant("lstm_one_gate", breaks={"b1"},
           edits={"b1_lstm_answer": [("return 4 * per_gate", "return per_gate")]}),
    # (b2) torch.nn.LSTM's count (two biases per gate)
    Mutant("torch_lstm_one_bias", breaks={"b2"},
           edits={"b2_torch_answer": [("bias_ih + bias_hh", "bias_ih")]}),
    # (c) convolution output size
    Mutant("conv_off_by_one", breaks={"c"},
           edits={"c_conv_answer": [("return (size + 2 * padding - kernel) // stride + 1",
                                     "return (size - kernel + 1 + 2 * padding) // stride")]}),
    # (d) weight sharing
    Mutant("shared_counts_every_position", breaks={"d"},
           edits={"d_answer": [("shared_weights_4 = 4 * 5 * 5",
                                "shared_weights_4 = 4 * 5 * 5 * 196 * 196")]}),
    # passes the visible range check, only the hidden test catches it
    Mutant("local_weights_one_row", breaks={"d"}, partial=True,
           edits={"d_answer": [("local_weights = 5 * 5 * 196 * 196", "local_weights = 5 * 5 * 196")]}),
]
