"""``seqcourse-grade``: grade untrusted submissions securely, in parallel, resumably, with reports.

    seqcourse-grade ASSIGNMENT SUBMISSIONS --out DIR [--workers N] [--db-url URL] [--force]
    seqcourse-grade similarity | export | late | quality | verify | shard ...   (instructor tools, see each
    module's help)

Writes ``DIR/grades.csv`` (with the digests of each grade's submission, source and environment; the
environment itself in ``DIR/grades.environment.json``), ``DIR/feedback/<student>/<notebook>.html`` (hidden
tests removed), ``DIR/summary.html``, the instructor's ``DIR/autograded/`` notebooks and the private course
with its gradebook in ``DIR/course/``. Exits 0 when every student was graded (or flagged), 1 when any ended
in error, 2 on a usage or setup problem.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqcourse.grading import course as course_mod
from seqcourse.grading.pipeline import GradeConfig, StudentResult, _source_digest, course_location, grade
from seqcourse.grading.provenance import environment, environment_sha256, write_environment
from seqcourse.grading.report import write_grades_csv, write_summary
from seqcourse.grading.sandbox import Limits

__all__ = ["main", "build_parser", "write_reports", "resolve_secret"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqcourse-grade", description=__doc__.split("\n\n")[0])
    p.add_argument("assignment", help="assignment id, e.g. a00_warmup")
    p.add_argument("submissions", type=Path, help="folder or .zip of submissions")
    p.add_argument("--out", type=Path, required=True, help="output folder (kept private: mode 0700)")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="parallel kernels (default: cores)"
    )
    p.add_argument(
        "--db-url",
        help="gradebook URL, e.g. postgresql://user@host/db (default: SQLite in --out); env:NAME or "
        "file:PATH read it from an environment variable or a file (a password never shows in ps)",
    )
    p.add_argument("--force", action="store_true", help="grade again students already finished")
    p.add_argument("--source", type=Path, default=Path(course_mod.SOURCE_DIR), help="source root (solutions)")
    p.add_argument(
        "--pattern", help="regex mapping flat LMS file names to students, e.g. '(?P<student>[^_]+)_'"
    )
    p.add_argument("--timeout-cell", type=int, default=Limits.cell_timeout_s, help="seconds per cell")
    p.add_argument(
        "--timeout-notebook", type=int, default=Limits.notebook_timeout_s, help="seconds per notebook"
    )
    p.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="address-space limit per kernel")
    p.add_argument("--nproc", type=int, default=Limits.nproc, help="process + thread limit per kernel")
    p.add_argument("--max-notebook-mb", type=float, default=20.0, help="larger submitted files are refused")
    p.add_argument("--hide", action="append", default=[], help="extra path to hide from student code")
    p.add_argument("--no-progress", action="store_true")
    return p


def write_reports(cfg: GradeConfig, results: Sequence[StudentResult]) -> list[dict[str, Any]]:
    """grades.csv and summary.html from the gradebook and the per-student results; return the rows."""
    course, db_url = course_location(cfg)
    scores = course_mod.scores(course, cfg.assignment_id, db_url=db_url)
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id=course_mod.course_id(course)) as gb:
        assignment = gb.find_assignment(cfg.assignment_id)
        max_total = float(assignment.max_score)
        part_max: dict[str, float] = {}
        for nb in assignment.notebooks:
            for cell in nb.grade_cells:
                part = cell.name.split("_", 1)[0]
                part_max[part] = part_max.get(part, 0.0) + float(cell.max_score)
    env = environment()
    provenance = {
        "source_sha256": _source_digest(cfg.source_root / cfg.assignment_id),
        "environment_sha256": environment_sha256(env),
    }
    rows, failed = [], Counter()
    for r in results:
        rec = scores.get(r.student_id) if r.status != "error" else None
        reason = "; ".join(r.reasons + r.notes)
        rows.append(
            {
                "student_id": r.student_id,
                "status": r.status,
                "reason": reason,
                "score": rec["score"] if rec else 0.0,
                "max_score": rec["max_score"] if rec else max_total,
                "parts": {p: v["score"] for p, v in rec["parts"].items()} if rec else {},
                "submission_sha256": r.digest,
                **provenance,
            }
        )
        if rec:
            failed.update(
                k for k, c in rec["cells"].items() if c["autograded"] and c["score"] < c["max_score"]
            )
    write_grades_csv(rows, sorted(part_max), cfg.out / "grades.csv")
    write_environment(cfg.out / "grades.csv", env)
    sandbox = next((r.sandbox for r in results if r.sandbox), {})
    notes = [f"sandbox: {k}: {v}" for k, v in sandbox.items() if k != "pid"]
    write_summary(
        rows,
        dict(sorted(part_max.items())),
        failed,
        cfg.out / "summary.html",
        title=f"{cfg.assignment_id} 评分汇总",
        notes=notes,
    )
    return rows


def resolve_secret(value: str | None) -> str | None:
    """``env:NAME`` -> ``$NAME``, ``file:PATH`` -> the file's first line; anything else as given."""
    if value is None:
        return None
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"--db-url {value}: the environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        return Path(value[5:]).read_text(encoding="utf-8").splitlines()[0].strip()
    return value


#: Instructor tools on a finished run's files: ``seqcourse-grade TOOL ...`` (assignment ids are aNN_*).
TOOLS = {
    "similarity": "seqcourse.grading.similarity",
    "export": "seqcourse.grading.lms",
    "late": "seqcourse.grading.late",
    "quality": "seqcourse.grading.quality",
    "verify": "seqcourse.grading.verify",
    "shard": "seqcourse.grading.shard",  # grading across machines: enqueue / work / report
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TOOLS:
        return importlib.import_module(TOOLS[argv[0]]).main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        args.db_url = resolve_secret(args.db_url)
        limits = Limits(
            cell_timeout_s=args.timeout_cell,
            notebook_timeout_s=args.timeout_notebook,
            memory_mb=args.memory_mb,
            nproc=args.nproc,
            hide=tuple(args.hide),
        )
        cfg = GradeConfig(
            args.assignment,
            args.submissions,
            args.out,
            source_root=args.source,
            workers=args.workers,
            db_url=args.db_url,
            force=args.force,
            pattern=args.pattern,
            limits=limits,
            max_notebook_mb=args.max_notebook_mb,
            progress=not args.no_progress,
        )
        results = grade(cfg)
        rows = write_reports(cfg, results)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"seqcourse-grade: {err}", file=sys.stderr)
        return 2
    counts = Counter(r["status"] for r in rows)
    print(
        f"{len(rows)} students: {counts.get('graded', 0)} graded, {counts.get('flagged', 0)} flagged, "
        f"{counts.get('error', 0)} in error -> {cfg.out / 'grades.csv'}"
    )
    if counts.get("error"):
        print(f"{counts['error']} students ended in error (see the reason column)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
