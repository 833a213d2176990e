"""Graph data without downloads: Zachary's karate club (from networkx) and generated graphs.

Conventions shared with :mod:`seqcourse.nn.gnn`:

* ``A`` (n, n) is the adjacency matrix, ``A[i, j] = 1`` when nodes i and j are joined (lecture 004:
  A in {0, 1}^{n x n}); node i aggregates the messages of the nodes j with ``A[i, j] != 0``.
* ``edge_index`` (2, E) lists the directed edges j -> i as columns ``(j, i)``: row 0 holds the sources,
  row 1 the targets. An undirected edge appears twice, once in each direction.
* ``X`` (n, d) holds the node features, one row per node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from seqcourse.utils import check_ndim, check_positive, check_shape

__all__ = [
    "Graph",
    "GraphBatch",
    "edge_index_from_adjacency",
    "degree_features",
    "karate_club",
    "stochastic_block_model",
    "cycle_graph",
    "random_tree",
    "cycles_vs_trees",
    "sbm_graphs",
    "batch_graphs",
    "split_edges",
    "binary_tree",
    "tree_neighbors_match",
]


@dataclass
class Graph:
    """One graph: ``A`` (n, n), node features ``X`` (n, d), labels ``y`` (node labels (n,) or a scalar
    graph label) and an optional boolean ``train_mask`` (n,) for semi-supervised node classification."""

    A: torch.Tensor
    X: torch.Tensor
    y: torch.Tensor
    train_mask: torch.Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.A.shape[0])

    @property
    def edge_index(self) -> torch.Tensor:
        return edge_index_from_adjacency(self.A)


@dataclass
class GraphBatch:
    """Several graphs as one big disconnected graph: block-diagonal ``A`` (N, N), ``X`` (N, d),
    ``batch`` (N,) giving each node's graph index, graph labels ``y`` (G,) and ``num_graphs`` = G."""

    A: torch.Tensor
    X: torch.Tensor
    batch: torch.Tensor
    y: torch.Tensor
    num_graphs: int

    @property
    def edge_index(self) -> torch.Tensor:
        return edge_index_from_adjacency(self.A)


def _check_adjacency(A: torch.Tensor) -> None:
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"A must be a torch.Tensor, got {type(A).__name__}")
    check_ndim("A", A, 2)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square (n, n), got shape {tuple(A.shape)}")


def edge_index_from_adjacency(A: torch.Tensor) -> torch.Tensor:
    """Edge list (2, E) of the nonzero entries of ``A``: column ``(j, i)`` for every ``A[i, j] != 0``."""
    _check_adjacency(A)
    i, j = torch.nonzero(A, as_tuple=True)
    return torch.stack([j, i])  # (2, E): sources j, targets i


def degree_features(A: torch.Tensor, max_degree: int) -> torch.Tensor:
    """One-hot node degrees (n, max_degree + 1); degrees above ``max_degree`` share the last column."""
    _check_adjacency(A)
    if max_degree < 0:
        raise ValueError(f"max_degree must be >= 0, got {max_degree}")
    deg = (A != 0).sum(dim=1).clamp(max=max_degree)  # (n,)
    return torch.nn.functional.one_hot(deg, max_degree + 1).to(torch.get_default_dtype())


def karate_club(train_per_class: int = 1, seed: int = 0) -> Graph:
    """Zachary's karate club (34 members, 78 friendships) for semi-supervised node classification.

    Features ``X`` are the identity matrix (34, 34), i.e. each node starts from its own one-hot vector.
    Labels ``y`` (34,) give the faction after the split: 0 = the instructor "Mr. Hi" (node 0),
    1 = the administrator "Officer" (node 33). ``train_mask`` marks ``train_per_class`` labelled nodes per
    faction; the two leaders are always labelled, the others are drawn with ``seed``.
    """
    import networkx as nx

    if train_per_class < 1:
        raise ValueError(f"train_per_class must be >= 1, got {train_per_class}")
    g = nx.karate_club_graph()
    n = g.number_of_nodes()
    A = torch.zeros(n, n)
    for u, v in g.edges():
        A[u, v] = A[v, u] = 1.0
    y = torch.tensor([0 if g.nodes[k]["club"] == "Mr. Hi" else 1 for k in range(n)])
    mask = torch.zeros(n, dtype=torch.bool)
    gen = torch.Generator().manual_seed(seed)
    for cls, leader in ((0, 0), (1, n - 1)):
        members = [k for k in torch.nonzero(y == cls).flatten().tolist() if k != leader]
        if train_per_class - 1 > len(members):
            raise ValueError(f"train_per_class={train_per_class} exceeds the size of faction {cls}")
        chosen = torch.randperm(len(members), generator=gen)[: train_per_class - 1].tolist()
        mask[[leader] + [members[c] for c in chosen]] = True
    return Graph(A=A, X=torch.eye(n), y=y, train_mask=mask)


def stochastic_block_model(
    sizes: Sequence[int], p_in: float, p_out: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample an undirected stochastic block model; return ``A`` (n, n) and the block labels (n,).

    Two nodes of the same block are joined with probability ``p_in``, of different blocks with ``p_out``.
    """
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(f"sizes must be a non-empty list of positive ints, got {list(sizes)}")
    for name, p in (("p_in", p_in), ("p_out", p_out)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
    blocks = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(list(sizes)))  # (n,)
    same = blocks[:, None] == blocks[None, :]  # (n, n)
    prob = torch.where(same, torch.tensor(p_in), torch.tensor(p_out))
    upper = torch.triu(torch.bernoulli(prob, generator=generator), diagonal=1)
    return upper + upper.T, blocks


def cycle_graph(n: int) -> torch.Tensor:
    """Adjacency (n, n) of the ring 0 - 1 - ... - (n-1) - 0 (every node has degree 2)."""
    if n < 3:
        raise ValueError(f"a cycle needs at least 3 nodes, got {n}")
    A = torch.zeros(n, n)
    idx = torch.arange(n)
    A[idx, (idx + 1) % n] = 1.0
    return A + A.T


def random_tree(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Adjacency (n, n) of a random tree: node k > 0 attaches to a uniformly chosen earlier node."""
    if n < 2:
        raise ValueError(f"a tree needs at least 2 nodes, got {n}")
    A = torch.zeros(n, n)
    for k in range(1, n):
        parent = int(torch.randint(k, (1,), generator=generator))
        A[k, parent] = A[parent, k] = 1.0
    return A


def cycles_vs_trees(
    n_graphs: int = 100, min_nodes: int = 6, max_nodes: int = 12, seed: int = 0, max_degree: int = 4
) -> list[Graph]:
    """A balanced graph-classification set: label 0 = a cycle, label 1 = a random tree.

    Node features are one-hot degrees (:func:`degree_features`); sizes are drawn in [min_nodes, max_nodes].
    """
    if n_graphs < 2 or min_nodes < 3 or max_nodes < min_nodes:
        raise ValueError(f"need n_graphs >= 2 and 3 <= min_nodes <= max_nodes, got {n_graphs}, "
                         f"{min_nodes}, {max_nodes}")
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for k in range(n_graphs):
        n = int(torch.randint(min_nodes, max_nodes + 1, (1,), generator=gen))
        label = k % 2
        A = cycle_graph(n) if label == 0 else random_tree(n, gen)
        graphs.append(Graph(A=A, X=degree_features(A, max_degree), y=torch.tensor(label)))
    return graphs


def sbm_graphs(
    n_graphs: int = 100,
    block_size: int = 8,
    p_in: float = 0.6,
    p_out: float = 0.05,
    seed: int = 0,
    max_degree: int = 8,
) -> list[Graph]:
    """A balanced graph-classification set of stochastic block models: label 0 = two blocks,
    label 1 = three blocks of ``block_size`` nodes. Node features are one-hot degrees."""
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for k in range(n_graphs):
        label = k % 2
        A, _ = stochastic_block_model([block_size] * (2 + label), p_in, p_out, gen)
        graphs.append(Graph(A=A, X=degree_features(A, max_degree), y=torch.tensor(label)))
    return graphs


def batch_graphs(graphs: Sequence[Graph]) -> GraphBatch:
    """Stack graphs into one block-diagonal graph; ``batch[v]`` is the index of the graph of node v."""
    if not graphs:
        raise ValueError("batch_graphs needs at least one graph")
    d = graphs[0].X.shape[1]
    for k, g in enumerate(graphs):
        _check_adjacency(g.A)
        check_shape(f"graphs[{k}].X", g.X, (g.num_nodes, d))
        if g.y.ndim != 0:
            raise ValueError(f"graphs[{k}].y must be a scalar graph label, got shape {tuple(g.y.shape)}")
    A = torch.block_diag(*[g.A for g in graphs])  # (N, N)
    X = torch.cat([g.X for g in graphs])  # (N, d)
    sizes = torch.tensor([g.num_nodes for g in graphs])
    batch = torch.repeat_interleave(torch.arange(len(graphs)), sizes)  # (N,)
    y = torch.stack([g.y for g in graphs])  # (G,)
    return GraphBatch(A=A, X=X, batch=batch, y=y, num_graphs=len(graphs))


def split_edges(A: torch.Tensor, test_frac: float = 0.15, seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hold out a fraction of the undirected edges for link prediction.

    Returns ``A_train`` (n, n) without the held-out edges (both directions removed), ``pos`` (2, P) the
    held-out edges (i < j) and ``neg`` (2, P) as many node pairs i < j that are not edges of ``A``.
    """
    _check_adjacency(A)
    if not 0.0 < test_frac < 1.0:
        raise ValueError(f"test_frac must be in (0, 1), got {test_frac}")
    if not torch.equal(A, A.T):
        raise ValueError("split_edges needs an undirected (symmetric) adjacency matrix")
    gen = torch.Generator().manual_seed(seed)
    n = A.shape[0]
    iu, ju = torch.triu_indices(n, n, offset=1)
    is_edge = A[iu, ju] != 0
    edges = torch.stack([iu[is_edge], ju[is_edge]])  # (2, |E|)
    P = max(1, int(round(test_frac * edges.shape[1])))
    if P >= edges.shape[1]:
        raise ValueError(f"test_frac={test_frac} would hold out all {edges.shape[1]} edges")
    pos = edges[:, torch.randperm(edges.shape[1], generator=gen)[:P]]  # (2, P)
    non_edges = torch.stack([iu[~is_edge], ju[~is_edge]])
    neg = non_edges[:, torch.randperm(non_edges.shape[1], generator=gen)[:P]]  # (2, P)
    A_train = A.clone()
    A_train[pos[0], pos[1]] = 0.0
    A_train[pos[1], pos[0]] = 0.0
    return A_train, pos, neg


def binary_tree(depth: int) -> torch.Tensor:
    """Adjacency (n, n) of the perfect binary tree of the given depth, n = 2^(depth+1) - 1, root 0.

    Node k has children 2k + 1 and 2k + 2; the leaves are the last 2^depth nodes.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    n = 2 ** (depth + 1) - 1
    A = torch.zeros(n, n)
    child = torch.arange(1, n)
    A[child, (child - 1) // 2] = 1.0
    return A + A.T


def tree_neighbors_match(depth: int, n_samples: int, generator: torch.Generator | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The over-squashing task of Alon & Yahav (2021), simplified: find the leaf whose key the root asks.

    On the binary tree of :func:`binary_tree` with K = 2^depth leaves, every leaf gets a distinct key
    (a random permutation of 0..K-1) and a random label in 0..K-1; the root gets a query key. The target
    is the label of the leaf whose key equals the query, so the answer sits ``depth`` hops from the root.
    Node features (2K + 1): [one-hot key, one-hot label, is-root]; inner nodes are all zero.
    Returns ``A`` (n, n), ``X`` (n_samples, n, 2K + 1) and ``y`` (n_samples,).
    """
    check_positive(n_samples=n_samples)
    A = binary_tree(depth)
    n, K = A.shape[0], 2**depth
    keys = torch.argsort(torch.rand(n_samples, K, generator=generator), dim=1)  # (S, K) permutations
    labels = torch.randint(K, (n_samples, K), generator=generator)  # (S, K)
    query = torch.randint(K, (n_samples,), generator=generator)  # (S,)
    X = torch.zeros(n_samples, n, 2 * K + 1)
    leaves = torch.arange(n - K, n)
    X[:, leaves] = torch.cat([torch.nn.functional.one_hot(keys, K), torch.nn.functional.one_hot(labels, K),
                              torch.zeros(n_samples, K, 1)], dim=-1).float()
    X[:, 0, :K] = torch.nn.functional.one_hot(query, K).float()
    X[:, 0, -1] = 1.0
    y = labels.gather(1, (keys == query[:, None]).float().argmax(dim=1, keepdim=True))[:, 0]  # (S,)
    return A, X, y
