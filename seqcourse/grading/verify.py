"""Re-verify grades: grade chosen students again and compare with the ``grades.csv`` they were given.

    seqcourse-grade verify ASSIGNMENT SUBMISSIONS --grades RUN/grades.csv [--sample K | --students a,b]
                           --out DIR

For a regrade request or an audit. Each chosen student's current files are graded again in a fresh private
course in ``DIR/regrade/`` (same pipeline, same sandbox) and compared with the recorded row: the score, each
part, and the three digests of :mod:`seqcourse.grading.provenance`. A difference is reported by its cause:

- ``submission changed``: the student's notebooks are not the bytes that were graded;
- ``source changed``: the assignment source (hidden tests, points, rules) is not the one that was graded;
- ``environment changed``: Python, a grading package or the grader's code differs (the versions that
  differ are named when ``grades.environment.json`` is beside the recorded ``grades.csv``);
- ``grade differs``: the score or a part's score is not reproduced.

``DIR/verify.csv`` (one row per student) and ``DIR/verify.html``. Exit 0 when every grade was reproduced
from the same submission and source (an environment change alone is reported, not failed), 1 otherwise,
2 on a usage problem. A recorded late-policy ``raw_score`` is compared, not the penalised score.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seqcourse.grading import lms
from seqcourse.grading.provenance import ENVIRONMENT_FILE, PROVENANCE_COLUMNS

__all__ = ["Check", "read_grades", "choose", "compare", "write_outputs", "verify", "main"]

CSV_COLUMNS = ["student_id", "verdict", "recorded_score", "regraded_score", "differences"]


@dataclass
class Check:
    """The outcome for one student: ``verdict`` is ``agrees`` or ``differs``."""

    student_id: str
    recorded_score: str
    regraded_score: str
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # environment changes: reported, never a failure

    @property
    def verdict(self) -> str:
        return "differs" if self.differences else "agrees"


def read_grades(path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """``({student: row}, part columns)`` of a ``grades.csv``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no grades file {path} (the grades.csv of the run to verify)")
    rows, parts = lms.read_grades(path)
    return {r["student_id"]: r for r in rows}, parts


def choose(students: Sequence[str], only: Sequence[str] | None, sample: int | None, seed: int) -> list[str]:
    """The students to grade again: ``only`` (each must be in ``students``), a sample, or everyone."""
    if only:
        unknown = sorted(set(only) - set(students))
        if unknown:
            raise ValueError(f"--students: not in the grades file: {unknown}")
        return sorted(set(only))
    if sample is not None:
        if sample < 1:
            raise ValueError(f"--sample must be a positive int, got {sample}")
        return sorted(random.Random(seed).sample(sorted(students), min(sample, len(students))))
    return sorted(students)


def _changed_versions(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "absent"), new.get(key, "absent")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changes += _changed_versions(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key} {a} -> {b}")
    return changes


def compare(
    recorded: Mapping[str, str],
    regraded: Mapping[str, str] | None,
    parts: Sequence[str],
    env_change: Sequence[str] = (),
) -> Check:
    """Compare one student's recorded row with the row of the new grading (``None``: nothing to grade)."""
    old_score = recorded.get("raw_score") or recorded["score"]
    check = Check(recorded["student_id"], old_score, regraded["score"] if regraded else "")
    if regraded is None:
        check.differences.append("submission missing: no files for this student in SUBMISSIONS")
        return check
    if not recorded.get("submission_sha256"):
        check.notes.append("the recorded row has no digests (graded before they were recorded)")
    else:
        for column, what in zip(PROVENANCE_COLUMNS, ("submission", "source", "environment"), strict=True):
            if recorded[column] != regraded[column]:
                text = f"{what} changed ({recorded[column][:12]} -> {regraded[column][:12]})"
                if what == "environment":
                    check.notes.append(text + (f": {'; '.join(env_change)}" if env_change else ""))
                else:
                    check.differences.append(text)
    if recorded["status"] != regraded["status"]:
        check.differences.append(f"status differs: {recorded['status']} -> {regraded['status']}")
    if abs(float(old_score or 0) - float(regraded["score"] or 0)) > 1e-9:
        check.differences.append(f"grade differs: score {old_score} -> {regraded['score']}")
    for part in parts:
        a, b = recorded.get(part, ""), regraded.get(part, "")
        if abs(float(a or 0) - float(b or 0)) > 1e-9:
            check.differences.append(f"grade differs: part {part} {a} -> {b}")
    return check


_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title><style>
body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
tr.differs{background:#f8d7da}tr.agrees{background:#d4edda}.note{color:#555}
</style></head><body><h1>{{ title }}</h1>
<p>重新评分 {{ checks|length }} 名学生：{{ agree }} 名一致，{{ checks|length - agree }} 名不一致。
记录的成绩文件：<code>{{ grades }}</code></p>
{% if env %}<p class="note">评分环境：{{ env }}</p>{% endif %}
<table><tr><th>学生</th><th>结论</th><th>记录的得分</th><th>重新评分</th><th>差异与说明</th></tr>
{% for c in checks %}<tr class="{{ c.verdict }}"><td>{{ c.student_id }}</td>
<td>{{ '一致 (agrees)' if c.verdict == 'agrees' else '不一致 (differs)' }}</td>
<td>{{ c.recorded_score }}</td><td>{{ c.regraded_score }}</td>
<td>{% for d in c.differences %}{{ d }}<br>{% endfor %}
{% for n in c.notes %}<span class="note">{{ n }}</span><br>{% endfor %}</td></tr>
{% endfor %}</table></body></html>
"""


def write_outputs(checks: Sequence[Check], out: Path, title: str, grades: Path, env: str = "") -> None:
    """``out/verify.csv`` and ``out/verify.html`` (offline; everything escaped by jinja2)."""
    import jinja2

    out.mkdir(parents=True, exist_ok=True)
    with (out / "verify.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for c in checks:
            writer.writerow(
                [
                    c.student_id,
                    c.verdict,
                    c.recorded_score,
                    c.regraded_score,
                    "; ".join(c.differences + c.notes),
                ]
            )
    page = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(_TEMPLATE)
    agree = sum(c.verdict == "agrees" for c in checks)
    text = page.render(title=title, checks=checks, agree=agree, grades=str(grades), env=env)
    (out / "verify.html").write_text(text, encoding="utf-8")


def _stage(
    cfg_submissions: Path,
    assignment_id: str,
    chosen: Sequence[str],
    pattern: str | None,
    dest: Path,
    names: Sequence[str],
) -> set[str]:
    """Copy the chosen students' notebooks (bytes unchanged) to ``dest/<student>/``; return who had files."""
    from seqcourse.grading.ingest import collect

    subs, _ = collect(cfg_submissions, assignment_id, names, pattern)
    found = set()
    for sub in subs:
        if sub.student_id in chosen:
            found.add(sub.student_id)
            for name, raw in sub.notebooks.items():
                (dest / sub.student_id).mkdir(parents=True, exist_ok=True)
                (dest / sub.student_id / f"{name}.ipynb").write_bytes(raw)
    return found


def verify(
    assignment_id: str,
    submissions: Path,
    grades: Path,
    out: Path,
    students: Sequence[str] | None = None,
    sample: int | None = None,
    seed: int = 0,
    source_root: Path | None = None,
    pattern: str | None = None,
    workers: int | None = None,
) -> list[Check]:
    """Grade the chosen students again into ``out/regrade/`` and compare; write the reports."""
    from seqcourse.grading import course as course_mod
    from seqcourse.grading.cli import write_reports
    from seqcourse.grading.pipeline import GradeConfig, grade

    recorded, parts = read_grades(grades)
    chosen = choose(list(recorded), students, sample, seed)
    source_root = Path(source_root or course_mod.repo_root() / course_mod.SOURCE_DIR)
    names = sorted(p.stem for p in (source_root / assignment_id).glob("*.ipynb"))
    if not names:
        raise FileNotFoundError(f"no assignment source {source_root / assignment_id}/*.ipynb")
    out = Path(out)
    staged = out / "submissions"
    if staged.exists():
        raise ValueError(f"{out} was used before; give verify a new --out folder")
    present = _stage(Path(submissions), assignment_id, chosen, pattern, staged, names)
    regraded: dict[str, dict[str, str]] = {}
    if present:
        cfg = GradeConfig(assignment_id, staged, out / "regrade", source_root=source_root, progress=False)
        if workers:
            cfg.workers = workers
        write_reports(cfg, grade(cfg))
        regraded, _ = read_grades(cfg.out / "grades.csv")
    old_env = Path(grades).with_name(ENVIRONMENT_FILE)
    new_env = out / "regrade" / ENVIRONMENT_FILE
    env_change: list[str] = []
    env_text = ""
    if new_env.is_file():
        new = json.loads(new_env.read_text(encoding="utf-8"))["environment"]
        env_text = f"Python {new['python']}, " + ", ".join(f"{k} {v}" for k, v in new["packages"].items())
        if old_env.is_file():
            env_change = _changed_versions(
                json.loads(old_env.read_text(encoding="utf-8"))["environment"], new
            )
    checks = [compare(recorded[s], regraded.get(s), parts, env_change) for s in chosen]
    write_outputs(checks, out, f"{assignment_id} 成绩复核（verify）", Path(grades), env_text)
    return checks


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqcourse-grade verify", description=__doc__.split("\n\n")[0])
    p.add_argument("assignment", help="assignment id, e.g. a02_bptt")
    p.add_argument("submissions", type=Path, help="the submissions folder or .zip that was graded")
    p.add_argument("--grades", type=Path, required=True, help="the grades.csv to verify")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--students", help="comma-separated student ids")
    who.add_argument("--sample", type=int, help="this many students chosen at random (see --seed)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --sample draw (default 0)")
    p.add_argument("--source", type=Path, help="source root (default: the repository's solutions/)")
    p.add_argument("--pattern", help="as for seqcourse-grade: regex mapping flat file names to students")
    p.add_argument("--workers", type=int, help="parallel kernels (default: cores)")
    p.add_argument("--out", type=Path, required=True, help="a new folder: verify.csv, verify.html, regrade/")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    students = [s.strip() for s in args.students.split(",") if s.strip()] if args.students else None
    try:
        checks = verify(
            args.assignment,
            args.submissions,
            args.grades,
            args.out,
            students,
            args.sample,
            args.seed,
            args.source,
            args.pattern,
            args.workers,
        )
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"seqcourse-grade verify: {err}", file=sys.stderr)
        return 2
    for c in checks:
        print(f"{c.student_id}: {c.verdict}" + "".join(f"\n  {d}" for d in c.differences + c.notes))
    differ = [c.student_id for c in checks if c.differences]
    print(f"{len(checks) - len(differ)}/{len(checks)} grades reproduced -> {args.out / 'verify.html'}")
    return 1 if differ else 0
