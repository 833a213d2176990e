"""Grading sharded across machines: a work queue in PostgreSQL beside nbgrader's gradebook.

    seqcourse-grade shard enqueue ASSIGNMENT SUBMISSIONS --out DIR --db-url env:NAME [--force]
    seqcourse-grade shard work    ASSIGNMENT --out DIR --db-url env:NAME [--lease S] [--worker NAME]
    seqcourse-grade shard report  ASSIGNMENT --out DIR --db-url env:NAME

``enqueue`` reads a submissions folder (as the single-machine run does) and stores one row per student in
the table ``seqcourse_grading_queue`` (``assignment, student, state, lease_until, worker, attempts, result``
plus the submission's bytes and digest), in the same database as the gradebook. Any number of ``work``
processes, on any machines, then loop:

1. claim one row, ``pending`` or ``claimed`` with an expired lease, with ``SELECT ... FOR UPDATE SKIP LOCKED``
   (two workers never claim the same row), set ``lease_until = now() + lease`` and ``attempts + 1``;
2. grade it with the single-machine pipeline's own steps (nbgrader sanitizing, static rules, the sandboxed
   two-process engine, ``SaveAutoGrades`` into the shared gradebook) while a heartbeat extends the lease;
3. write ``result`` and ``state = 'done'`` in one transaction, only if the row is still this worker's claim
   (same worker and attempt); a worker whose lease was taken over loses its write.

A worker that dies keeps its row ``claimed`` until the lease runs out; then another worker grades it again.
Grades in the gradebook are written per student with nbgrader's update-or-create, so grading a student twice
leaves one submission with the second run's (identical) scores. A row whose workers died ``max_attempts``
times is closed as an error instead of killing more workers. Workers stop when no row is pending or
claimed. ``report`` writes ``grades.csv`` and ``summary.html`` exactly as the single-machine run does.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from seqcourse.grading.cli import resolve_secret, write_reports
from seqcourse.grading.ingest import Submission, collect
from seqcourse.grading.pipeline import (
    GradeConfig,
    StudentResult,
    _Grader,
    _progress,
    _run_jobs,
    prepare_course,
)

__all__ = ["TABLE", "enqueue", "work", "results", "report", "main"]

TABLE = "seqcourse_grading_queue"
STATES = ("pending", "claimed", "done")

_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id          bigserial PRIMARY KEY,
    assignment  text NOT NULL,
    student     text NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN {STATES!r}),
    lease_until timestamptz,
    worker      text,
    attempts    integer NOT NULL DEFAULT 0,
    result      jsonb,
    digest      text NOT NULL,
    submission  jsonb NOT NULL,
    updated     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (assignment, student)
)"""

# the oldest pending row, or a claimed one whose worker stopped renewing its lease
_CLAIM = f"""
UPDATE {TABLE} q SET state = 'claimed', worker = :worker, attempts = q.attempts + 1,
       lease_until = now() + make_interval(secs => :lease), updated = now()
WHERE q.id = (
    SELECT id FROM {TABLE}
    WHERE assignment = :assignment
      AND (state = 'pending' OR (state = 'claimed' AND lease_until < now()))
    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING q.id, q.student, q.attempts, q.submission"""

_MINE = "id = :id AND worker = :worker AND attempts = :attempts AND state = 'claimed'"


def _engine(db_url: str) -> Any:
    from sqlalchemy import create_engine

    if not db_url.startswith("postgresql"):
        raise ValueError(f"sharded grading needs a PostgreSQL --db-url, got {db_url.split(':', 1)[0]}:...")
    return create_engine(db_url, pool_pre_ping=True)


def _config(assignment: str, out: Path, db_url: str | None, **kw: Any) -> GradeConfig:
    db_url = resolve_secret(db_url)
    if not db_url:
        raise ValueError("sharded grading needs --db-url (the shared PostgreSQL gradebook)")
    cfg = GradeConfig(assignment, kw.pop("submissions", Path(out) / "inbox"), out, db_url=db_url, **kw)
    cfg.out.mkdir(parents=True, exist_ok=True)
    os.chmod(cfg.out, 0o700)
    return cfg


def _course(cfg: GradeConfig, engine: Any) -> _Grader:
    """This machine's private nbgrader course, prepared under a database lock (one writer at a time)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        key = f"seqcourse-grade:{cfg.assignment_id}"
        conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": key})
        try:
            course, db_url = prepare_course(cfg)
            grader = _Grader(cfg, course, db_url)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
            conn.commit()
    return grader


def _pack(sub: Submission) -> str:
    data = asdict(sub)
    data["notebooks"] = {k: base64.b64encode(v).decode() for k, v in sub.notebooks.items()}
    return json.dumps(data)


def _unpack(data: dict[str, Any]) -> Submission:
    data = dict(data)
    data["notebooks"] = {k: base64.b64decode(v) for k, v in data["notebooks"].items()}
    return Submission(**data)


def enqueue(cfg: GradeConfig) -> dict[str, int]:
    """Queue every submission of ``cfg.submissions``; return counts ``{queued, kept}``.

    A student already queued keeps their row (and result) unless the submission changed, the row ended in
    error, or ``cfg.force`` is set: then it is pending again.
    """
    from sqlalchemy import text

    engine = _engine(cfg.db_url)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": TABLE})
        conn.execute(text(_DDL))
    grader = _course(cfg, engine)
    subs, warnings = collect(
        cfg.submissions, cfg.assignment_id, grader.notebooks, cfg.pattern, cfg.max_notebook_mb
    )
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    upsert = text(
        f"""INSERT INTO {TABLE} (assignment, student, digest, submission)
        VALUES (:assignment, :student, :digest, CAST(:submission AS jsonb))
        ON CONFLICT (assignment, student) DO UPDATE
        SET digest = excluded.digest, submission = excluded.submission, state = 'pending',
            result = NULL, worker = NULL, lease_until = NULL, attempts = 0, updated = now()
        WHERE :force OR {TABLE}.digest <> excluded.digest OR {TABLE}.result->>'status' = 'error'
        RETURNING id"""
    )
    queued = 0
    with engine.begin() as conn:
        for sub in subs:
            row = conn.execute(
                upsert,
                {
                    "assignment": cfg.assignment_id,
                    "student": sub.student_id,
                    "digest": sub.digest(),
                    "submission": _pack(sub),
                    "force": cfg.force,
                },
            ).first()
            queued += row is not None
    engine.dispose()
    return {"queued": queued, "kept": len(subs) - queued}


def _grade_one(cfg: GradeConfig, grader: _Grader, sub: Submission) -> StudentResult:
    """One student through the single-machine pipeline's steps (prepare, sandboxed engine, finish)."""
    try:
        notebooks, result = grader.prepare(sub)
    except Exception as err:  # one odd submission must not stop the worker
        notebooks = {}
        result = StudentResult(sub.student_id, sub.digest(), "error", [f"could not be prepared: {err!r}"])
    if not notebooks:
        return grader.finish(result, {})
    done: dict[str, StudentResult] = {}
    _run_jobs(cfg, grader, [(result, notebooks)], done, _progress(1, False), None)
    return done[sub.student_id]


class _Heartbeat(threading.Thread):
    """Extend this worker's lease every ``lease / 3`` seconds until stopped."""

    def __init__(self, engine: Any, claim: dict[str, Any], lease: float) -> None:
        super().__init__(daemon=True)
        self.engine, self.claim, self.lease = engine, claim, lease
        self.halt = threading.Event()

    def run(self) -> None:
        from sqlalchemy import text

        renew = text(f"UPDATE {TABLE} SET lease_until = now() + make_interval(secs => :lease) WHERE {_MINE}")
        while not self.halt.wait(self.lease / 3):
            with self.engine.begin() as conn:
                conn.execute(renew, {**self.claim, "lease": self.lease})


def work(
    cfg: GradeConfig,
    worker: str | None = None,
    lease_s: float = 600.0,
    poll_s: float = 5.0,
    max_attempts: int = 3,
) -> int:
    """Claim, grade and close rows of ``cfg.assignment_id`` until none is open; return how many."""
    from sqlalchemy import text

    if lease_s <= 0 or poll_s <= 0 or max_attempts < 1:
        raise ValueError(
            f"lease and poll must be > 0 s and max_attempts >= 1, got {lease_s}, {poll_s}, {max_attempts}"
        )
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    engine = _engine(cfg.db_url)
    cfg.workers = 1  # one sandboxed kernel at a time; _run_jobs claims a slot user nobody else holds
    (cfg.out / "inbox").mkdir(exist_ok=True)
    graded = 0
    try:
        grader = _course(cfg, engine)
        while True:
            with engine.begin() as conn:
                row = conn.execute(
                    text(_CLAIM), {"worker": worker, "lease": lease_s, "assignment": cfg.assignment_id}
                ).first()
                left = conn.execute(
                    text(f"SELECT count(*) FROM {TABLE} WHERE assignment = :a AND state <> 'done'"),
                    {"a": cfg.assignment_id},
                ).scalar_one()
            if row is None:
                if not left:
                    return graded
                time.sleep(poll_s)  # others hold claims: wait in case one of them dies
                continue
            claim = {"id": row.id, "worker": worker, "attempts": row.attempts}
            sub = _unpack(row.submission)
            if row.attempts > max_attempts:
                result = StudentResult(
                    sub.student_id,
                    sub.digest(),
                    "error",
                    [f"gave up after {max_attempts} attempts: the grading worker died each time"],
                )
                grader.save(result)
            else:
                beat = _Heartbeat(engine, claim, lease_s)
                beat.start()
                try:
                    result = _grade_one(cfg, grader, sub)
                finally:
                    beat.halt.set()
                    beat.join()
            with engine.begin() as conn:  # result and state together, only while the claim is ours
                closed = conn.execute(
                    text(
                        f"UPDATE {TABLE} SET state = 'done', result = CAST(:result AS jsonb), "
                        f"lease_until = NULL, updated = now() WHERE {_MINE}"
                    ),
                    {**claim, "result": json.dumps(asdict(result), ensure_ascii=False)},
                ).rowcount
            if closed:
                graded += 1
            else:
                print(
                    f"{worker}: lost the lease on {sub.student_id}; another worker regrades it",
                    file=sys.stderr,
                )
    finally:
        engine.dispose()


def results(cfg: GradeConfig) -> list[StudentResult]:
    """Finished results of ``cfg.assignment_id`` in queue order; ValueError while a row is open."""
    from sqlalchemy import text

    engine = _engine(cfg.db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT student, state, result FROM {TABLE} WHERE assignment = :a ORDER BY id"),
            {"a": cfg.assignment_id},
        ).all()
    engine.dispose()
    if not rows:
        raise ValueError(
            f"nothing queued for {cfg.assignment_id} (run `seqcourse-grade shard enqueue` first)"
        )
    open_rows = [r.student for r in rows if r.state != "done"]
    if open_rows:
        raise ValueError(f"{len(open_rows)} submissions are not graded yet, e.g. {open_rows[:3]}")
    return [StudentResult(**r.result) for r in rows]


def report(cfg: GradeConfig) -> list[dict[str, Any]]:
    """``grades.csv`` and ``summary.html`` in ``cfg.out``, as the single-machine run writes them."""
    found = results(cfg)
    engine = _engine(cfg.db_url)
    _course(cfg, engine)  # the gradebook's course id and part maxima are read through this machine's course
    engine.dispose()
    return write_reports(cfg, found)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqcourse-grade shard", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    steps = {
        "enqueue": "queue a submissions folder",
        "work": "claim and grade until the queue is empty",
        "report": "write grades.csv and summary.html from the queue",
    }
    for step, text in steps.items():
        q = sub.add_parser(step, help=text)
        q.add_argument("assignment", help="assignment id, e.g. a00_warmup")
        if step == "enqueue":
            q.add_argument("submissions", type=Path, help="folder or .zip of submissions")
            q.add_argument("--force", action="store_true", help="queue finished students again")
            q.add_argument("--pattern", help="regex mapping flat LMS file names to students")
        q.add_argument("--out", type=Path, required=True, help="this machine's private folder (mode 0700)")
        q.add_argument(
            "--db-url",
            required=True,
            help="PostgreSQL URL of the gradebook (env:NAME / file:PATH: no password in ps)",
        )
        q.add_argument("--source", type=Path, default=GradeConfig.source_root, help="source root (solutions)")
        if step == "work":
            q.add_argument("--worker", help="name in the queue (default host:pid)")
            q.add_argument(
                "--lease", type=float, default=600.0, help="seconds a claim lasts without a heartbeat"
            )
            q.add_argument("--poll", type=float, default=5.0, help="seconds between looks at a busy queue")
            q.add_argument(
                "--max-attempts", type=int, default=3, help="claims of one row before it is an error"
            )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        extra = (
            {"force": args.force, "pattern": args.pattern, "submissions": args.submissions}
            if args.step == "enqueue"
            else {}
        )
        cfg = _config(
            args.assignment, args.out, args.db_url, source_root=args.source, progress=False, **extra
        )
        if args.step == "enqueue":
            counts = enqueue(cfg)
            print(f"{counts['queued']} submissions queued, {counts['kept']} unchanged and kept")
        elif args.step == "work":
            n = work(cfg, args.worker, args.lease, args.poll, args.max_attempts)
            print(f"graded {n} submissions")
        else:
            rows = report(cfg)
            errors = sum(r["status"] == "error" for r in rows)
            print(f"{len(rows)} students ({errors} in error) -> {cfg.out / 'grades.csv'}")
            return 1 if errors else 0
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"seqcourse-grade shard: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
