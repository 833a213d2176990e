"""Every assignment's grader is right, proven through both doors of the two-process engine.

For each ``solutions/<id>/`` (except the warm-up, tested in ``test_autograde_a00.py``,
``test_grading_pipeline.py`` and ``test_quality.py``): the solution gets full autograded marks, the released
notebook zero, and every mutant in ``tests/mutants/<id>.py`` loses exactly the parts it breaks and keeps the
others. ``make test`` proves this through ``seqcourse-grade`` for all nine (one run over the solution three
times with different seeds, the release and every mutant), whose grades must also pass the grader quality
report (:mod:`seqcourse.grading.quality`), and grades the solution and release of a02 and a07 through the
other door too (the real ``nbgrader autograde`` with the repository's ``nbgrader_config.py``, whose
``TwoProcessExecute`` is the same engine). ``make test-exhaustive`` (marker ``exhaustive``) runs every mutant
matrix and the other solutions and releases through ``nbgrader autograde`` as well, which does not fit CI's
25 minutes on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqcourse.grading import course as course_mod
from seqcourse.grading.mutants import check_graded, grade_mutants, load_mutants
from seqcourse.grading.pipeline import GradeConfig, course_location, grade
from seqcourse.grading.quality import analyse, build_submissions, write_html

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and p.name != "a00_warmup")

pytestmark = pytest.mark.slow
# make test grades these two through nbgrader autograde too (the engine's proxies are exercised hardest by
# a02's NumPy and a07's torch modules); the other assignments' solution and release in make test-exhaustive
CI_SAMPLE = ("a02_bptt", "a07_transformer")
SMOKE = [a if a in CI_SAMPLE else pytest.param(a, marks=pytest.mark.exhaustive) for a in ASSIGNMENTS]


def _mutants(assignment_id: str) -> list:
    path = ROOT / "tests" / "mutants" / f"{assignment_id}.py"
    assert path.is_file(), f"{assignment_id} has no mutants file {path.relative_to(ROOT)}"
    return load_mutants(path)


@pytest.mark.parametrize("assignment_id", SMOKE)
def test_nbgrader_autograde_gives_the_solution_full_marks_and_the_release_zero(
    assignment_id: str, tmp_path: Path
) -> None:
    problems = check_graded(grade_mutants(tmp_path, assignment_id, []), [])
    assert not problems, "\n".join(problems)


@pytest.mark.exhaustive
@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_grader_rewards_the_solution_and_catches_every_mutant(assignment_id: str, tmp_path: Path) -> None:
    mutants = _mutants(assignment_id)
    assert len(mutants) >= 3, f"{assignment_id} needs at least three plausible wrong implementations"
    assert len({m.name for m in mutants}) == len(mutants), "mutant names must be unique"
    graded = grade_mutants(tmp_path, assignment_id, mutants)
    problems = check_graded(graded, mutants)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_seqcourse_grade_rewards_the_solution_and_catches_every_mutant(
    assignment_id: str, tmp_path: Path
) -> None:
    """One run over the solution with three seeds, the release and every mutant; its grades must pass
    the grader quality report (no flaky or toothless test, no toothless mutant, every ``breaks`` honoured),
    which is written to ``test-artifacts/quality/<id>.html``."""
    mutants = _mutants(assignment_id)
    name = f"{assignment_id}.ipynb"
    subs = tmp_path / "submissions"
    seed_runs = build_submissions(
        ROOT / "solutions" / assignment_id / name,
        ROOT / "assignments" / assignment_id / name,
        mutants,
        3,
        subs,
    )
    cfg = GradeConfig(
        assignment_id,
        subs,
        tmp_path / "out",
        source_root=ROOT / "solutions",
        workers=2,
        progress=False,
        feedback=False,
    )
    results = grade(cfg)
    assert {r.student_id: r.status for r in results if r.status == "error"} == {}
    flagged = {r.student_id: r.reasons for r in results if r.status == "flagged"}
    assert not set(seed_runs) & set(flagged), flagged
    course, db_url = course_location(cfg)
    graded = course_mod.scores(course, assignment_id, db_url=db_url)
    report = analyse(
        assignment_id, graded, mutants, seed_runs, {r.student_id: r.test_seconds for r in results}
    )
    write_html(report, ROOT / "test-artifacts" / "quality" / assignment_id / "quality.html")
    assert not report.problems, "\n".join(report.problems)
