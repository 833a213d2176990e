"""Plausible wrong answers to a02_bptt (design pattern 1: forward pass, BPTT, gradient check)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) forward pass
    Mutant("input_off_by_one", breaks={"a"},
           edits={"a_forward_answer": [("U @ xs[t])", "U @ xs[t - 1])")]}),
    Mutant("softmax_over_time", breaks={"a"},
           edits={"a_forward_answer": [("e / e.sum(axis=1, keepdims=True)",
                                        "e / e.sum(axis=0, keepdims=True)")]}),
    Mutant("forgot_bias_b", breaks={"a"},
           edits={"a_forward_answer": [("np.tanh(b + W @ h_prev", "np.tanh(W @ h_prev")]}),
    # (b) backpropagation through time
    Mutant("no_tanh_derivative", breaks={"b"},
           edits={"b_backward_answer": [("(1.0 - h[t] ** 2) * dh", "dh")]}),
    Mutant("untransposed_W", breaks={"b"},
           edits={"b_backward_answer": [("W.T @ da_next", "W @ da_next")]}),
    Mutant("no_recurrence", breaks={"b"},
           edits={"b_backward_answer": [(" + W.T @ da_next", "")]}),
    Mutant("W_grad_uses_h_t", breaks={"b"},
           edits={"b_backward_answer": [('"W": da.T @ h_prev', '"W": da.T @ h')]}),
    # (c) gradient check
    Mutant("one_sided_difference", breaks={"c"},
           edits={"c_gradcheck_answer": [("(f(theta + step) - f(theta - step)) / (2 * eps)",
                                          "(f(theta + step) - f(theta)) / eps")]}),
    Mutant("missing_factor_two", breaks={"c"},
           edits={"c_gradcheck_answer": [("/ (2 * eps)", "/ eps")]}),
    Mutant("integer_gradient_buffer", breaks={"c"}, partial=True,
           edits={"c_gradcheck_answer": [("theta = np.asarray(theta, dtype=float)\n", "")]}),
]
