"""Short training loops for the graph chapter: node, graph and edge-level prediction, and the
over-squashing task. Each runs on a CPU in a few seconds and returns what the chapter plots."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from seqcourse.data.graphs import Graph, batch_graphs, tree_neighbors_match
from seqcourse.nn.gnn import EdgePredictor, GraphClassifier, NodeClassifier, TreeMatchGNN
from seqcourse.utils import check_positive, check_shape

__all__ = [
    "accuracy",
    "roc_auc",
    "train_node_classifier",
    "train_graph_classifier",
    "train_link_predictor",
    "train_tree_match",
]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows of ``logits`` (N, C) whose argmax equals ``y`` (N,)."""
    check_shape("y", y, (logits.shape[0],))
    return float((logits.argmax(dim=-1) == y).double().mean())


def roc_auc(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties 1/2."""
    diff = pos_scores.flatten()[:, None] - neg_scores.flatten()[None, :]  # (P, N)
    return float((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean())


def train_node_classifier(graph: Graph, d_hidden: int = 2, epochs: int = 200, lr: float = 0.05,
                          record_every: int = 10, seed: int = 0
                          ) -> tuple[NodeClassifier, list[tuple[int, torch.Tensor]], list[float]]:
    """Semi-supervised node classification: cross-entropy on ``graph.train_mask`` only.

    Returns the model, the hidden representations h^{(L)} (n, d_hidden) every ``record_every`` epochs
    (epoch 0 = before training) and the accuracy on the unlabelled nodes after every epoch.
    """
    if graph.train_mask is None:
        raise ValueError("train_node_classifier needs a graph with a train_mask")
    check_positive(epochs=epochs, record_every=record_every)
    torch.manual_seed(seed)
    model = NodeClassifier(graph.X.shape[1], d_hidden, int(graph.y.max()) + 1, num_layers=2)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    mask, test = graph.train_mask, ~graph.train_mask
    snapshots, test_acc = [], []
    for epoch in range(epochs + 1):
        if epoch % record_every == 0:
            with torch.no_grad():
                hidden = graph.X
                for layer in model.layers:
                    hidden = torch.relu(layer(graph.A, hidden))
            snapshots.append((epoch, hidden.clone()))
        if epoch == epochs:
            break
        logits = model(graph.A, graph.X)  # (n, C)
        loss = F.cross_entropy(logits[mask], graph.y[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        test_acc.append(accuracy(logits.detach()[test], graph.y[test]))
    return model, snapshots, test_acc


def train_graph_classifier(train: list[Graph], test: list[Graph], pooling: str = "sum", d_hidden: int = 8,
                           num_layers: int = 2, epochs: int = 30, batch_size: int = 20, lr: float = 0.01,
                           seed: int = 0) -> tuple[GraphClassifier, float]:
    """Graph classification with a readout, mini-batches of ``batch_size`` graphs (one block-diagonal
    graph each, so the dense adjacency stays small); returns the model and the test accuracy."""
    check_positive(epochs=epochs, batch_size=batch_size)
    torch.manual_seed(seed)
    te = batch_graphs(test)
    model = GraphClassifier(te.X.shape[1], d_hidden, int(te.y.max()) + 1, num_layers, pooling)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(train)).tolist()
        for start in range(0, len(train), batch_size):
            b = batch_graphs([train[k] for k in order[start:start + batch_size]])
            loss = F.cross_entropy(model(b.A, b.X, b.batch, b.num_graphs), b.y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return model, accuracy(model(te.A, te.X, te.batch, te.num_graphs), te.y)


def train_link_predictor(A_train: torch.Tensor, X: torch.Tensor, pos_test: torch.Tensor,
                         neg_test: torch.Tensor, d_hidden: int = 32, epochs: int = 150, lr: float = 0.01,
                         seed: int = 0) -> tuple[EdgePredictor, float]:
    """Link prediction: score the training edges above random non-edges (fresh negatives every epoch),
    using only ``A_train`` for message passing; returns the model and the ROC AUC on the held-out pairs."""
    torch.manual_seed(seed)
    n = A_train.shape[0]
    i, j = torch.nonzero(torch.triu(A_train, diagonal=1), as_tuple=True)
    pos = torch.stack([i, j])  # (2, E_train)
    model = EdgePredictor(X.shape[1], d_hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        neg = torch.randint(n, (2, pos.shape[1]), device=X.device)  # (2, E_train): mostly non-edges
        scores = model(A_train, X, torch.cat([pos, neg], dim=1))[:, 0]  # (2 E_train,)
        target = torch.cat([torch.ones(pos.shape[1]), torch.zeros(neg.shape[1])]).to(scores)
        loss = F.binary_cross_entropy_with_logits(scores, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return model, roc_auc(model(A_train, X, pos_test), model(A_train, X, neg_test))


def train_tree_match(depth: int, rewire_last: bool = False, d: int = 32, steps: int | None = None,
                     batch_size: int = 64, lr: float = 5e-3, seed: int = 0) -> float:
    """Train :class:`TreeMatchGNN` (``depth`` layers, width ``d``) on fresh batches of the tree task;
    return the accuracy on 1000 new samples (chance = 2^-depth). ``steps`` defaults to 250 * depth."""
    check_positive(depth=depth, d=d, batch_size=batch_size)
    steps = 250 * depth if steps is None else steps
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    K = 2**depth
    model = TreeMatchGNN(2 * K + 1, d, K, depth, rewire_last)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        A, X, y = tree_neighbors_match(depth, batch_size, gen)
        loss = F.cross_entropy(model(A, X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    A, X, y = tree_neighbors_match(depth, 1000, gen)
    with torch.no_grad():
        return accuracy(model(A, X), y)


