"""Late policy: a declarative per-course file applied to nbgrader's submission timestamps.

    seqcourse-grade late POLICY.toml --grades DIR/grades.csv --submissions SUBMISSIONS

The policy (TOML)::

    deadline = 2026-10-08T23:59:00+08:00   # with its time zone
    grace_minutes = 15                     # submissions within this window after the deadline are on time
    penalty_per_day = 0.10                 # fraction of the earned score per started day late
    max_penalty = 0.50                     # the penalty never exceeds this fraction
    tokens_per_student = 2                 # each late token forgives one day; used automatically

    [extensions]                           # per-student deadlines that replace the course's
    alice = 2026-10-10T23:59:00+08:00

    [tokens_spent]                         # tokens used on earlier assignments
    bob = 1

A submission is late when its timestamp (``timestamp.txt``, written by ``nbgrader submit``) is after the
student's deadline plus the grace period; it is then late by the number of started days counted from the
deadline. Tokens cover whole days first; the remaining days cost ``penalty_per_day`` each, capped at
``max_penalty``. Every row of ``grades.csv`` gets ``raw_score``, ``late_penalty``, ``final_score`` and
``late_rule`` (what was applied, in words), and ``score`` becomes the final score. Running it again starts
from ``raw_score``, so it can be rerun after the policy changes.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Policy", "Adjustment", "load_policy", "adjust", "submission_time", "apply_to_grades", "main"]

LATE_COLUMNS = ["raw_score", "late_penalty", "final_score", "late_rule"]
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    deadline: datetime
    grace: timedelta = timedelta(0)
    penalty_per_day: float = 0.0
    max_penalty: float = 1.0
    tokens_per_student: int = 0
    extensions: dict[str, datetime] = field(default_factory=dict)
    tokens_spent: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Adjustment:
    raw: float
    penalty: float
    rule: str

    @property
    def final(self) -> float:
        return self.raw - self.penalty


def _aware(value: object, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(
            f"{what}: expected a TOML date-time with a time zone, e.g. 2026-10-08T23:59:00+08:00"
        )
    return value


def load_policy(path: Path) -> Policy:
    """Read and check a policy file; every mistake is a ValueError that names the key."""
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    known = {"deadline", "grace_minutes", "penalty_per_day", "max_penalty", "tokens_per_student"}
    unknown = sorted(set(raw) - known - {"extensions", "tokens_spent"})
    if unknown:
        raise ValueError(
            f"{path}: unknown keys {unknown} (expected {sorted(known)}, [extensions], [tokens_spent])"
        )
    if "deadline" not in raw:
        raise ValueError(f"{path}: 'deadline' is required")
    fractions = {k: float(raw.get(k, d)) for k, d in (("penalty_per_day", 0.0), ("max_penalty", 1.0))}
    for key, value in fractions.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{path}: {key} must be a fraction in [0, 1], got {value}")
    counts = {k: raw.get(k, 0) for k in ("grace_minutes", "tokens_per_student")}
    counts.update({f"tokens_spent.{s}": n for s, n in raw.get("tokens_spent", {}).items()})
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{path}: {key} must be a whole number >= 0, got {value!r}")
    return Policy(
        deadline=_aware(raw["deadline"], "deadline"),
        grace=timedelta(minutes=raw.get("grace_minutes", 0)),
        tokens_per_student=raw.get("tokens_per_student", 0),
        extensions={s: _aware(d, f"extensions.{s}") for s, d in raw.get("extensions", {}).items()},
        tokens_spent=dict(raw.get("tokens_spent", {})),
        **fractions,
    )


def adjust(policy: Policy, student: str, submitted: datetime, raw: float) -> Adjustment:
    """The penalty for one submission at ``submitted`` (aware) that earned ``raw`` points."""
    due = policy.extensions.get(student, policy.deadline)
    where = f"deadline {due.isoformat()}" + (" (extension)" if student in policy.extensions else "")
    if submitted <= due:
        return Adjustment(raw, 0.0, f"on time ({where})")
    if submitted <= due + policy.grace:
        return Adjustment(raw, 0.0, f"within the {policy.grace} grace period ({where})")
    days = math.ceil((submitted - due) / DAY)
    available = max(policy.tokens_per_student - policy.tokens_spent.get(student, 0), 0)
    tokens = min(available, days)
    charged = days - tokens
    fraction = min(policy.penalty_per_day * charged, policy.max_penalty)
    rule = f"{days} day(s) late ({where}); {tokens} token(s) used; "
    rule += f"{charged} day(s) x {policy.penalty_per_day:.0%}"
    if policy.penalty_per_day * charged > policy.max_penalty:
        rule += f", capped at {policy.max_penalty:.0%}"
    return Adjustment(raw, raw * fraction, rule + f" = {fraction:.0%} of the score")


def submission_time(folder: Path) -> datetime | None:
    """The submission's time from nbgrader's ``timestamp.txt`` anywhere in the student's folder, if any."""
    from nbgrader.utils import parse_utc

    stamps = sorted(p for p in folder.rglob("timestamp.txt") if not p.is_symlink())
    if not stamps:
        return None
    return parse_utc(stamps[0].read_text(encoding="utf-8").strip()).replace(tzinfo=timezone.utc)


def apply_to_grades(policy: Policy, grades: Path, submissions: Path) -> list[dict[str, str]]:
    """Rewrite ``grades`` (atomically) with the late columns; return the new rows."""
    with grades.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [c for c in reader.fieldnames or [] if c not in LATE_COLUMNS]
        rows = list(reader)
    for row in rows:
        raw = row.get("raw_score") or row["score"]
        student = row["student_id"]
        when = submission_time(submissions / student) if (submissions / student).is_dir() else None
        if row["status"] == "error" or raw == "":
            row.update(raw_score=raw, late_penalty="0", final_score=raw, late_rule="not graded: not adjusted")
        elif when is None:
            row.update(
                raw_score=raw, late_penalty="0", final_score=raw, late_rule="no timestamp.txt: not adjusted"
            )
        else:
            a = adjust(policy, student, when, float(raw))
            row.update(
                raw_score=raw, late_penalty=f"{a.penalty:g}", final_score=f"{a.final:g}", late_rule=a.rule
            )
        row["score"] = row["final_score"]
    tmp = grades.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header + LATE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(grades)
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqcourse-grade late", description=__doc__.split("\n\n")[0])
    p.add_argument("policy", type=Path, help="the course's late policy (TOML)")
    p.add_argument("--grades", type=Path, required=True, help="grades.csv to adjust in place")
    p.add_argument("--submissions", type=Path, required=True, help="the submissions folder that was graded")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = apply_to_grades(load_policy(args.policy), args.grades, args.submissions)
    late = sum(r["late_penalty"] not in ("0", "") for r in rows)
    print(f"{len(rows)} rows, {late} with a late penalty -> {args.grades}")
    return 0
