"""Plausible wrong answers to a08_energy_models (Hopfield storage and recall, RBM conditionals, free energy,
CD-1, training on the digits)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) Hebbian storage and energy
    Mutant("self_connections_kept", breaks={"a"},
           edits={"a_hebb_answer": [("    W.fill_diagonal_(0.0)  # no self-connections\n", "")]}),
    Mutant("energy_without_half", breaks={"a"},
           edits={"a_hebb_answer": [("-0.5 * ((s @ W) * s)", "-((s @ W) * s)")]}),
    # (b) asynchronous update and recall
    Mutant("synchronous_fields", breaks={"b"}, partial=True,
           edits={"b_recall_answer": [("s = s.clone()", "s_old, s = s, s.clone()"),
                                      ("field = W[i] @ s  #", "field = W[i] @ s_old  #")]}),
    Mutant("sweeps_off_by_one", breaks={"b"},
           edits={"b_recall_answer": [("return new, sweep\n", "return new, sweep - 1\n")]}),
    # (c) conditionals and free energy
    Mutant("free_energy_without_visible_bias", breaks={"c"},
           edits={"c_rbm_answer": [("return -v @ b - F.softplus", "return -F.softplus")]}),
    Mutant("p_v_without_bias", breaks={"c"}, partial=True,
           edits={"c_rbm_answer": [("torch.sigmoid(b + h @ W.T)", "torch.sigmoid(h @ W.T)")]}),
    # (d) CD-1
    Mutant("positive_phase_uses_samples", breaks={"d"},
           edits={"d_cd_answer": [('"W": (v0.T @ p0 - v1.T @ p1) / B', '"W": (v0.T @ h0 - v1.T @ p1) / B')]}),
    Mutant("sum_instead_of_mean", breaks={"d"},
           edits={"d_cd_answer": [("/ B,  # (d, p)", ",  # (d, p)")]}),
    # (e) training
    Mutant("gradient_descent", breaks={"e"},
           edits={"e_train_answer": [('W = W + lr * grads["W"]', 'W = W - lr * grads["W"]'),
                                     ('b = b + lr * grads["b"]', 'b = b - lr * grads["b"]'),
                                     ('c = c + lr * grads["c"]', 'c = c - lr * grads["c"]')]}),
    Mutant("biases_never_updated", breaks={"e"}, partial=True,
           edits={"e_train_answer": [('b = b + lr * grads["b"]', "b = b"),
                                     ('c = c + lr * grads["c"]', "c = c")]}),
]
