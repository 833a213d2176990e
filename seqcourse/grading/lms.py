"""Grades out to the LMS: Canvas and Moodle gradebook CSV files from ``grades.csv`` and a roster.

    seqcourse-grade export {canvas,moodle} --roster roster.csv --grades a00_warmup=DIR/grades.csv [...]
        --out F [--column a00_warmup="Warm-up (12345)"] [--parts [--source solutions]]

**Roster** (``roster.csv``, UTF-8): one row per enrolled student with the columns ``lms_id`` (Canvas user id,
or Moodle ID number) and ``hub_username`` (the id in ``grades.csv``), and optionally ``name``, ``email``,
``section``, ``sis_user_id``, ``sis_login_id``.

**Canvas** (Grades > Import): the columns ``Student, ID, SIS User ID, SIS Login ID, Section`` identify the
student, then one column per assignment named ``<name> (<canvas assignment id>)`` — pass the Canvas name with
``--column`` (without it the column is ``<assignment id>`` and Canvas creates a new assignment on import). The
second row is ``Points Possible`` with each column's maximum.

**Moodle** (Grades > Import > CSV file): ``First name, Last name, ID number, Email address`` identify the
student (map "ID number" or "Email address" to the user field on import), then one column per grade item.

``--parts`` writes one column per graded part (``<assignment>: <part>``, its maximum from the source
notebooks' points) instead of one per assignment. A rostered student with no row, or a row of ``status``
``error``, gets an empty cell; every such case, every student in ``grades.csv`` missing from the roster, and
every ``flagged`` row is listed in
``<out>.problems.csv``: nobody is dropped silently. Exit 0 when there are no problems, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Roster",
    "Column",
    "read_roster",
    "read_grades",
    "part_maxima",
    "build_columns",
    "problems",
    "canvas_rows",
    "moodle_rows",
    "main",
]

CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_IDENTITY = ["First name", "Last name", "ID number", "Email address"]
PROBLEM_COLUMNS = ["student", "lms_id", "assignment", "problem"]


@dataclass(frozen=True)
class Roster:
    """One enrolled student: the LMS side and the hub user name that ``grades.csv`` uses."""

    lms_id: str
    hub_username: str
    name: str = ""
    email: str = ""
    section: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""


@dataclass
class Column:
    """One gradebook column: its header, its maximum and each student's value ("" when there is none)."""

    assignment: str
    header: str
    max_points: float
    values: dict[str, str] = field(default_factory=dict)


def read_roster(path: Path) -> list[Roster]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"lms_id", "hub_username"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"roster {path}: expected the columns lms_id and hub_username, missing {sorted(missing)}"
            )
        fields = set(Roster.__dataclass_fields__)
        roster = [Roster(**{k: (v or "").strip() for k, v in row.items() if k in fields}) for row in reader]
    for key in ("lms_id", "hub_username"):
        seen = [getattr(r, key) for r in roster]
        doubles = sorted({v for v in seen if seen.count(v) > 1})
        if doubles:
            raise ValueError(f"roster {path}: {key} must be unique, repeated: {doubles}")
    return roster


def read_grades(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of a ``grades.csv`` and its per-part columns (after ``reason``, without the late-policy
    and provenance columns)."""
    from seqcourse.grading.late import LATE_COLUMNS
    from seqcourse.grading.provenance import PROVENANCE_COLUMNS

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        base = ["student_id", "score", "max_score", "status", "reason"]
        if header[:5] != base:
            raise ValueError(f"{path}: expected a grades.csv starting with {base}, got {header[:5]}")
        extra = {*LATE_COLUMNS, *PROVENANCE_COLUMNS}
        return list(reader), [c for c in header[5:] if c not in extra]


def part_maxima(source: Path) -> dict[str, float]:
    """Each part's points from the instructor's source notebooks: the cells ``<part>_...`` with points."""
    import nbformat

    maxima: dict[str, float] = {}
    for nb_path in sorted(source.glob("*.ipynb")):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and "points" in meta:
                part = meta["grade_id"].split("_", 1)[
                    0
                ]  # the course's convention: grade ids are <part>_<what>
                maxima[part] = maxima.get(part, 0.0) + float(meta["points"])
    return maxima


def build_columns(
    grades: dict[str, Path], names: dict[str, str], source_root: Path | None
) -> tuple[list[Column], list[dict[str, str]]]:
    """Columns (in the order given) and the rows of every grades file (tagged with their assignment).

    With ``source_root`` (the instructor's ``solutions/``), one column per part with the part's points as
    its maximum; without, one column per assignment.
    """
    columns, all_rows = [], []
    for assignment, path in grades.items():
        rows, parts = read_grades(path)
        all_rows += [{**r, "assignment": assignment} for r in rows]
        usable = {r["student_id"]: r for r in rows if r["status"] != "error"}
        if source_root is not None:
            maxima = part_maxima(source_root / assignment)
            unknown = sorted(set(parts) - set(maxima))
            if unknown:
                raise ValueError(f"{path}: parts {unknown} have no points in {source_root / assignment}")
            for part in parts:
                col = Column(assignment, f"{names.get(assignment, assignment)}: {part}", maxima[part])
                col.values = {s: r[part] for s, r in usable.items()}
                columns.append(col)
        else:
            max_points = max((float(r["max_score"]) for r in rows), default=0.0)
            col = Column(assignment, names.get(assignment, assignment), max_points)
            col.values = {s: r["score"] for s, r in usable.items()}
            columns.append(col)
    return columns, all_rows


def problems(
    roster: Sequence[Roster], columns: Sequence[Column], rows: Sequence[dict[str, str]]
) -> list[dict]:
    """Everything an instructor must look at before importing: nobody is dropped silently."""
    found = []
    known = {r.hub_username: r for r in roster}
    for row in rows:
        student, assignment = row["student_id"], row["assignment"]
        lms_id = known[student].lms_id if student in known else ""
        if student not in known:
            found.append([student, "", assignment, "in grades.csv but not on the roster: not exported"])
        elif row["status"] == "error":
            found.append([student, lms_id, assignment, f"grading error, cell left empty: {row['reason']}"])
        elif row["status"] == "flagged":
            found.append(
                [student, lms_id, assignment, f"flagged for review, score exported: {row['reason']}"]
            )
    graded = {(row["student_id"], row["assignment"]) for row in rows}
    for student in roster:
        for assignment in dict.fromkeys(c.assignment for c in columns):
            if (student.hub_username, assignment) not in graded:
                found.append(
                    [student.hub_username, student.lms_id, assignment, "no submission: cell left empty"]
                )
    return [dict(zip(PROBLEM_COLUMNS, p, strict=True)) for p in found]


def canvas_rows(roster: Sequence[Roster], columns: Sequence[Column]) -> list[list[str]]:
    """Canvas's gradebook layout: header, the Points Possible row, then one row per rostered student."""
    rows = [CANVAS_IDENTITY + [c.header for c in columns]]
    rows.append(["Points Possible", "", "", "", ""] + [f"{c.max_points:g}" for c in columns])
    for s in roster:
        identity = [s.name, s.lms_id, s.sis_user_id, s.sis_login_id, s.section]
        rows.append(identity + [c.values.get(s.hub_username, "") for c in columns])
    return rows


def moodle_rows(roster: Sequence[Roster], columns: Sequence[Column]) -> list[list[str]]:
    """Moodle's import layout: identity columns, then one column per grade item, one row per student."""
    rows = [MOODLE_IDENTITY + [c.header for c in columns]]
    for s in roster:
        first, _, last = s.name.partition(" ")
        rows.append([first, last, s.lms_id, s.email] + [c.values.get(s.hub_username, "") for c in columns])
    return rows


def _pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"{flag} {item!r}: expected ASSIGNMENT=VALUE")
        out[key] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqcourse-grade export", description=__doc__.split("\n\n")[0])
    p.add_argument("lms", choices=["canvas", "moodle"])
    p.add_argument(
        "--roster", type=Path, required=True, help="CSV with lms_id, hub_username (+ name, email, ...)"
    )
    p.add_argument("--grades", action="append", required=True, help="ASSIGNMENT=path/to/grades.csv (repeat)")
    p.add_argument("--column", action="append", default=[], help="ASSIGNMENT=column name in the LMS (repeat)")
    p.add_argument("--parts", action="store_true", help="one column per graded part")
    p.add_argument("--source", type=Path, default=Path("solutions"), help="source notebooks (part points)")
    p.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    grades = {k: Path(v) for k, v in _pairs(args.grades, "--grades").items()}
    roster = read_roster(args.roster)
    columns, rows = build_columns(
        grades, _pairs(args.column, "--column"), args.source if args.parts else None
    )
    table = (canvas_rows if args.lms == "canvas" else moodle_rows)(roster, columns)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(table)
    found = problems(roster, columns, rows)
    report = args.out.with_suffix(".problems.csv")
    with report.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=PROBLEM_COLUMNS)
        writer.writeheader()
        writer.writerows(found)
    print(
        f"{args.lms}: {len(roster)} students x {len(columns)} columns -> {args.out}; "
        f"{len(found)} problems -> {report}"
    )
    return 1 if found else 0
