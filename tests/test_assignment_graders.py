"""Every assignment's grader is right, proven through both doors of the two-process engine.

For each ``solutions/<id>/`` (except the warm-up, tested in ``test_autograde_a00.py`` and
``test_grading_pipeline.py``): the solution gets full autograded marks, the released notebook zero, and every
mutant in ``tests/mutants/<id>.py`` loses exactly the parts it breaks and keeps the others, once through the
real ``nbgrader autograde`` with the repository's ``nbgrader_config.py`` (whose ``TwoProcessExecute`` is the
engine) and once through ``seqcourse-grade`` (one run over all the submissions of the assignment).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from seqcourse.grading import course as course_mod
from seqcourse.grading.mutants import answer_cells, apply_edits, check_graded, fill_release, grade_mutants
from seqcourse.grading.pipeline import GradeConfig, course_location, grade

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and p.name != "a00_warmup")

pytestmark = pytest.mark.slow


def _mutants(assignment_id: str) -> list:
    path = ROOT / "tests" / "mutants" / f"{assignment_id}.py"
    assert path.is_file(), f"{assignment_id} has no mutants file {path.relative_to(ROOT)}"
    spec = importlib.util.spec_from_file_location(f"mutants_{assignment_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.MUTANTS)


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
    mutants = _mutants(assignment_id)
    name = f"{assignment_id}.ipynb"
    source_path = ROOT / "solutions" / assignment_id / name
    release = nbformat.read(ROOT / "assignments" / assignment_id / name, as_version=4)
    answers = answer_cells(nbformat.read(source_path, as_version=4))
    subs = tmp_path / "submissions"
    (subs / "solution").mkdir(parents=True)
    (subs / "solution" / name).write_bytes(source_path.read_bytes())
    (subs / "release").mkdir()
    nbformat.write(release, subs / "release" / name)
    for mutant in mutants:
        fill_release(release, apply_edits(answers, mutant), subs / mutant.name / name)
    cfg = GradeConfig(
        assignment_id, subs, tmp_path / "out", source_root=ROOT / "solutions", workers=2, progress=False
    )
    results = grade(cfg)
    assert {r.student_id: r.status for r in results if r.status == "error"} == {}
    flagged = {r.student_id: r.reasons for r in results if r.status == "flagged"}
    assert "solution" not in flagged, flagged
    course, db_url = course_location(cfg)
    problems = check_graded(course_mod.scores(course, assignment_id, db_url=db_url), mutants)
    assert not problems, "\n".join(problems)
