"""Tests for seqcourse.data.graphs and seqcourse.data.images against networkx, scikit-learn, graph facts."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from seqcourse.data import graphs
from seqcourse.data.images import load_digits


def test_karate_club_matches_networkx():
    g = graphs.karate_club(train_per_class=3, seed=0)
    ref = nx.karate_club_graph()
    assert g.A.shape == (34, 34) and g.X.shape == (34, 34)
    torch.testing.assert_close(g.A, g.A.T)
    assert g.A.diagonal().eq(0).all()
    assert int(g.A.sum()) == 2 * ref.number_of_edges() == 156
    assert {(int(i), int(j)) for i, j in g.edge_index.T if i < j} == {tuple(sorted(e)) for e in ref.edges()}
    assert g.y[0] == 0 and g.y[33] == 1
    factions = [0 if ref.nodes[k]["club"] == "Mr. Hi" else 1 for k in range(34)]
    assert g.y.tolist() == factions
    assert g.train_mask[0] and g.train_mask[33]
    for cls in (0, 1):
        assert int(g.train_mask[g.y == cls].sum()) == 3
    torch.testing.assert_close(graphs.karate_club(3, seed=0).train_mask, g.train_mask)


def test_edge_index_convention():
    A = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])  # A[i, j]: i receives from j
    ei = graphs.edge_index_from_adjacency(A)
    assert sorted(map(tuple, ei.T.tolist())) == [(1, 0), (2, 1)]  # columns (source j, target i)


def test_stochastic_block_model_statistics():
    A, blocks = graphs.stochastic_block_model([60, 60], 0.5, 0.1, torch.Generator().manual_seed(0))
    torch.testing.assert_close(A, A.T)
    assert A.diagonal().eq(0).all() and set(A.unique().tolist()) <= {0.0, 1.0}
    same = blocks[:, None] == blocks[None, :]
    off_diag = ~torch.eye(120, dtype=torch.bool)
    assert A[same & off_diag].mean().item() == pytest.approx(0.5, abs=0.03)
    assert A[~same].mean().item() == pytest.approx(0.1, abs=0.02)


def test_cycles_trees_and_batching():
    data = graphs.cycles_vs_trees(10, min_nodes=5, max_nodes=9, seed=0)
    assert [int(g.y) for g in data] == [0, 1] * 5
    for g in data:
        G = nx.from_numpy_array(g.A.numpy())
        assert nx.is_connected(G)
        if int(g.y) == 0:
            assert all(d == 2 for _, d in G.degree())
        else:
            assert nx.is_tree(G)
        torch.testing.assert_close(g.X.argmax(1), g.A.sum(1).clamp(max=4).long())
    b = graphs.batch_graphs(data)
    N = sum(g.num_nodes for g in data)
    assert b.A.shape == (N, N) and b.X.shape[0] == N and b.num_graphs == 10
    start = 0
    for k, g in enumerate(data):
        n = g.num_nodes
        torch.testing.assert_close(b.A[start : start + n, start : start + n], g.A)
        assert b.batch[start : start + n].eq(k).all()
        start += n
    assert int(b.A.sum()) == sum(int(g.A.sum()) for g in data)  # no edges between graphs
    sbm = graphs.sbm_graphs(4, block_size=5, seed=0)
    assert [g.num_nodes for g in sbm] == [10, 15, 10, 15]


def test_graph_bad_inputs():
    with pytest.raises(ValueError, match="square"):
        graphs.edge_index_from_adjacency(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="probability"):
        graphs.stochastic_block_model([3], 1.5, 0.1)
    with pytest.raises(ValueError, match="at least 3"):
        graphs.cycle_graph(2)
    with pytest.raises(ValueError, match="scalar graph label"):
        graphs.batch_graphs([graphs.karate_club()])
    with pytest.raises(ValueError, match="at least one graph"):
        graphs.batch_graphs([])


def test_digits_scaled_split_and_binarized():
    from sklearn.datasets import load_digits as sk_load

    d = load_digits()
    assert d.X_train.shape == (1437, 64) and d.X_test.shape == (360, 64)
    assert d.X_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.X_train.min().item() == 0.0 and d.X_train.max().item() == 1.0
    # every image of the split is one of the original images divided by 16
    raw = torch.as_tensor(sk_load().data, dtype=torch.float32) / 16
    all_x = torch.cat([d.X_train, d.X_test])
    assert torch.cdist(all_x, raw).min(1).values.max().item() < 1e-5
    assert torch.bincount(d.y_test, minlength=10).min().item() >= 35  # stratified: about 36 per class
    again = load_digits()
    torch.testing.assert_close(again.X_train, d.X_train)
    other = load_digits(seed=1)
    assert not torch.equal(other.y_train, d.y_train)
    b = load_digits(binarize=True)
    assert set(b.X_train.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(b.X_train, (d.X_train > 0.5).float())
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=1.5)
    with pytest.raises(TypeError, match="floating-point"):
        load_digits(dtype=torch.int64)


@pytest.mark.parametrize("n", [2, 3])
def test_bars_and_stripes_are_all_and_only_the_constant_row_or_column_images(n):
    import itertools

    from seqcourse.data.images import bars_and_stripes

    X = bars_and_stripes(n)
    assert X.shape == (2 ** (n + 1) - 2, n * n)
    got = {tuple(int(v) for v in row) for row in X}
    assert len(got) == len(X)  # no duplicates
    expect = set()
    for bits in itertools.product((0, 1), repeat=n * n):
        img = torch.tensor(bits).reshape(n, n)
        if (img == img[:, :1]).all() or (img == img[:1, :]).all():
            expect.add(bits)
    assert got == expect  # brute force over all 2^(n*n) images
    with pytest.raises(ValueError, match=r"\[2, 5\]"):
        bars_and_stripes(6)


def test_labelled_subset_takes_per_class_rows_of_each_class():
    digits = load_digits()
    X, y = digits.labelled_subset(5, seed=0)
    assert X.shape == (50, 64) and torch.equal(torch.bincount(y, minlength=10), torch.full((10,), 5))
    rows = {tuple(x.tolist()): int(c) for x, c in zip(digits.X_train, digits.y_train, strict=True)}
    assert all(rows[tuple(x.tolist())] == int(c) for x, c in zip(X, y, strict=True))  # real rows, labels
    assert len({tuple(x.tolist()) for x in X}) == 50  # no row twice
    X2, _ = digits.labelled_subset(5, seed=0)
    X3, _ = digits.labelled_subset(5, seed=1)
    assert torch.equal(X, X2) and not torch.equal(X, X3)
    with pytest.raises(ValueError, match="per_class"):
        digits.labelled_subset(1000)


def test_as_images_reshapes_resizes_and_pads():
    import torch.nn.functional as F

    from seqcourse.data.images import as_images

    d = load_digits()
    x = d.X_train[:5]
    images = as_images(x)
    assert images.shape == (5, 1, 8, 8)
    assert torch.equal(images[:, 0].reshape(5, 64), x)  # row-major, the layout of sklearn's images
    lenet = as_images(x, size=24, pad=4)
    assert lenet.shape == (5, 1, 32, 32)
    assert torch.all(lenet[..., :4, :] == 0) and torch.all(lenet[..., :, -4:] == 0)
    torch.testing.assert_close(lenet[..., 4:28, 4:28],
                               F.interpolate(images, size=(24, 24), mode="bilinear", align_corners=False))
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        as_images(x.reshape(5, 8, 8))
