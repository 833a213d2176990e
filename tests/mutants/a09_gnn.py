"""Plausible wrong answers to a09_gnn (message passing in both forms, over-smoothing, node classification)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) message passing with loops
    Mutant("mean_counts_the_node_itself", breaks={"a"},
           edits={"a_loops_answer": [("m_i = m_i / len(neighbours)", "m_i = m_i / (len(neighbours) + 1)")]}),
    Mutant("update_forgets_own_state", breaks={"a"},
           edits={"a_loops_answer": [("rows.append(H[i] @ W + m_i)", "rows.append(m_i)")]}),
    # (b) matrix form
    Mutant("isolated_node_divides_by_zero", breaks={"b"},
           edits={"b_matrix_answer": [("A / deg.clamp(min=1.0)", "A / deg")]}),
    Mutant("normalised_by_column_degree", breaks={"b"},
           edits={"b_matrix_answer": [("A / deg.clamp(min=1.0)", "A / deg.clamp(min=1.0).T")]}),
    Mutant("identity_term_missing", breaks={"b"},
           edits={"b_matrix_answer": [("out = HW + mean_adj @ HW", "out = mean_adj @ HW")]}),
    # (c) over-smoothing
    Mutant("cosine_includes_diagonal", breaks={"c"},
           edits={"c_smooth_answer": [
               ("(S.sum() - S.diagonal().sum()) / (n * (n - 1))", "S.sum() / (n * n)")]}),
    Mutant("curve_one_layer_short", breaks={"c"},
           edits={"c_smooth_answer": [("for _ in range(depth):", "for _ in range(depth - 1):")]}),
    # (d) node classification
    Mutant("loss_peeks_at_unlabelled_nodes", breaks={"d"}, partial=True,
           edits={"d_train_answer": [("logits()[train_mask], y[train_mask]", "logits(), y")]}),
    Mutant("argmax_over_nodes", breaks={"d"},
           edits={"d_train_answer": [("argmax(dim=1)", "argmax(dim=0)")]}),
]
