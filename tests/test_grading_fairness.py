"""Fairness suite of the grading engine (issue #12): honest work always gets full autograded marks.

One ``seqcourse-grade`` run per assignment grades the instructor's answers (``h_solution``), the released
notebook and the honest variations of tests/fixtures/grading/fairness/catalog.py: differently written
correct implementations (a01 convolution, a02 BPTT and gradient check, a04 fused LSTM gates, a07 einsum
attention, a09 message passing), answers that warn, log and write to stderr, a slow answer, helper
functions and classes, numpy integers where ints are asked for, and student ids with Chinese characters,
a space or an apostrophe. Each must end ``graded`` with every autograded point; each run must also pass
the attack suite's run checks (grades.csv, one row per folder, the reference rows exact, nothing changed
or left behind).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "grading"
sys.path.insert(0, str(FIXTURES / "attacks"))
import harness  # noqa: E402

_spec = importlib.util.spec_from_file_location("fairness_catalog", FIXTURES / "fairness" / "catalog.py")
fairness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fairness)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.exhaustive,
    pytest.mark.skipif(os.geteuid() != 0, reason="grading isolation needs the grader to run as root"),
]
CELL_TIMEOUT_S = 60
RUN_KEYS = sorted({c.key for c in fairness.FAIR})


def _id(case) -> str:
    return f"{case.assignment}-{case.student.encode('ascii', 'backslashreplace').decode()}"


@pytest.fixture(scope="module")
def runs():
    with harness.private_tmp() as tmp:
        yield harness.RunCache(tmp, fairness.FAIR, "solution", CELL_TIMEOUT_S)


@pytest.mark.parametrize("case", fairness.FAIR, ids=[_id(c) for c in fairness.FAIR])
def test_honest_variation_gets_full_marks(runs, case):
    """``case.what`` is correct work: status graded, every autograded point, the exact id kept."""
    run = runs.get(case.key)
    problems = harness.fair_problems(run, case)
    assert not problems, f"{case.kind}: {case.what}\nrow {harness.dump(run.row(case.student))}\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize("key", RUN_KEYS, ids=[a for a, _ in RUN_KEYS])
def test_solution_and_release_exact(runs, key):
    run = runs.get(key)
    problems = harness.run_problems(run)
    assert not problems, "\n".join(problems) + f"\nstderr: {run.stderr[-1500:]}"
