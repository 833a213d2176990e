"""Oracle tests for seqcourse.nn.gnn: hand calculation, explicit loops, closed forms, per-graph checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqcourse.data.graphs import (
    batch_graphs,
    cycles_vs_trees,
    edge_index_from_adjacency,
    karate_club,
    stochastic_block_model,
)
from seqcourse.nn import gnn


def random_graph(n: int, p: float, seed: int, isolated: int = 1) -> torch.Tensor:
    A, _ = stochastic_block_model([n], p, p, torch.Generator().manual_seed(seed))
    A[:isolated] = 0.0  # make the first nodes isolated
    A[:, :isolated] = 0.0
    return A.double()


def test_hand_computed_four_node_graph():
    # Edges 0-1, 0-2, 0-3, 1-2 (degrees 3, 2, 2, 1); H W = [1, -2, -1, 2] for W = [1, -2]^T.
    A = torch.tensor([[0, 1, 1, 1], [1, 0, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.float64)
    H = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    W = torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
    # node 0: 1 + (-2 - 1 + 2)/3 = 2/3; node 1: -2 + (1 - 1)/2 = -2 -> 0;
    # node 2: -1 + (1 - 2)/2 = -1.5 -> 0; node 3: 2 + 1/1 = 3.
    expected = torch.tensor([[2.0 / 3.0], [0.0], [0.0], [3.0]], dtype=torch.float64)
    torch.testing.assert_close(gnn.mean_message_passing(A, H, W), expected)
    torch.testing.assert_close(gnn.mean_message_passing_loops(A, H, W), expected)
    pre = torch.tensor([[2.0 / 3.0], [-2.0], [-1.5], [3.0]], dtype=torch.float64)
    torch.testing.assert_close(gnn.mean_message_passing(A, H, W, activation=None), pre)


def test_isolated_node_gets_zero_message():
    A = torch.zeros(3, 3, dtype=torch.float64)
    A[0, 1] = A[1, 0] = 1.0  # node 2 is isolated
    H = torch.tensor([[1.0, 2.0], [3.0, -1.0], [3.0, 1.0]], dtype=torch.float64)
    W = torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
    out = gnn.mean_message_passing(A, H, W, activation=None)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[2], H[2] @ W)  # h'_2 = h_2 W = 1, no message
    torch.testing.assert_close(out[0], H[0] @ W + H[1] @ W)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matrix_and_loop_forms_agree_on_random_graphs(seed):
    A = random_graph(9, 0.35, seed, isolated=2)
    gen = torch.Generator().manual_seed(seed)
    H = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    W = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    A[3, 4] = A[4, 3] = 2.5  # a weighted edge: D holds weighted degrees in both forms
    for act in (torch.relu, torch.tanh, None):
        torch.testing.assert_close(
            gnn.mean_message_passing(A, H, W, act), gnn.mean_message_passing_loops(A, H, W, act)
        )


def test_gcn_normalization_matches_explicit_formula():
    A = random_graph(7, 0.4, 3, isolated=1)
    N = gnn.gcn_normalized_adjacency(A)
    A_t = A + torch.eye(7, dtype=A.dtype)
    deg = A_t.sum(1)
    for i in range(7):
        for j in range(7):
            assert N[i, j].item() == pytest.approx(A_t[i, j].item() / (deg[i] * deg[j]).sqrt().item())
    # symmetric and its largest eigenvalue is 1 (eigenvector D~^{1/2} 1)
    torch.testing.assert_close(N, N.T)
    assert torch.linalg.eigvalsh(N).max().item() == pytest.approx(1.0)


def test_gcn_layer_matches_torch_geometric():
    pyg = pytest.importorskip("torch_geometric.nn", reason="torch_geometric is not installed (peer check)")
    torch.manual_seed(0)
    A = random_graph(8, 0.4, 4).float()
    H = torch.randn(8, 5)
    ours = gnn.GCNLayer(5, 3)
    ref = pyg.GCNConv(5, 3)
    with torch.no_grad():
        ref.lin.weight.copy_(ours.W.T)
        ref.bias.copy_(ours.b)
    torch.testing.assert_close(ours(A, H), ref(H, edge_index_from_adjacency(A)), rtol=1e-5, atol=1e-5)


def test_general_mpnn_with_mean_and_linear_functions_is_the_lecture_layer():
    A = random_graph(10, 0.3, 5, isolated=2)
    gen = torch.Generator().manual_seed(5)
    H = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    W = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    layer = gnn.MPNNLayer(
        f_m=lambda h_i, h_j, e: h_j @ W, f_node=lambda h, m: torch.relu(h @ W + m), aggr="mean"
    )
    H_new, E_new = layer(H, edge_index_from_adjacency(A))
    assert E_new is None
    torch.testing.assert_close(H_new, gnn.mean_message_passing(A, H, W))


@pytest.mark.parametrize("how", ["sum", "mean", "max"])
def test_mpnn_aggregations_and_edge_update_vs_brute_force(how):
    A = random_graph(7, 0.5, 6, isolated=1)
    ei = edge_index_from_adjacency(A)
    gen = torch.Generator().manual_seed(6)
    H = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    E = torch.randn(ei.shape[1], 2, generator=gen, dtype=torch.float64)
    V = torch.randn(3 + 3 + 2, 4, generator=gen, dtype=torch.float64)

    def f_m(h_i, h_j, e):
        return torch.cat([h_i, h_j, e], -1) @ V

    def f_node(h, m):
        return h.sum(-1, keepdim=True) + m

    def f_edge(h_i, m_i, h_j, m_j, e):
        return e * (m_i - m_j).sum(-1, keepdim=True) + h_i[:, :2] * h_j[:, :2]

    H_new, E_new = gnn.MPNNLayer(f_m, f_node, f_edge, aggr=how)(H, ei, E)
    reduce = {"sum": lambda t: t.sum(0), "mean": lambda t: t.mean(0), "max": lambda t: t.max(0).values}[how]
    M = torch.zeros(7, 4, dtype=torch.float64)
    for i in range(7):
        incoming = [k for k in range(ei.shape[1]) if ei[1, k] == i]
        msgs = [f_m(H[i][None], H[ei[0, k]][None], E[k][None])[0] for k in incoming]
        if msgs:
            M[i] = reduce(torch.stack(msgs))
    torch.testing.assert_close(H_new, H.sum(-1, keepdim=True) + M)
    for k in range(ei.shape[1]):
        j, i = ei[:, k].tolist()
        expect = E[k] * (M[i] - M[j]).sum() + H[i, :2] * H[j, :2]
        torch.testing.assert_close(E_new[k], expect)


@pytest.mark.parametrize("how", ["sum", "mean", "max"])
def test_readout_and_batching_match_per_graph_computation(how):
    graphs = cycles_vs_trees(6, seed=1)
    b = batch_graphs(graphs)
    torch.manual_seed(0)
    layer = gnn.GCNLayer(b.X.shape[1], 4)
    pooled = gnn.readout(layer(b.A, b.X), b.batch, b.num_graphs, how)  # (G, 4)
    assert pooled.shape == (6, 4)
    for k, g in enumerate(graphs):
        Hk = layer(g.A, g.X)
        ref = {"sum": Hk.sum(0), "mean": Hk.mean(0), "max": Hk.max(0).values}[how]
        torch.testing.assert_close(pooled[k], ref)


def test_oversmoothing_similarity_increases_with_depth_on_karate():
    g = karate_club()
    sims = gnn.oversmoothing_curve(g.A, g.X, 32)
    assert sims[0] == pytest.approx(0.0)  # one-hot features are orthogonal
    assert sims[1] < sims[4] < sims[16] < sims[32]
    assert sims[32] > 0.95
    rand = gnn.oversmoothing_curve(g.A.double(), g.X.double(), 16, random_weights=True, seed=0)
    assert rand[16] > rand[1] + 0.2


def test_karate_node_classification_reaches_accuracy():
    torch.manual_seed(0)
    g = karate_club(train_per_class=3, seed=0)
    model = gnn.NodeClassifier(34, 16, 2, num_layers=2)
    opt = torch.optim.Adam(model.parameters(), lr=0.02, weight_decay=5e-4)
    for _ in range(100):
        loss = F.cross_entropy(model(g.A, g.X)[g.train_mask], g.y[g.train_mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    pred = model(g.A, g.X).argmax(1)
    test = ~g.train_mask
    acc = (pred[test] == g.y[test]).float().mean().item()
    assert acc >= 0.85, acc


def test_graph_classification_cycles_vs_trees_reaches_accuracy():
    torch.manual_seed(0)
    train, test = batch_graphs(cycles_vs_trees(80, seed=0)), batch_graphs(cycles_vs_trees(40, seed=1))
    model = gnn.GraphClassifier(train.X.shape[1], 16, 2, num_layers=2, pooling="mean")
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(80):
        loss = F.cross_entropy(model(train.A, train.X, train.batch, train.num_graphs), train.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    pred = model(test.A, test.X, test.batch, test.num_graphs).argmax(1)
    assert (pred == test.y).float().mean().item() >= 0.95


def test_edge_predictor_learns_same_block_pairs():
    torch.manual_seed(0)
    A, blocks = stochastic_block_model([10, 10], 0.7, 0.02, torch.Generator().manual_seed(0))
    X = torch.eye(20)
    pairs = torch.combinations(torch.arange(20), 2).T  # (2, 190)
    target = (blocks[pairs[0]] == blocks[pairs[1]]).float()
    model = gnn.EdgePredictor(20, 16, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(100):
        loss = F.binary_cross_entropy_with_logits(model(A, X, pairs)[:, 0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = ((model(A, X, pairs)[:, 0] > 0).float() == target).float().mean().item()
    assert acc >= 0.9


def test_bad_inputs_raise_clear_errors():
    A = torch.zeros(4, 4)
    H = torch.zeros(4, 3)
    W = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="square"):
        gnn.mean_message_passing(torch.zeros(4, 5), H, W)
    with pytest.raises(ValueError, match=r"H must have shape \(4, d\), got \(5, 3\)"):
        gnn.mean_message_passing(A, torch.zeros(5, 3), W)
    with pytest.raises(ValueError, match="W must have shape"):
        gnn.mean_message_passing(A, H, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="2-D"):
        gnn.mean_message_passing(torch.zeros(4), H, W)
    with pytest.raises(TypeError, match="torch.Tensor"):
        gnn.mean_message_passing(A.numpy(), H, W)
    with pytest.raises(ValueError, match="how must be one of"):
        gnn.aggregate(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), 2, "median")
    with pytest.raises(ValueError, match="aggr must be one of"):
        gnn.MPNNLayer(lambda *a: a[0], lambda *a: a[0], aggr="min")
    with pytest.raises(ValueError, match="edge_index must have shape"):
        gnn.MPNNLayer(lambda *a: a[1], lambda h, m: m)(H, torch.zeros(3, 5, dtype=torch.long))


def test_adjacency_dtype_follows_the_features_and_mismatched_weights_are_named():
    from seqcourse.nn.gnn import mean_message_passing

    A = torch.tensor([[0, 1], [1, 0]], dtype=torch.float32)
    H = torch.randn(2, 3, dtype=torch.float64)
    W = torch.randn(3, 2, dtype=torch.float64)
    out = mean_message_passing(A, H, W, activation=None)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, H @ W + H.flip(0) @ W)
    with pytest.raises(TypeError, match=r"W \(torch.float32\) and H \(torch.float64\)"):
        mean_message_passing(A, H, W.float())
    with pytest.raises(TypeError, match="floating-point"):
        mean_message_passing(A, H.long(), W)


# ------------------------------------------------------------------ CNN / attention as message passing


@pytest.mark.parametrize("k", [1, 3, 5])
def test_grid_convolution_as_messages_is_conv2d(k):
    gen = torch.Generator().manual_seed(k)
    X = torch.randn(3, 5, 7, generator=gen, dtype=torch.float64)
    K = torch.randn(4, 3, k, k, generator=gen, dtype=torch.float64)
    expected = F.conv2d(X[None], K, padding=k // 2)[0]
    torch.testing.assert_close(gnn.grid_convolution_as_messages(X, K), expected)


def test_grid_convolution_rejects_even_or_mismatched_kernels():
    X = torch.zeros(3, 4, 4)
    with pytest.raises(ValueError, match="odd k"):
        gnn.grid_convolution_as_messages(X, torch.zeros(2, 3, 2, 2))
    with pytest.raises(ValueError, match=r"\(C', 3, k, k\)"):
        gnn.grid_convolution_as_messages(X, torch.zeros(2, 2, 3, 3))


def test_adjacency_attention_masks_non_edges_and_reduces_to_known_cases():
    A = random_graph(8, 0.4, 7, isolated=1)
    gen = torch.Generator().manual_seed(7)
    H = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    W_q, W_k, W_v = (torch.randn(5, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    out, alpha = gnn.adjacency_attention(A, H, W_q, W_k, W_v)
    allowed = (A != 0) | torch.eye(8, dtype=torch.bool)
    assert (alpha[~allowed] == 0).all()
    torch.testing.assert_close(alpha.sum(1), torch.ones(8, dtype=torch.float64))
    # brute force for every node: softmax over N(i) + {i} only
    for i in range(8):
        js = torch.nonzero(allowed[i]).flatten()
        s = (H[i] @ W_q) @ (H[js] @ W_k).T / 2.0  # sqrt(d_k) = 2
        torch.testing.assert_close(out[i], torch.softmax(s, 0) @ (H[js] @ W_v))
    # W_q = 0: mean over N(i) + {i}
    A_t = A + torch.eye(8, dtype=A.dtype)
    uniform, _ = gnn.adjacency_attention(A, H, torch.zeros_like(W_q), W_k, W_v)
    torch.testing.assert_close(uniform, (A_t / A_t.sum(1, keepdim=True)) @ H @ W_v)


# ------------------------------------------------------------------ over-squashing task and model


def test_tree_neighbors_match_answer_is_the_label_of_the_matching_leaf():
    from seqcourse.data.graphs import binary_tree, tree_neighbors_match

    A, X, y = tree_neighbors_match(3, 50, torch.Generator().manual_seed(0))
    torch.testing.assert_close(A, binary_tree(3))
    assert A.shape == (15, 15) and X.shape == (50, 15, 17) and y.shape == (50,)
    assert int(A.sum()) == 2 * 14 and torch.equal(A, A.T)
    K = 8
    for s in range(50):
        query = int(X[s, 0, :K].argmax())
        match = [leaf for leaf in range(7, 15) if int(X[s, leaf, :K].argmax()) == query]
        assert len(match) == 1
        assert int(X[s, match[0], K:2 * K].argmax()) == int(y[s])
        assert X[s, 1:7].abs().sum() == 0  # inner nodes carry nothing
        assert sorted(X[s, 7:, :K].argmax(1).tolist()) == list(range(K))  # distinct keys
    with pytest.raises(ValueError, match="depth"):
        binary_tree(0)


def test_tree_match_gnn_shapes_receptive_field_and_rewiring():
    from seqcourse.data.graphs import tree_neighbors_match

    torch.manual_seed(0)
    A, X, _ = tree_neighbors_match(3, 4, torch.Generator().manual_seed(1))
    leaf = 14
    for layers, rewire, reaches in ((2, False, False), (3, False, True), (2, True, True)):
        model = gnn.TreeMatchGNN(17, 8, 8, layers, rewire_last=rewire).double()
        Xg = X.double().requires_grad_(True)
        logits = model(A, Xg)
        assert logits.shape == (4, 8)
        (g,) = torch.autograd.grad(logits.sum(), Xg)
        # a leaf 3 hops from the root influences it only with >= 3 local layers or a rewired last layer
        assert (g[:, leaf].abs().sum() > 0) == reaches


@pytest.mark.slow
def test_rewiring_beats_message_passing_on_the_tree_task():
    from seqcourse.nn.gnn_train import train_tree_match

    plain = train_tree_match(3, rewire_last=False, steps=300)
    rewired = train_tree_match(3, rewire_last=True, steps=300)
    assert rewired > 0.9 and plain < 0.5


# ------------------------------------------------------------------ link prediction split and training loops


def test_split_edges_holds_out_true_edges_and_true_non_edges():
    from seqcourse.data.graphs import split_edges

    A, _ = stochastic_block_model([10, 10], 0.5, 0.1, torch.Generator().manual_seed(3))
    A_train, pos, neg = split_edges(A, 0.2, seed=1)
    n_edges = int(A.sum()) // 2
    assert pos.shape == neg.shape == (2, round(0.2 * n_edges))
    assert (A[pos[0], pos[1]] == 1).all() and (A_train[pos[0], pos[1]] == 0).all()
    assert (A_train[pos[1], pos[0]] == 0).all() and torch.equal(A_train, A_train.T)
    assert (A[neg[0], neg[1]] == 0).all() and (neg[0] < neg[1]).all()
    assert int(A_train.sum()) // 2 == n_edges - pos.shape[1]
    with pytest.raises(ValueError, match="symmetric"):
        split_edges(torch.triu(A), 0.2)
    with pytest.raises(ValueError, match="test_frac"):
        split_edges(A, 1.5)


def test_roc_auc_and_accuracy_closed_forms():
    from seqcourse.nn.gnn_train import accuracy, roc_auc

    assert roc_auc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert roc_auc(torch.tensor([1.0]), torch.tensor([1.0, 2.0])) == 0.25  # one tie (1/2) and one loss
    logits = torch.tensor([[2.0, 1.0], [0.0, 1.0], [5.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)


@pytest.mark.slow
def test_training_loops_learn_karate_sbm_and_links():
    from seqcourse.data.graphs import sbm_graphs, split_edges
    from seqcourse.nn.gnn_train import train_graph_classifier, train_link_predictor, train_node_classifier

    _, snaps, acc = train_node_classifier(karate_club(), epochs=100, record_every=50)
    assert [e for e, _ in snaps] == [0, 50, 100] and snaps[0][1].shape == (34, 2)
    assert acc[-1] > 0.8
    graphs = sbm_graphs(120, seed=2)
    _, acc_sum = train_graph_classifier(graphs[:90], graphs[90:], "sum")
    assert acc_sum > 0.85
    A, _ = stochastic_block_model([20, 20], 0.4, 0.02, torch.Generator().manual_seed(0))
    A_train, pos, neg = split_edges(A, 0.15)
    _, auc = train_link_predictor(A_train, torch.eye(40), pos, neg, epochs=80)
    assert auc > 0.65
