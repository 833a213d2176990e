"""Forward + backward time of three LSTMs: torch.nn.LSTM, seqcourse.nn.recurrent.LSTM, and a textbook
LSTM with eight separate matmuls per step (one U and one W per gate, nothing hoisted).

The three are measured alternately (round-robin), so that machine load affects them alike; the table
reports the median time per iteration and the ratio to torch.nn.LSTM.
Run: ``python benchmarks/rnn.py [--repeats 10] [--batch 32] [--steps 100] [--input 128] [--hidden 256]
[--threads K]``. On a CPU shared with other jobs, ``--threads 1`` avoids the OpenMP contention that
slows every many-small-ops loop (ours and the per-gate one) far more than the single fused
oneDNN call behind torch.nn.LSTM.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import nn

from seqcourse.nn.recurrent import LSTM
from seqcourse.utils import time_alternately


class PerGateLSTM(nn.Module):
    """Reference: the lecture's equations typed literally, gate by gate, eight matmuls per step."""

    def __init__(self, m: int, n: int) -> None:
        super().__init__()
        self.U = nn.ModuleDict({g: nn.Linear(m, n) for g in ("f", "i", "c", "o")})
        self.W = nn.ModuleDict({g: nn.Linear(n, n, bias=False) for g in ("f", "i", "c", "o")})
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        h = x.new_zeros(B, self.n)
        c = x.new_zeros(B, self.n)
        outs = []
        for t in range(T):
            xt = x[:, t]  # (B, m)
            f = torch.sigmoid(self.U["f"](xt) + self.W["f"](h))
            i = torch.sigmoid(self.U["i"](xt) + self.W["i"](h))
            g = torch.tanh(self.U["c"](xt) + self.W["c"](h))
            o = torch.sigmoid(self.U["o"](xt) + self.W["o"](h))
            c = f * c + i * g
            h = o * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, dim=1)  # (B, T, n)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def bench(dev: torch.device, repeats: int, B: int, T: int, m: int, n: int) -> None:
    torch.manual_seed(0)
    ref = nn.LSTM(m, n, batch_first=True).to(dev)
    models = {
        "torch.nn.LSTM": ref,
        "seqcourse LSTM": LSTM.from_torch(ref),
        "per-gate LSTM": PerGateLSTM(m, n).to(dev),
    }
    x = torch.randn(B, T, m, device=dev)

    def run(model: nn.Module) -> Callable[[], None]:
        def step() -> None:
            model.zero_grad(set_to_none=True)
            _first(model(x)).square().mean().backward()

        return step

    ms = time_alternately({name: run(model) for name, model in models.items()}, repeats, dev)
    base = ms["torch.nn.LSTM"]
    print(f"\ndevice={dev}, B={B}, T={T}, m={m}, n={n}, forward+backward, median of {repeats}")
    print(f"{'model':<16} {'ms':>9} {'ratio to nn.LSTM':>17}")
    for name, med in ms.items():
        print(f"{name:<16} {med:>9.2f} {med / base:>17.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = parser.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for dev in devices:
        bench(dev, a.repeats, a.batch, a.steps, a.input, a.hidden)


if __name__ == "__main__":
    main()
