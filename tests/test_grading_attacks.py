"""Attack suite of the grading engine (issue #12): malicious submissions against every assignment.

Each assignment's attacks are graded in ONE ``seqcourse-grade`` run (``--workers 2``) together with an
honest full-score student and the released notebook; a zipped run adds the zip-slip case. Per attack the
test asserts that it gained nothing (score at or below the released notebook's, or ``flagged``/``error``
with a reason), leaked no hidden test and no secret into anything the grader wrote, reached no socket, and
left nothing behind. Per run: grades.csv written, one row per submitted folder with the exact id, the two
reference students' rows exact, the instructor's files and the submissions untouched, no process or file
outlives the run, no executable student HTML in any page. The cases live in
tests/fixtures/grading/attacks/catalog.py, each with the weakness class it probes and what it tries.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "fixtures" / "grading" / "attacks"
sys.path.insert(0, str(HERE))
import catalog  # noqa: E402
import harness  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.exhaustive,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="the isolation under attack needs the grader to run as root"
    ),
]
CELL_TIMEOUT_S = 10  # what a hang costs (twice at most); an honest cell takes about 2 s on a loaded machine
RUN_KEYS = sorted({c.key for c in catalog.ATTACKS})


@pytest.fixture(scope="module")
def runs():
    with harness.private_tmp() as tmp:
        yield harness.RunCache(tmp, catalog.ATTACKS, "release", CELL_TIMEOUT_S)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.known_gap)) if c.known_gap else c
        for c in catalog.ATTACKS
    ],
    ids=[f"{c.assignment}-{c.student.encode('ascii', 'backslashreplace').decode()}" for c in catalog.ATTACKS],
)
def test_attack_gains_nothing(runs, case):
    """``case.what`` must end at or below the released notebook's score, or flagged/error with a reason."""
    run = runs.get(case.key)
    problems = harness.attack_problems(run, case)
    row = run.row(case.student)
    assert not problems, f"{case.kind}: {case.what}\nrow {harness.dump(row)}\n" + "\n".join(problems)


@pytest.mark.parametrize("key", RUN_KEYS, ids=[f"{a}{'-zip' if z else ''}" for a, z in RUN_KEYS])
def test_run_survives_and_others_keep_their_scores(runs, key):
    run = runs.get(key)
    problems = harness.run_problems(run)
    assert not problems, "\n".join(problems) + f"\nstderr: {run.stderr[-1500:]}"
