"""Attention speed and memory: seqcourse MultiHeadAttention vs torch.nn.MultiheadAttention, and softmax vs
linear vs local attention for N = 128 ... 8192.

All candidates of a table are measured alternately (round-robin), so that machine load affects them alike;
the tables report the median time and the ratio to a reference measured in the same run.

Memory: on CUDA the peak is measured (``torch.cuda.max_memory_allocated`` after a reset). On the CPU it is
**analytic**: the bytes of the largest tensors each method materialises (softmax: the N x N scores and
weights; linear: phi(Q), phi(K) and the d x d' sum; local: the N x (2w + 1) scores and the gathered key and
value windows), because PyTorch's CPU allocator offers no peak counter; the fused
``F.scaled_dot_product_attention`` kernel is not estimated on the CPU (nan).

Run: ``python benchmarks/attention.py [--repeats 5] [--max-n 8192] [--threads K]``; the scaling plot goes to
``benchmarks/results/attention_scaling.png`` (git-ignored).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.nn.attention import MultiHeadAttention, scaled_dot_product_attention
from seqcourse.nn.efficient_attention import linear_attention, local_attention
from seqcourse.utils import time_alternately

RESULTS = Path(__file__).parent / "results"
WINDOW = 32


def bench_mha(dev: torch.device, repeats: int, B: int = 8, T: int = 256, d_model: int = 256, H: int = 8):
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(d_model, H, batch_first=True).to(dev)
    ours = MultiHeadAttention.from_torch(ref)
    x = torch.randn(B, T, d_model, device=dev)

    def forward(model: Callable, **kw) -> Callable[[], object]:
        def run() -> None:
            with torch.no_grad():
                model(x, x, x, **kw)
        return run

    def train_step(model: nn.Module, **kw) -> Callable[[], object]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            model(x, x, x, **kw)[0].square().mean().backward()
        return run

    for mode, make in (("forward, eval, no_grad", forward), ("forward + backward", train_step)):
        ref.train(mode != "forward, eval, no_grad")
        ours.train(ref.training)
        res = time_alternately(
            {
                "nn.MultiheadAttention": make(ref, need_weights=False),
                "seqcourse MHA (fused SDPA)": make(ours),
                "seqcourse MHA (readable)": make(ours, fast=False),
            },
            repeats,
            dev,
        )
        base = res["nn.MultiheadAttention"]
        print(f"\nMulti-head self-attention, {dev}, B={B}, T={T}, d_model={d_model}, H={H}: {mode}")
        print(f"{'implementation':<28} {'ms':>9} {'ratio to nn.MHA':>16}")
        for name, ms in res.items():
            print(f"{name:<28} {ms:>9.2f} {ms / base:>16.2f}")


def _analytic_bytes(method: str, H: int, N: int, d: int, itemsize: int = 4) -> int | None:
    if method == "softmax (readable)":
        return itemsize * H * (2 * N * N + 3 * N * d)  # scores, weights; q, k, v
    if method == "softmax (F.sdpa)":
        return None  # a fused kernel whose internal blocks we cannot see: not estimated
    if method == "linear":
        return itemsize * H * (2 * N * d + d * d + 4 * N * d)  # phi(Q), phi(K); sum phi(k) v^T; q, k, v, out
    return itemsize * H * N * (2 * WINDOW + 1) * (2 * d + 1) + itemsize * H * 4 * N * d  # windows, scores


def bench_scaling(dev: torch.device, repeats: int, max_n: int, H: int = 1, d: int = 64) -> dict[str, list]:
    methods: dict[str, Callable] = {
        "softmax (readable)": lambda q, k, v: scaled_dot_product_attention(q, k, v)[0],
        "softmax (F.sdpa)": F.scaled_dot_product_attention,
        "linear": linear_attention,
        "local": lambda q, k, v: local_attention(q, k, v, WINDOW),
    }
    Ns = [n for n in (128, 256, 512, 1024, 2048, 4096, 8192) if n <= max_n]
    table: dict[str, list] = {"N": Ns, **{m: [] for m in methods}, **{f"{m} MB": [] for m in methods}}
    print(f"\nSingle-head attention, {dev}, H={H}, d=d'={d}, local window w={WINDOW}, forward without grad")
    mem_kind = "measured peak" if dev.type == "cuda" else "analytic"
    print(f"cells: ms, ratio to softmax (readable), {mem_kind} MB")
    print(f"{'N':>6} " + " ".join(f"{m:>20}" for m in methods))
    for N in Ns:
        q, k, v = (torch.randn(1, H, N, d, device=dev) for _ in range(3))
        fns = {m: (lambda f=f, q=q, k=k, v=v: f(q, k, v)) for m, f in methods.items()}
        with torch.no_grad():
            res = time_alternately(fns, repeats if N <= 2048 else max(2, repeats // 2), dev)
        mems = {}
        for m, fn in fns.items():
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
                base = torch.cuda.memory_allocated(dev)
                with torch.no_grad():
                    fn()
                mems[m] = (torch.cuda.max_memory_allocated(dev) - base) / 2**20
            else:
                n_bytes = _analytic_bytes(m, H, N, d)
                mems[m] = float("nan") if n_bytes is None else n_bytes / 2**20
            table[m].append(res[m])
            table[f"{m} MB"].append(mems[m])
        base = res["softmax (readable)"]
        cells = " ".join(f"{res[m]:>8.2f} {res[m] / base:>4.2f} {mems[m]:>7.1f}" for m in methods)
        print(f"{N:>6} {cells}")
    return table


def plot(tables: dict[str, dict[str, list]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqcourse.plot import use_course_style

    use_course_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for dev_name, table in tables.items():
        for m in ("softmax (readable)", "softmax (F.sdpa)", "linear", "local"):
            axes[0].loglog(table["N"], table[m], marker="o", label=f"{m} [{dev_name}]")
            axes[1].loglog(table["N"], table[f"{m} MB"], marker="o", label=f"{m} [{dev_name}]")
    axes[0].set(xlabel="序列长度 N", ylabel="时间 (ms)", title="注意力前向时间")
    axes[1].set(xlabel="序列长度 N", ylabel="内存 (MB)", title="注意力内存 (CPU: 解析估计; CUDA: 实测峰值)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "attention_scaling.png"
    fig.savefig(path, dpi=120)
    return path


def crossover(table: dict[str, list]) -> int | None:
    """Smallest N at which linear attention is faster than the readable softmax attention."""
    for N, soft, lin in zip(table["N"], table["softmax (readable)"], table["linear"], strict=True):
        if lin < soft:
            return N
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-n", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = parser.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    tables = {}
    for dev in devices:
        bench_mha(dev, a.repeats)
        tables[dev.type] = bench_scaling(dev, a.repeats, a.max_n)
        print(f"linear attention overtakes softmax attention on {dev} at N = {crossover(tables[dev.type])}")
    print(f"\nplot: {plot(tables)}")


if __name__ == "__main__":
    main()
