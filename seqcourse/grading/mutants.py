"""Prove an assignment's grader right: the solution scores full marks, the release zero, each mutant loses
exactly the parts it breaks. Everything is graded by the real ``nbgrader autograde`` (see ``course.py``),
which runs the two-process engine through the course's ``nbgrader_config.py``.

This module is instructor-facing, not only test support: an instructor who writes or changes an assignment
lists plausible wrong answers (``tests/mutants/<id>.py`` in this repository) and :func:`grade_mutants` +
:func:`check_graded` tell whether the hidden tests catch each one and spare the other parts; it is the basis
of a grader-quality report (which wrong answers slip through, which parts are over-penalised).

A *mutant* is a plausible wrong answer written as text edits of the instructor's answer cells::

    Mutant("no_tanh_derivative", breaks={"b"},
           edits={"b_bptt_answer": [("* (1 - h[t] ** 2)", "")]})

Each edit ``(old, new)`` must match the solution exactly once, so a mutant that no longer applies (because
the solution changed) fails loudly instead of silently testing the solution.

Who uses it: instructors and teaching assistants who write or change an assignment. It is the tool that shows
a grader has teeth before students ever submit: ``tests/mutants/<id>.py`` holds each assignment's mutants and
``tests/test_assignment_graders.py`` runs them through it on every ``make test``. It ships in the package
because an instructor's own course (outside this repository) needs it too; it reads only the instructor's
``solutions/``, which the student edition never contains, so it reveals nothing to students.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from seqcourse.grading.course import (
    RELEASE_DIR,
    SOURCE_DIR,
    autograde,
    make_course,
    repo_root,
    scores,
    submit,
)

__all__ = [
    "Mutant",
    "load_mutants",
    "answer_cells",
    "apply_edits",
    "fill_release",
    "grade_mutants",
    "check_graded",
]

_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


@dataclass(frozen=True)
class Mutant:
    """A wrong submission: ``edits`` maps answer-cell grade ids to ``[(old, new), ...]`` replacements.

    ``breaks`` names the parts (grade-id prefixes) that must lose all their autograded points; every other
    part must keep full marks. With ``partial=True`` a broken part only has to lose some of its points.
    """

    name: str
    breaks: frozenset[str] | set[str]
    edits: Mapping[str, list[tuple[str, str]]] = field(default_factory=dict)
    partial: bool = False


def load_mutants(path: Path) -> list[Mutant]:
    """The ``MUTANTS`` list of a mutants file such as ``tests/mutants/<id>.py``."""
    import importlib.util

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no mutants file {path} (a Python file with MUTANTS = [Mutant(...), ...])")
    spec = importlib.util.spec_from_file_location(f"mutants_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = list(getattr(module, "MUTANTS", []))
    if not found or not all(isinstance(m, Mutant) for m in found):
        raise ValueError(f"{path}: MUTANTS must be a non-empty list of Mutant, got {found!r:.200}")
    if len({m.name for m in found}) != len(found):
        raise ValueError(f"{path}: mutant names must be unique")
    return found


def answer_cells(source: nbformat.NotebookNode) -> dict[str, str]:
    """The instructor's code answer cells (grade_id -> source) with the solution markers removed."""
    out = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            out[meta["grade_id"]] = _MARKERS.sub("", cell.source + "\n")
    return out


def apply_edits(answers: Mapping[str, str], mutant: Mutant) -> dict[str, str]:
    """Return ``answers`` with the mutant's edits applied; each ``old`` must occur exactly once."""
    out = dict(answers)
    for grade_id, edits in mutant.edits.items():
        if grade_id not in out:
            raise KeyError(f"mutant {mutant.name!r}: no answer cell {grade_id!r} (have {sorted(out)})")
        for old, new in edits:
            count = out[grade_id].count(old)
            if count != 1:
                raise ValueError(
                    f"mutant {mutant.name!r}: {old!r} occurs {count} times in {grade_id}, expected once; "
                    "update the mutant to the current solution"
                )
            out[grade_id] = out[grade_id].replace(old, new)
    return out


def fill_release(release: nbformat.NotebookNode, answers: Mapping[str, str], path: Path) -> Path:
    """Write a student's copy of the release with the given answer cells filled in."""
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _grade_shard(course: Path, assignment_id: str, submissions: dict[str, Path]) -> dict[str, dict]:
    for student, path in submissions.items():
        submit(course, student, assignment_id, path)
    autograde(course, assignment_id)
    return scores(course, assignment_id)


def grade_mutants(
    tmp_dir: Path, assignment_id: str, mutants: Iterable[Mutant], workers: int | None = None
) -> dict[str, dict]:
    """Autograde ``solution``, ``release`` and every mutant of ``assignment_id`` with the real nbgrader.

    The submissions are split over ``workers`` copies of one temporary course (default: the number of CPU
    cores), each graded by its own ``nbgrader autograde`` run in parallel. Returns
    :func:`seqcourse.grading.course.scores` keyed by ``"solution"``, ``"release"`` and mutant names.
    """
    tmp_dir = Path(tmp_dir)
    course = make_course(tmp_dir / "shard0", assignment_id, repo_root() / SOURCE_DIR)
    notebooks = sorted((course / SOURCE_DIR / assignment_id).glob("*.ipynb"))
    if len(notebooks) != 1:
        found = [p.name for p in notebooks]
        raise ValueError(f"{assignment_id} must have exactly one notebook, found {found}")
    name = notebooks[0].name
    source = nbformat.read(notebooks[0], as_version=4)
    release_path = course / RELEASE_DIR / assignment_id / name
    release = nbformat.read(release_path, as_version=4)
    answers = answer_cells(source)
    submissions = {"solution": notebooks[0], "release": release_path}
    for mutant in mutants:
        if mutant.name in submissions:
            raise ValueError(f"mutant name {mutant.name!r} is used twice or reserved")
        path = tmp_dir / "mutants" / mutant.name / name
        submissions[mutant.name] = fill_release(release, apply_edits(answers, mutant), path)
    n = max(1, min(workers or os.cpu_count() or 1, len(submissions)))
    copies = [shutil.copytree(course, tmp_dir / f"shard{k}" / "course") for k in range(1, n)]
    courses = [course, *map(Path, copies)]
    shards = [dict(list(submissions.items())[k::n]) for k in range(n)]
    with ThreadPoolExecutor(max_workers=n) as pool:  # each thread waits on its own nbgrader process
        results = pool.map(_grade_shard, courses, [assignment_id] * n, shards)
    return {student: record for result in results for student, record in result.items()}


def _autograded_parts(record: Mapping) -> dict[str, tuple[float, float]]:
    """``{part: (score, max_score)}`` over the autograded test cells of one graded submission."""
    parts: dict[str, tuple[float, float]] = {}
    for grade_id, cell in record["cells"].items():
        if cell["autograded"]:
            score, top = parts.get(grade_id.split("_", 1)[0], (0.0, 0.0))
            parts[grade_id.split("_", 1)[0]] = (score + cell["score"], top + cell["max_score"])
    return parts


def check_graded(graded: Mapping[str, dict], mutants: Iterable[Mutant]) -> list[str]:
    """Every way in which the grades break the contract; an empty list means the grader is right."""
    problems = []
    solution, release = graded["solution"], graded["release"]
    if solution["autograded_max"] <= 0 or solution["autograded_score"] != solution["autograded_max"]:
        lost = {p: s for p, s in _autograded_parts(solution).items() if s[0] < s[1]}
        problems.append(f"solution: {solution['autograded_score']}/{solution['autograded_max']}, lost {lost}")
    if release["autograded_score"] != 0:
        problems.append(f"release: scored {release['autograded_score']}, expected 0")
    for mutant in mutants:
        parts = _autograded_parts(graded[mutant.name])
        unknown = set(mutant.breaks) - set(parts)
        if unknown:
            problems.append(f"{mutant.name}: breaks parts {sorted(unknown)} that have no autograded tests")
        for part, (score, top) in sorted(parts.items()):
            if part not in mutant.breaks:
                if score != top:
                    problems.append(f"{mutant.name}: part {part} scored {score}/{top} but it is not broken")
            elif score >= top if mutant.partial else score != 0:
                problems.append(f"{mutant.name}: part {part} scored {score}/{top} but the mutant breaks it")
    return problems
