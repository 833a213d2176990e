"""Generated tree-structured data: ListOps-style expressions whose value depends on their structure.

A tree is a digit leaf ``int`` in 0..9, or a tuple ``(op, left, right)`` with ``op`` in
:data:`OPS` (0 = MAX, 1 = MIN). Its value is computed bottom-up; the same digits with another bracketing
usually give another value, so a model has to use the structure. The sequential form is the prefix string
``( MAX 3 ( MIN 7 5 ) )`` over the token ids of :data:`TOKENS`.
"""

from __future__ import annotations

import torch

from seqcourse.utils import check_positive

__all__ = ["OPS", "TOKENS", "Tree", "random_expression", "evaluate", "prefix_tokens", "expression_dataset",
           "tree_depth"]

Tree = int | tuple[int, "Tree", "Tree"]  # a digit leaf or (op, left, right)
OPS = ("MAX", "MIN")
#: sequential vocabulary: PAD, the digits, the brackets and the operators
TOKENS = ("<pad>", *[str(d) for d in range(10)], "(", ")", *OPS)
_ID = {t: k for k, t in enumerate(TOKENS)}


def random_expression(depth: int, generator: torch.Generator | None = None, p_leaf: float = 0.3) -> Tree:
    """A random expression of depth at most ``depth``; the root is always an operator when depth >= 1."""
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    if depth == 0:
        return int(torch.randint(10, (1,), generator=generator))

    def child() -> Tree:
        stop = depth == 1 or float(torch.rand(1, generator=generator)) < p_leaf
        return random_expression(0 if stop else depth - 1, generator, p_leaf)

    op = int(torch.randint(len(OPS), (1,), generator=generator))
    return (op, child(), child())


def evaluate(tree: Tree) -> int:
    """The value of an expression: MAX / MIN applied bottom-up."""
    if isinstance(tree, int):
        return tree
    op, left, right = tree
    a, b = evaluate(left), evaluate(right)
    return max(a, b) if op == 0 else min(a, b)


def tree_depth(tree: Tree) -> int:
    """Number of operator levels on the longest root-to-leaf path (a digit has depth 0)."""
    return 0 if isinstance(tree, int) else 1 + max(tree_depth(tree[1]), tree_depth(tree[2]))


def prefix_tokens(tree: Tree) -> list[int]:
    """Token ids of the bracketed prefix form, e.g. ``( MAX 3 ( MIN 7 5 ) )``."""
    if isinstance(tree, int):
        return [_ID[str(tree)]]
    op, left, right = tree
    return [_ID["("], _ID[OPS[op]], *prefix_tokens(left), *prefix_tokens(right), _ID[")"]]


def expression_dataset(n: int, depth: int, seed: int = 0) -> tuple[list[Tree], torch.Tensor]:
    """``n`` random expressions of depth at most ``depth`` and their values (n,)."""
    check_positive(n=n, depth=depth)
    gen = torch.Generator().manual_seed(seed)
    trees = [random_expression(depth, gen) for _ in range(n)]
    return trees, torch.tensor([evaluate(t) for t in trees])
