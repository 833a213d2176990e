"""Throughput of plain sequential `nbgrader autograde` vs `seqcourse-grade --workers N` on a00_warmup.

    .venv/bin/python benchmarks/grading.py [--n 40] [--workers 2]

The same N copies of the a00 solution are graded by both, alternately in one run (nbgrader first), each in
its own fresh temporary course; prints notebooks/minute and the ratio. seqcourse-grade does more work per
notebook (sandbox, probes, feedback HTML), so the ratio measures parallelism net of that overhead.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seqcourse.grading import course as course_mod

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "a00_warmup" / "a00_warmup.ipynb"
RELEASE = ROOT / "assignments" / "a00_warmup" / "a00_warmup.ipynb"


def _solution_notebook(tmp: Path) -> Path:
    spec = importlib.util.spec_from_file_location("cases", ROOT / "tests/fixtures/grading/cases.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    cases.build(tmp / "cases", RELEASE, SOURCE, {"read": [], "write": []})
    return tmp / "cases" / "h_solution" / "a00_warmup" / "a00_warmup.ipynb"


def bench_nbgrader(nb: Path, n: int, tmp: Path) -> float:
    course = course_mod.make_course(tmp / "nbgrader", "a00_warmup", ROOT / "solutions")
    for k in range(n):
        course_mod.submit(course, f"s{k:03d}", "a00_warmup", nb)
    start = time.perf_counter()
    course_mod.autograde(course, "a00_warmup", timeout=3600)
    return time.perf_counter() - start


def bench_seqcourse(nb: Path, n: int, workers: int, tmp: Path) -> float:
    subs = tmp / "subs"
    for k in range(n):
        (subs / f"s{k:03d}").mkdir(parents=True)
        shutil.copyfile(nb, subs / f"s{k:03d}" / "a00_warmup.ipynb")
    out = tmp / "seqcourse-out"
    # the course (gradebook) is prepared first and not timed, as for nbgrader above
    cmd = [
        sys.executable,
        "-m",
        "seqcourse.grading.cli",
        "a00_warmup",
        str(subs),
        "--out",
        str(out),
        "--source",
        str(ROOT / "solutions"),
        "--workers",
        str(workers),
        "--no-progress",
    ]
    subprocess.run([*cmd[:4], str(tmp / "empty"), *cmd[5:]], capture_output=True, cwd=ROOT)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"seqcourse-grade failed:\n{proc.stderr[-3000:]}")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="seqcourse-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "empty").mkdir()
        nb = _solution_notebook(tmp)
        t_plain = bench_nbgrader(nb, args.n, tmp)
        t_ours = bench_seqcourse(nb, args.n, args.workers, tmp)
    rate_plain, rate_ours = 60 * args.n / t_plain, 60 * args.n / t_ours
    print(f"{args.n} notebooks of a00_warmup, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'grader':<32}{'seconds':>10}{'notebooks/min':>16}")
    print(f"{'nbgrader autograde (sequential)':<32}{t_plain:>10.1f}{rate_plain:>16.1f}")
    print(f"{f'seqcourse-grade --workers {args.workers}':<32}{t_ours:>10.1f}{rate_ours:>16.1f}")
    print(f"ratio seqcourse-grade / nbgrader: {rate_ours / rate_plain:.2f}x")


if __name__ == "__main__":
    main()
