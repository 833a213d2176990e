"""Throughput of plain sequential `nbgrader autograde` vs the two-process engine (`seqcourse-grade`).

    .venv/bin/python benchmarks/grading.py [--assignment a02_bptt] [--n 40] [--workers 2]

The same N submissions of a real assignment (the solution and its mutants from ``tests/mutants/``, cycled)
are graded in one run by (1) nbgrader's own ``Execute`` (one kernel per notebook running the hidden tests
inside the student's interpreter, sequential, the repository's configuration otherwise) and (2) the
two-process engine through ``seqcourse-grade --workers N``. Prints notebooks per minute, the ratio, and the
engine's split of a worker's time per notebook: the fixed overhead (waiting for a ready kernel: sandbox,
kernel start and agent install, done by each worker in the background while the previous notebook is graded)
against the time of the student's cells and of the test cells (the checker, proxies included); and how long
that background start-up takes.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import nbformat

from seqcourse.grading import course as course_mod
from seqcourse.grading.mutants import answer_cells, apply_edits, fill_release
from seqcourse.grading.pipeline import GradeConfig, grade

ROOT = Path(__file__).resolve().parents[1]
PLAIN_NBGRADER = """
# the repository's configuration with nbgrader's own Execute (single process) for the comparison
from nbgrader.preprocessors import Execute  # noqa: E402

c.Autograde.autograde_preprocessors = [
    Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties,
    CheckCellMetadata,
]
c.Execute.timeout = 120
"""


def submissions(assignment: str, n: int, dest: Path) -> list[Path]:
    """``n`` notebooks: the solution, then each mutant, cycled."""
    name = f"{assignment}.ipynb"
    source = ROOT / "solutions" / assignment / name
    release = nbformat.read(ROOT / "assignments" / assignment / name, as_version=4)
    answers = answer_cells(nbformat.read(source, as_version=4))
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "tests" / "mutants" / f"{assignment}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    variants = [answers] + [apply_edits(answers, m) for m in module.MUTANTS]
    return [fill_release(release, variants[k % len(variants)], dest / f"s{k:03d}" / name) for k in range(n)]


def bench_nbgrader(assignment: str, notebooks: list[Path], tmp: Path) -> float:
    config = tmp / "plain_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text() + PLAIN_NBGRADER)
    course = course_mod.make_course(tmp / "nbgrader", assignment, ROOT / "solutions", config=config)
    for path in notebooks:
        course_mod.submit(course, path.parent.name, assignment, path)
    start = time.perf_counter()
    course_mod.autograde(course, assignment, timeout=7200)
    return time.perf_counter() - start


def bench_engine(assignment: str, subs: Path, workers: int, tmp: Path) -> tuple[float, dict[str, float]]:
    cfg = GradeConfig(assignment, subs, tmp / "out", source_root=ROOT / "solutions", workers=workers)
    cfg.progress = False
    start = time.perf_counter()
    results = grade(cfg)
    seconds = time.perf_counter() - start
    split: dict[str, float] = {}
    for r in results:
        for key, value in r.timing.items():
            split[key] = split.get(key, 0.0) + value
    return seconds, split


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--assignment", default="a02_bptt")
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="seqcourse-bench-") as tmp_name:
        tmp = Path(tmp_name)
        notebooks = submissions(args.assignment, args.n, tmp / "subs")
        t_plain = bench_nbgrader(args.assignment, notebooks, tmp)
        t_ours, split = bench_engine(args.assignment, tmp / "subs", args.workers, tmp)
    rate_plain, rate_ours = 60 * args.n / t_plain, 60 * args.n / t_ours
    print(f"{args.n} notebooks of {args.assignment}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'grader':<40}{'seconds':>10}{'notebooks/min':>16}")
    print(f"{'nbgrader autograde (Execute, sequential)':<40}{t_plain:>10.1f}{rate_plain:>16.1f}")
    print(f"{f'two-process engine, --workers {args.workers}':<40}{t_ours:>10.1f}{rate_ours:>16.1f}")
    print(f"ratio engine / nbgrader: {rate_ours / rate_plain:.2f}x")
    total = sum(v for k, v in split.items() if k != "kernel_start") or 1.0
    print("engine time per notebook (summed over workers):")
    for key, label in (
        ("startup", "fixed: waiting for a ready kernel"),
        ("student", "student cells"),
        ("checker", "test cells (checker + proxies)"),
    ):
        value = split.get(key, 0.0)
        print(f"  {label:<34}{value / args.n:>8.2f} s  {100 * value / total:>5.1f} %")
    started = split.get("kernel_start", 0.0) / args.n
    print(f"  kernel start-up, in the background during the previous notebook: {started:.2f} s")


if __name__ == "__main__":
    main()
