"""Time of ``seqcourse-grade similarity`` for a class of N submissions of a real assignment (default 300).

    .venv/bin/python benchmarks/similarity.py [--n 300] [--assignment a02_bptt]

Each synthetic student submits the assignment's released notebook with the solution's code in the answer
cells (the worst case: every pair shares most of its code, so every pair's matched regions are computed)
plus a cell of their own, random code. Prints the time of each stage and its share of the total, so the
comparison of all N(N-1)/2 pairs is measured against reading the notebooks in the same run.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import nbformat

from seqcourse.grading import similarity

ROOT = Path(__file__).resolve().parents[1]


def _own_cell(rng: random.Random) -> str:
    names = [f"{rng.choice('abcdefghxyz')}{rng.randint(0, 99)}" for _ in range(8)]
    lines = [f"def helper_{rng.randint(0, 10**6)}(v):"]
    for _ in range(30):
        a, b, c = rng.sample(names, 3)
        op = rng.choice(["+", "-", "*", "@"])
        lines.append(f"    {a} = {b} {op} {c} * {rng.random():.3f}  # step {rng.randint(0, 999)}")
    lines.append(f"    return {names[0]}")
    return "\n".join(lines)


def make_class(folder: Path, assignment: str, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    solution = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solution.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    released = nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
    for k in range(n):
        nb = nbformat.from_dict(released)
        for cell in nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in answers:
                cell.source = answers[grade_id]
        nb.cells.append(nbformat.v4.new_code_cell(_own_cell(rng)))
        target = folder / f"s{k:03d}" / assignment / f"{assignment}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--assignment", default="a02_bptt")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "submissions"
        make_class(folder, args.assignment, args.n)
        template = ROOT / "assignments" / args.assignment / f"{args.assignment}.ipynb"
        clock = [(time.perf_counter(), time.process_time())]
        subs = similarity.load_submissions(folder)
        clock.append((time.perf_counter(), time.process_time()))
        pairs = similarity.compare(subs, [template])
        clock.append((time.perf_counter(), time.process_time()))
        similarity.write_csv(pairs, Path(tmp) / "similarity.csv")
        similarity.write_html(pairs, Path(tmp) / "similarity.html", args.assignment)
        clock.append((time.perf_counter(), time.process_time()))
    stages = ["read notebooks", "fingerprint + compare all pairs", "write csv + html"]
    wall_total, cpu_total = (clock[-1][i] - clock[0][i] for i in (0, 1))
    print(f"{args.n} submissions of {args.assignment}, {len(pairs)} pairs (one process)")
    print(f"{'stage':<34}{'wall s':>9}{'cpu s':>9}{'share':>8}")
    for k, stage in enumerate(stages):
        wall, cpu = (clock[k + 1][i] - clock[k][i] for i in (0, 1))
        print(f"{stage:<34}{wall:>9.2f}{cpu:>9.2f}{cpu / cpu_total:>8.0%}")
    print(f"{'total':<34}{wall_total:>9.2f}{cpu_total:>9.2f}{1:>8.0%}")
    print("cpu s is what the run costs on an idle core; wall s also counts waiting for a busy machine")


if __name__ == "__main__":
    main()
