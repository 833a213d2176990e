"""Plausible wrong answers to a03_truncated_bptt (truncated BPTT at depth h, RTRL, NARX training)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) truncated BPTT
    Mutant("depth_off_by_one", breaks={"a"},
           edits={"a_truncated_answer": [("max(k - depth, -1)", "max(k - depth - 1, -1)")]}),
    Mutant("no_sigma_prime_in_recursion", breaks={"a"},
           edits={"a_truncated_answer": [("d = sp[j - 1] * (W_a.T @ d)", "d = W_a.T @ d")]}),
    Mutant("untransposed_W_a", breaks={"a"},
           edits={"a_truncated_answer": [("(W_a.T @ d)", "(W_a @ d)")]}),
    Mutant("W_a_grad_uses_s_k", breaks={"a"},
           edits={"a_truncated_answer": [('"W_a": delta.T @ s_prev', '"W_a": delta.T @ s')]}),
    Mutant("loss_without_half", breaks={"a"},
           edits={"a_truncated_answer": [("loss = 0.5 * np.sum(err ** 2)", "loss = np.sum(err ** 2)")]}),
    # (b) real-time recurrent learning
    Mutant("sensitivity_not_carried", breaks={"b"},
           edits={"b_rtrl_answer": [('Pi = sp * (np.einsum("ji,iab->jab", W_a, Pi) + ', "Pi = sp * (")]}),
    Mutant("sensitivity_uses_new_state", breaks={"b"},
           edits={"b_rtrl_answer": [('np.einsum("ja,b->jab", eye, s_prev)',
                                     'np.einsum("ja,b->jab", eye, s)')]}),
    Mutant("rtrl_transposed_W_a", breaks={"b"},
           edits={"b_rtrl_answer": [('np.einsum("ji,iab->jab", W_a, Lam)',
                                     'np.einsum("ij,iab->jab", W_a, Lam)')]}),
    Mutant("rtrl_no_sigma_prime", breaks={"b"},
           edits={"b_rtrl_answer": [("sp = (s * (1.0 - s))[:, None, None]", "sp = 1.0")]}),
    # (d) training on the NARX task
    Mutant("gradient_ascent", breaks={"d"},
           edits={"d_train_answer": [("params[k] -= lr * scale * g[k]", "params[k] += lr * scale * g[k]")]}),
    Mutant("updates_callers_params", breaks={"d"},
           edits={"d_train_answer": [("params = {k: v.copy() for k, v in params.items()}",
                                      "params = dict(params)")]}),
    Mutant("no_clipping", breaks={"d"}, partial=True,
           edits={"d_train_answer": [("scale = min(1.0, clip / max(norm, 1e-12))", "scale = 1.0")]}),
]
