"""Forward time of three 2-D convolutions on the same float64 input: the lecture's position-by-position
loops (``seqcourse.scratch.conv.conv2d_loops``), the im2col form (``seqcourse.scratch.conv.conv2d``) and
``torch.nn.functional.conv2d`` (the reference).

The three are measured alternately (round-robin) so that machine load affects them alike; the table reports
the median time per call and the ratio to F.conv2d, plus the largest absolute difference from it.
Run: ``python benchmarks/conv.py [--repeats 5] [--batch 4] [--channels 8] [--size 32] [--threads K]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from seqcourse.scratch.conv import conv2d, conv2d_loops
from seqcourse.utils import time_alternately


def bench(repeats: int, batch: int, channels: int, size: int, kernel: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size))
    w = rng.standard_normal((2 * channels, channels, kernel, kernel))
    b = rng.standard_normal(2 * channels)
    xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))
    forms = {
        "F.conv2d": lambda: F.conv2d(xt, wt, bt, padding=1).numpy(),
        "im2col (NumPy)": lambda: conv2d(x, w, b, padding=1),
        "loops (NumPy)": lambda: conv2d_loops(x, w, b, padding=1),
    }
    reference = forms["F.conv2d"]()
    error = {name: float(np.abs(f() - reference).max()) for name, f in forms.items()}
    ms = time_alternately(forms, repeats)
    base = ms["F.conv2d"]
    print(f"x ({batch}, {channels}, {size}, {size}), w ({2 * channels}, {channels}, {kernel}, {kernel}), "
          f"padding 1, float64, {repeats} repeats")
    print(f"{'form':<16} {'median ms':>10} {'x F.conv2d':>11} {'max |diff|':>11}")
    for name, med in ms.items():
        print(f"{name:<16} {med:>10.2f} {med / base:>11.1f} {error[name]:>11.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bench(args.repeats, args.batch, args.channels, args.size, args.kernel)


if __name__ == "__main__":
    main()
