"""Every assignment's grader is right, proven through the real ``nbgrader autograde``.

For each ``solutions/<id>/`` (except the warm-up, tested in ``test_autograde_a00.py``): the solution gets full
autograded marks, the released notebook zero, and every mutant in ``tests/mutants/<id>.py`` loses exactly the
parts it breaks and keeps the others.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from seqcourse.grading.mutants import check_graded, grade_mutants

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
