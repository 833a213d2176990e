"""End to end: one sandboxed `seqcourse-grade` run over honest, malicious and malformed a00 submissions.

Every attack in tests/fixtures/grading/cases.py is graded in the SAME run as honest submissions; the honest
ones must keep full marks, every attack must end as zero for the affected parts or `flagged` with a reason,
malformed files as `error` with a reason; the student files must be byte-identical afterwards.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from seqcourse.grading.pipeline import state_file
from seqcourse.grading.release import secret_lines
from seqcourse.grading.sandbox import isolation_plan

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "a00_warmup" / "a00_warmup.ipynb"
RELEASE = ROOT / "assignments" / "a00_warmup" / "a00_warmup.ipynb"
_spec = importlib.util.spec_from_file_location("grading_cases", ROOT / "tests/fixtures/grading/cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

pytestmark = pytest.mark.slow
IS_ROOT = os.geteuid() == 0


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _grade(subs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
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
        "2",
        "--timeout-cell",
        "10",
        "--timeout-notebook",
        "120",
        "--max-notebook-mb",
        "4",
        "--no-progress",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)


def _part_max() -> dict[str, float]:
    nb = nbformat.read(SOURCE, as_version=4)
    parts: dict[str, float] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            part = meta["grade_id"].split("_", 1)[0]
            parts[part] = parts.get(part, 0.0) + float(meta["points"])
    return parts


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    subs, out = tmp / "submissions", tmp / "out"
    paths = {
        "read": [
            str(SOURCE),
            str(out / "course" / "gradebook.db"),
            str(out / "course" / "solutions" / "a00_warmup" / "a00_warmup.ipynb"),
            str(subs / "h_solution" / "a00_warmup" / "a00_warmup.ipynb"),
            str(ROOT / ".git" / "HEAD"),
            str(ROOT / "tests" / "test_grading_pipeline.py"),  # tests/ holds mutants with solution fragments
        ],
        "write": [str(out / "owned.txt"), str(subs / "owned.txt"), str(ROOT / "owned.txt"), "/etc/owned.txt"],
    }
    expect = cases.build(subs, RELEASE, SOURCE, paths)
    before = _hashes(subs)
    start = time.perf_counter()
    proc = _grade(subs, out)
    seconds = time.perf_counter() - start
    print(f"pipeline over {len(expect)} students took {seconds:.0f} s\n{proc.stdout}\n{proc.stderr[-3000:]}")
    rows = {r["student_id"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}
    return {
        "subs": subs,
        "out": out,
        "proc": proc,
        "rows": rows,
        "expect": expect,
        "before": before,
        "paths": paths,
    }


def test_every_student_has_the_expected_status_and_reason(graded):
    rows, expect = graded["rows"], graded["expect"]
    assert set(rows) == set(expect)
    for student, exp in expect.items():
        row = rows[student]
        if exp["status"] is not None:
            assert row["status"] == exp["status"], (student, row)
        assert exp["reason"] in row["reason"], (student, exp["reason"], row["reason"])
        if row["status"] in ("error", "flagged"):
            assert row["reason"], student


def test_parts_are_zero_or_full_as_expected(graded):
    rows, expect, part_max = graded["rows"], graded["expect"], _part_max()
    for student, exp in expect.items():
        row = rows[student]
        zero = part_max if exp["zero"] == "*" else exp["zero"]
        full = part_max if exp["full"] == "*" else exp["full"]
        for part in zero:
            assert float(row[part]) == 0.0, (student, part, row)
        for part in full:
            assert float(row[part]) == part_max[part], (student, part, row)


def test_honest_students_get_every_autograded_point(graded):
    autograded_max = sum(_part_max().values())
    for student in ("h_solution", "h_solution2", "h_warning", "h_huge_outputs"):
        assert float(graded["rows"][student]["score"]) == autograded_max, graded["rows"][student]


def test_exit_code_counts_errors(graded):
    n_errors = sum(1 for r in graded["rows"].values() if r["status"] == "error")
    assert n_errors == 10
    assert graded["proc"].returncode == 1
    assert f"{n_errors} in error" in graded["proc"].stdout


def test_student_files_are_never_modified(graded):
    assert _hashes(graded["subs"]) == graded["before"]


@pytest.mark.skipif(
    not IS_ROOT, reason="isolation (other user, hidden paths) needs the grader to run as root"
)
def test_secrets_unreadable_and_nothing_written_outside(graded):
    nb = nbformat.read(graded["out"] / "autograded" / "m_read_write" / "a00_warmup.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    for path in graded["paths"]["read"] + graded["paths"]["write"]:
        assert f"DENIED {path}" in text, (path, text)
    assert "READ " not in text and "WROTE " not in text
    for path in graded["paths"]["write"]:
        assert not os.path.exists(path), path
    row = graded["rows"]["h_solution"]
    assert row["status"] == "graded"


@pytest.mark.skipif(not IS_ROOT, reason="namespaces and slot users need the grader to run as root")
def test_kernels_run_in_their_own_namespaces_as_a_slot_user(graded):
    plan = isolation_plan()
    facts = json.loads(state_file(graded["out"], "h_solution").read_text())["sandbox"]
    assert facts["isolation"] == plan[1]
    assert "grader's own uid" not in facts["user"], facts
    assert facts["cgroups"] != "none", facts
    if plan[0]:  # bubblewrap works here: the kernel itself was measured inside the sandbox
        for ns in ("net", "mnt", "pid"):
            assert facts[f"{ns} namespace"] == "separate", facts


def test_feedback_hides_hidden_tests_and_summary_is_offline(graded):
    out, source = graded["out"], nbformat.read(SOURCE, as_version=4)
    hidden = [ln for ln in secret_lines(source, regions=("HIDDEN TESTS",)) if "rng" in ln or "_oracle." in ln]
    assert hidden, "the a00 source should have hidden tests"
    for student in ("h_solution", "m_patch_checkers"):
        page = (out / "feedback" / student / "a00_warmup.html").read_text(encoding="utf-8")
        assert "BEGIN HIDDEN TESTS" not in page
        for line in hidden:
            assert line not in page, (student, line)
        assert "可见测试" in page  # the visible tests are shown
    summary = (out / "summary.html").read_text(encoding="utf-8")
    assert summary.count("data:image/png;base64,") >= len(_part_max())
    assert not re.search(r"(src|href)=['\"]https?://", summary)


def test_rerun_skips_finished_and_regrades_lost_state_identically(graded):
    out = graded["out"]
    first = (out / "grades.csv").read_text(encoding="utf-8")
    for student in ("h_solution", "m_sys_exit"):  # as if the run had crashed before finishing them
        state_file(out, student).unlink()
    start = time.perf_counter()
    proc = _grade(graded["subs"], out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert (out / "grades.csv").read_text(encoding="utf-8") == first
    assert state_file(out, "h_solution").is_file()
    print(f"re-run with 2 students to grade took {time.perf_counter() - start:.0f} s")
