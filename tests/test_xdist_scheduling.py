"""make test's pytest-xdist scheduling (tests/conftest.py): a test file runs on one worker, the two hub files
share one, and the grader matrices are units of their own. Checked in a real ``pytest -n 2`` run."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from conftest import ROOT, work_unit

RECORD = """import os, time
from pathlib import Path

def _record(name):
    with open(Path(__file__).with_name("ran.txt"), "a") as fh:
        fh.write(f"{Path(__file__).stem} {name} {os.environ['PYTEST_XDIST_WORKER']}\\n")
    time.sleep(0.2)  # long enough for the other worker to ask for work meanwhile
"""
# the course's conftest, loaded under another name (this folder's conftest is the one pytest sees)
CONFTEST = f"""import importlib.util
_spec = importlib.util.spec_from_file_location("course_conftest", {str(ROOT / "tests" / "conftest.py")!r})
_course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_course)
pytest_xdist_make_scheduler = _course.pytest_xdist_make_scheduler
"""
FILES = ("test_alpha", "test_assignment_graders", "test_beta", "test_hub_e2e", "test_hub_lifecycle")


def test_work_units_follow_the_files_with_the_stated_exceptions():
    assert work_unit("tests/test_site_pages.py::test_every_page") == "tests/test_site_pages.py"
    assert work_unit("tests/test_site_pages.py::test_x[a-b]") == "tests/test_site_pages.py"
    spread = "tests/test_assignment_graders.py::test_m[a05_language_model]"
    assert work_unit(spread) == spread
    assert work_unit("tests/test_hub_e2e.py::t") == work_unit("tests/test_hub_lifecycle.py::u")


def test_each_file_runs_on_one_worker_in_a_real_xdist_run(tmp_path: Path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for stem in FILES:
        tests = "".join(f"\ndef test_{k}():\n    _record({k})\n" for k in range(4))
        (tmp_path / f"{stem}.py").write_text(RECORD + tests)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadscope", "--no-loadscope-reorder",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    workers: dict[str, set[str]] = defaultdict(set)
    for line in (tmp_path / "ran.txt").read_text().splitlines():
        stem, _, worker = line.split()
        workers[stem].add(worker)
    assert sorted(workers) == sorted(FILES), workers
    assert len(set().union(*workers.values())) == 2, workers  # both workers were used
    for stem in ("test_alpha", "test_beta"):
        assert len(workers[stem]) == 1, (stem, workers)
    assert len(workers["test_hub_e2e"] | workers["test_hub_lifecycle"]) == 1, workers
