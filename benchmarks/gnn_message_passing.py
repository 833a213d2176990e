"""Dense matrix form H' = (I + D^{-1} A) H W versus the edge-list form (gather + scatter-mean) of one layer.

The dense form costs O(n^2 d') per layer whatever the graph; the edge-list form costs O(|E| d') and wins on
sparse graphs. Both are timed alternately in the same run on stochastic block models with a fixed average
degree; the table prints the edge-list time divided by the dense time (< 1: edge list faster).

    python benchmarks/gnn_message_passing.py [--repeats 20]
"""

from __future__ import annotations

import argparse

import torch

from seqcourse.data.graphs import edge_index_from_adjacency, stochastic_block_model
from seqcourse.nn.gnn import aggregate, mean_message_passing
from seqcourse.utils import device, time_alternately


def edge_list_layer(edge_index: torch.Tensor, H: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    HW = H @ W  # (n, d')
    return torch.relu(HW + aggregate(HW[edge_index[0]], edge_index[1], H.shape[0], "mean"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--avg-degree", type=float, default=8.0)
    args = parser.parse_args()
    dev = device()
    gen = torch.Generator().manual_seed(0)
    print(f"device: {dev}, average degree {args.avg_degree}, d = d' = 64")
    print(f"{'n':>6} {'edges':>8} {'dense ms':>9} {'edges ms':>9} {'ratio':>7}")
    for n in (256, 1024, 2048, 4096):
        p = min(1.0, args.avg_degree / (n - 1))
        A, _ = stochastic_block_model([n // 2, n - n // 2], p, p, gen)
        A = A.to(dev)
        ei = edge_index_from_adjacency(A)
        H = torch.randn(n, 64, generator=gen).to(dev)
        W = torch.randn(64, 64, generator=gen).to(dev)
        ref = mean_message_passing(A, H, W)
        torch.testing.assert_close(edge_list_layer(ei, H, W), ref, rtol=1e-4, atol=1e-4)
        layers = {
            "dense": lambda A=A, H=H, W=W: mean_message_passing(A, H, W),
            "edges": lambda ei=ei, H=H, W=W: edge_list_layer(ei, H, W),
        }
        ms = time_alternately(layers, args.repeats, dev)
        ratio = ms["edges"] / ms["dense"]
        print(f"{n:>6} {ei.shape[1]:>8} {ms['dense']:>9.2f} {ms['edges']:>9.2f} {ratio:>7.2f}")


if __name__ == "__main__":
    main()
