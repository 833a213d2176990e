"""`seqcourse-grade --db-url postgresql://...` against a real PostgreSQL server started for the test."""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pg_server import Unavailable, postgres_server

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "a00_warmup" / "a00_warmup.ipynb"
RELEASE = ROOT / "assignments" / "a00_warmup" / "a00_warmup.ipynb"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    try:
        with postgres_server() as url:
            yield url
    except Unavailable as why:
        pytest.skip(str(why))


def test_grades_land_in_postgres(postgres, tmp_path):
    spec = importlib.util.spec_from_file_location("grading_cases", ROOT / "tests/fixtures/grading/cases.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    full = tmp_path / "all"
    cases.build(full, RELEASE, SOURCE, {"read": [], "write": []})
    subs = tmp_path / "subs"
    subs.mkdir()
    for student in ("h_solution", "m_eq_true"):
        shutil.copytree(full / student, subs / student)
    cmd = [
        sys.executable,
        "-m",
        "seqcourse.grading.cli",
        "a00_warmup",
        str(subs),
        "--out",
        str(tmp_path / "out"),
        "--source",
        str(ROOT / "solutions"),
        "--workers",
        "2",
        "--db-url",
        "env:SEQCOURSE_TEST_DB_URL",  # the password never appears on a command line
        "--no-progress",
    ]
    start = time.perf_counter()
    env = {**os.environ, "SEQCOURSE_TEST_DB_URL": postgres}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    print(f"postgres run: {time.perf_counter() - start:.0f} s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    assert float(rows["h_solution"]["score"]) == 16.0
    assert float(rows["m_eq_true"]["score"]) == 0.0
    from nbgrader.api import Gradebook

    from seqcourse.grading.pipeline import _postgres_driver

    # read the grades back from the server itself
    with Gradebook(_postgres_driver(postgres), course_id="seqcourse") as gb:
        assert {s.student.id: s.score for s in gb.assignment_submissions("a00_warmup")} == {
            "h_solution": 16.0,
            "m_eq_true": 0.0,
        }
