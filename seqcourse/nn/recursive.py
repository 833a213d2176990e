"""Recursive (tree-structured) neural networks and backpropagation through structure.

One composition cell, shared by every internal node of every tree, maps the two children to the parent
(Goller & Küchler 1996; Socher et al. 2011). Leaves are embeddings E[token]; with operator-specific
weights (one W_op, b_op per operator, as in syntactically untied networks)::

    a_p = W_op [h_l; h_r] + b_op        W_op: (d, 2d), b_op: (d,)
    h_p = tanh(a_p)
    o   = V h_root + c,   L = -log softmax(o)_y

Backpropagation through structure (BPTS) runs the chain rule top-down over the same tree::

    dL/dh_root = V^T (softmax(o) - onehot(y))
    delta_p    = dL/dh_p * (1 - h_p^2)                      (dL/da_p)
    dL/dW_op  += delta_p [h_l; h_r]^T,   dL/db_op += delta_p
    dL/dh_l    = W_op[:, :d]^T delta_p,  dL/dh_r = W_op[:, d:]^T delta_p,   dL/dE[token] += dL/dh_leaf

Shared parameters collect the sum of their contributions over all nodes, as BPTT sums over time steps.
:class:`RecursiveNN` evaluates a batch of trees level by level (all nodes of the same height at once);
:func:`bpts` is the hand-written backward pass for one tree, checked against autograd in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqcourse.data.trees import Tree
from seqcourse.utils import check_positive

__all__ = ["FlatTrees", "flatten_trees", "RecursiveNN", "bpts", "SequenceClassifier"]


@dataclass
class FlatTrees:
    """A batch of trees as arrays over all N nodes, children before parents.

    ``token`` (N,) leaf token or -1, ``op`` (N,) operator or -1, ``left``/``right`` (N,) child indices or -1,
    ``height`` (N,) 0 for leaves, ``roots`` (B,) the index of each tree's root.
    """

    token: torch.Tensor
    op: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    height: torch.Tensor
    roots: torch.Tensor


def flatten_trees(trees: list[Tree]) -> FlatTrees:
    """Post-order flattening of ``trees`` (leaves are ints, internal nodes ``(op, left, right)``)."""
    if not trees:
        raise ValueError("flatten_trees needs at least one tree")
    cols: dict[str, list[int]] = {k: [] for k in ("token", "op", "left", "right", "height")}

    def visit(t: Tree) -> int:
        if isinstance(t, int):
            row = (t, -1, -1, -1, 0)
        elif isinstance(t, tuple) and len(t) == 3:
            left, right = visit(t[1]), visit(t[2])
            row = (-1, t[0], left, right, 1 + max(cols["height"][left], cols["height"][right]))
        else:
            raise TypeError(f"a tree is an int leaf or a tuple (op, left, right), got {t!r}")
        for k, v in zip(cols, row, strict=True):
            cols[k].append(v)
        return len(cols["token"]) - 1

    roots = [visit(t) for t in trees]
    return FlatTrees(**{k: torch.tensor(v) for k, v in cols.items()}, roots=torch.tensor(roots))


class RecursiveNN(nn.Module):
    """Tree classifier: leaf embeddings E, one composition cell per operator, a softmax layer on the root.

    ``forward(trees)`` takes a list of trees or a :class:`FlatTrees` and returns logits (B, n_classes).
    """

    def __init__(self, n_tokens: int, n_ops: int, d: int, n_classes: int) -> None:
        super().__init__()
        check_positive(n_tokens=n_tokens, n_ops=n_ops, d=d, n_classes=n_classes)
        self.E = nn.Parameter(0.5 * torch.randn(n_tokens, d))  # (n_tokens, d) leaf vectors
        self.W = nn.Parameter(torch.randn(n_ops, d, 2 * d) / (2 * d) ** 0.5)  # (n_ops, d, 2d)
        self.b = nn.Parameter(torch.zeros(n_ops, d))  # (n_ops, d)
        self.V = nn.Parameter(torch.randn(n_classes, d) / d**0.5)  # (n_classes, d)
        self.c = nn.Parameter(torch.zeros(n_classes))
        self.d = d

    def node_states(self, flat: FlatTrees) -> torch.Tensor:
        """h for every node (N, d), computed one height at a time (all nodes of a height in one batch)."""
        dev = self.E.device
        token, op, left, right, height = (getattr(flat, k).to(dev) for k in ("token", "op", "left", "right",
                                                                                 "height"))
        if int(token.max()) >= self.E.shape[0] or int(op.max()) >= self.W.shape[0]:
            raise ValueError(f"tokens must be < {self.E.shape[0]} and operators < {self.W.shape[0]}")
        H = self.E.new_zeros(token.shape[0], self.d)  # (N, d)
        leaves = height == 0
        H = H.index_put((torch.nonzero(leaves).flatten(),), self.E[token[leaves]])
        for level in range(1, int(height.max()) + 1):
            idx = torch.nonzero(height == level).flatten()  # (k,) nodes whose children are all done
            children = torch.cat([H[left[idx]], H[right[idx]]], dim=1)  # (k, 2d) = [h_l; h_r]
            a = torch.einsum("kij,kj->ki", self.W[op[idx]], children) + self.b[op[idx]]  # (k, d)
            H = H.index_put((idx,), torch.tanh(a))
        return H

    def forward(self, trees: list[Tree] | FlatTrees) -> torch.Tensor:
        flat = trees if isinstance(trees, FlatTrees) else flatten_trees(trees)
        h_root = self.node_states(flat)[flat.roots.to(self.E.device)]  # (B, d)
        return h_root @ self.V.T + self.c  # (B, n_classes)


@torch.no_grad()
def bpts(model: RecursiveNN, tree: Tree, y: int) -> tuple[float, dict[str, torch.Tensor]]:
    """Loss and hand-derived gradients (no autograd) of -log softmax(V h_root + c)_y for one tree.

    Returns ``(loss, grads)`` with a gradient for each of E, W, b, V, c (same shapes as the parameters).
    """
    E, W, b, V, c, d = model.E, model.W, model.b, model.V, model.c, model.d
    grads = {k: torch.zeros_like(p) for k, p in (("E", E), ("W", W), ("b", b), ("V", V), ("c", c))}

    def forward(t: Tree) -> dict:
        if isinstance(t, int):
            return {"h": E[t], "token": t}
        left, right = forward(t[1]), forward(t[2])
        x = torch.cat([left["h"], right["h"]])  # (2d,)
        return {"h": torch.tanh(W[t[0]] @ x + b[t[0]]), "op": t[0], "x": x, "kids": (left, right)}

    def backward(node: dict, dh: torch.Tensor) -> None:
        if "token" in node:
            grads["E"][node["token"]] += dh
            return
        delta = dh * (1 - node["h"] ** 2)  # (d,) dL/da_p
        grads["W"][node["op"]] += torch.outer(delta, node["x"])
        grads["b"][node["op"]] += delta
        dx = W[node["op"]].T @ delta  # (2d,)
        backward(node["kids"][0], dx[:d])
        backward(node["kids"][1], dx[d:])

    root = forward(tree)
    o = V @ root["h"] + c  # (n_classes,)
    p = torch.softmax(o, dim=0)
    loss = float(-torch.log(p[y]))
    do = p.clone()
    do[y] -= 1.0  # softmax(o) - onehot(y)
    grads["V"] += torch.outer(do, root["h"])
    grads["c"] += do
    backward(root, V.T @ do)
    return loss, grads


class SequenceClassifier(nn.Module):
    """Sequential baseline: embedding, a GRU over the token sequence, a linear layer on the last state.

    ``forward(tokens (B, T), lengths (B,))`` with right padding; returns logits (B, n_classes).
    """

    def __init__(self, n_tokens: int, d: int, n_classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_tokens, d, padding_idx=0)
        self.gru = nn.GRU(d, d, batch_first=True)
        self.out = nn.Linear(d, n_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(tokens), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, h_last = self.gru(packed)  # (1, B, d): the state after each sequence's last real token
        return self.out(h_last[0])


