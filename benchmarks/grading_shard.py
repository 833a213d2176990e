"""Throughput of sharded grading (``seqcourse-grade shard``) against the number of worker processes.

    .venv/bin/python benchmarks/grading_shard.py [--n 24] [--workers 1 2 4]

Starts a private PostgreSQL server (as the tests do), queues the same N a00 submissions (the test's mix of
full, partial and untouched ones, every k-th of its 42) once per worker count in a fresh database, runs that
many ``seqcourse-grade shard work`` processes until the queue is empty, and prints notebooks per minute (wall
clock), the ratio to one worker, and the CPU seconds per notebook (every process of the run, kernels
included). From the CPU cost it projects the throughput of a cluster of 1-CPU worker pods.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pg_server import postgres_server  # noqa: E402
from test_grading_shard import ASSIGNMENT, _submissions  # noqa: E402

from seqcourse.grading.pipeline import _postgres_driver  # noqa: E402
from seqcourse.grading.shard import _config, enqueue  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(url: str, assignment: str, subs: Path, workers: int, tmp: Path) -> tuple[float, float]:
    """Queue ``subs`` in a fresh database and grade it with ``workers`` processes: ``(wall s, cpu s)``."""
    from sqlalchemy import create_engine, text

    db = f"bench_{workers}"
    admin = create_engine(_postgres_driver(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {db}"))
    admin.dispose()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BENCH_DB_URL": url.rsplit("/", 1)[0] + f"/{db}"}
    os.environ["BENCH_DB_URL"] = env["BENCH_DB_URL"]
    enqueue(
        _config(assignment, tmp / f"coord{workers}", "env:BENCH_DB_URL", submissions=subs, progress=False)
    )
    cpu0, start = _children_cpu(), time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "seqcourse.grading.cli",
        "shard",
        "work",
        assignment,
        "--db-url",
        "env:BENCH_DB_URL",
    ]
    procs = [
        subprocess.Popen([*cmd, "--out", str(tmp / f"w{workers}_{k}"), "--poll", "1"], env=env, cwd=ROOT)
        for k in range(workers)
    ]
    if any(p.wait() for p in procs):
        raise RuntimeError("a worker failed")
    return time.perf_counter() - start, _children_cpu() - cpu0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=24, help="submissions, at most 42")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--cluster", type=int, nargs="+", default=[10, 50, 200], help="worker pods to project")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="seqcourse-shard-bench-"))
    students = sorted(_submissions(tmp / "subs"))
    keep = set(students[:: max(1, len(students) // args.n)][: args.n])
    for student in set(students) - keep:
        shutil.rmtree(tmp / "subs" / student)
    args.n = len(keep)
    rows = []
    with postgres_server() as url:
        for k in args.workers:
            wall, cpu = run(url, ASSIGNMENT, tmp / "subs", k, tmp)
            rows.append((k, wall, cpu))
            print(f"{k} workers: {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr)
    base = args.n / rows[0][1] * 60
    print(f"\n{ASSIGNMENT}, {args.n} notebooks, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'workers':>7} {'wall s':>8} {'nb/min':>8} {'ratio':>6} {'CPU s':>8} {'CPU s/nb':>9}")
    for k, wall, cpu in rows:
        rate = args.n / wall * 60
        print(f"{k:>7} {wall:>8.1f} {rate:>8.1f} {rate / base:>6.2f} {cpu:>8.1f} {cpu / args.n:>9.2f}")
    cpu_per_nb = min(cpu for _, _, cpu in rows) / args.n
    print(
        f"\nprojection: pods of 1 CPU each (requests = limits = 1 CPU in deploy/k8s/grading-job.yaml), "
        f"grading CPU-bound at the measured {cpu_per_nb:.2f} CPU s per notebook, the database far from "
        "saturated (a few short statements per notebook), no start-up time counted:"
    )
    for pods in args.cluster:
        print(f"  {pods:>4} pods: {pods * 60 / cpu_per_nb:8.0f} notebooks/min")


if __name__ == "__main__":
    main()
