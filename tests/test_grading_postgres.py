"""`seqcourse-grade --db-url postgresql://...` against a real PostgreSQL server started for the test."""

from __future__ import annotations

import csv
import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "a00_warmup" / "a00_warmup.ipynb"
RELEASE = ROOT / "assignments" / "a00_warmup" / "a00_warmup.ipynb"
BINDIR = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"))), None)
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    if BINDIR is None or not os.path.exists(f"{BINDIR}/initdb"):
        pytest.skip("PostgreSQL binaries (Debian package postgresql) are not installed")
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root but there is no unprivileged 'postgres' user for initdb")
        run_as = {"user": user.pw_uid, "group": user.pw_gid}
    else:
        run_as = {}
    data = Path(tempfile.mkdtemp(prefix="seqcourse-pg-"))  # pytest's tmp is private to root
    os.chmod(data, 0o700)
    if run_as:
        os.chown(data, run_as["user"], run_as["group"])
    port = _free_port()
    subprocess.run(
        [f"{BINDIR}/initdb", "-D", str(data / "db"), "-U", "grader", "--auth=trust"],
        check=True,
        capture_output=True,
        **run_as,
    )
    subprocess.run(
        [
            f"{BINDIR}/pg_ctl",
            "-D",
            str(data / "db"),
            "-l",
            str(data / "log"),
            "-w",
            "start",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {data}",
        ],
        check=True,
        capture_output=True,
        **run_as,
    )
    try:
        subprocess.run(
            [f"{BINDIR}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "gradebook"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://grader@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run(
            [f"{BINDIR}/pg_ctl", "-D", str(data / "db"), "-m", "immediate", "stop"],
            capture_output=True,
            **run_as,
        )


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
        postgres,
        "--no-progress",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    print(f"postgres run: {time.perf_counter() - start:.0f} s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    assert float(rows["h_solution"]["score"]) == 16.0
    assert rows["m_eq_true"]["status"] == "flagged" and float(rows["m_eq_true"]["score"]) == 0.0
    from nbgrader.api import Gradebook

    from seqcourse.grading.pipeline import _postgres_driver

    # read the grades back from the server itself
    with Gradebook(_postgres_driver(postgres), course_id="seqcourse") as gb:
        assert {s.student.id: s.score for s in gb.assignment_submissions("a00_warmup")} == {
            "h_solution": 16.0,
            "m_eq_true": 0.0,
        }
