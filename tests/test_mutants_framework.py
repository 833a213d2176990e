"""The mutant framework itself: edits must apply exactly once, and check_graded reports every violation."""

import nbformat
import pytest

from seqcourse.grading.mutants import Mutant, answer_cells, apply_edits, check_graded


def _record(cells: dict[str, tuple[float, float]]) -> dict:
    return {
        "autograded_score": sum(s for s, _ in cells.values()),
        "autograded_max": sum(m for _, m in cells.values()),
        "cells": {g: {"score": s, "max_score": m, "autograded": True} for g, (s, m) in cells.items()},
        "parts": {},
    }


def test_answer_cells_strip_markers():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "a_answer"}
    nb.cells = [cell, nbformat.v4.new_code_cell("x = 1")]
    assert answer_cells(nb) == {"a_answer": "def f():\n    return 1\n"}


def test_apply_edits_requires_exactly_one_match():
    answers = {"a_answer": "y = x + 1\nz = x + 1\n"}
    edited = apply_edits(answers, Mutant("m", {"a"}, {"a_answer": [("y = x", "y = -x")]}))
    assert edited["a_answer"] == "y = -x + 1\nz = x + 1\n"
    with pytest.raises(ValueError, match="occurs 2 times"):
        apply_edits(answers, Mutant("m", {"a"}, {"a_answer": [("x + 1", "x")]}))
    with pytest.raises(ValueError, match="occurs 0 times"):
        apply_edits(answers, Mutant("m", {"a"}, {"a_answer": [("nope", "x")]}))
    with pytest.raises(KeyError, match="no answer cell"):
        apply_edits(answers, Mutant("m", {"a"}, {"b_answer": [("x", "y")]}))


def test_check_graded_accepts_a_right_grader_and_reports_each_violation():
    full = {"a_test": (2.0, 2.0), "b_test": (3.0, 3.0)}
    mutant = Mutant("m", {"a"})
    good = {"solution": _record(full), "release": _record({"a_test": (0, 2.0), "b_test": (0, 3.0)}),
            "m": _record({"a_test": (0.0, 2.0), "b_test": (3.0, 3.0)})}
    assert check_graded(good, [mutant]) == []
    bad = dict(good, m=_record({"a_test": (2.0, 2.0), "b_test": (1.0, 3.0)}))
    problems = check_graded(bad, [mutant])
    assert any("part a scored 2.0/2.0 but the mutant breaks it" in p for p in problems)
    assert any("part b scored 1.0/3.0 but it is not broken" in p for p in problems)
    leaky = dict(good, release=_record({"a_test": (2.0, 2.0), "b_test": (0, 3.0)}),
                 solution=_record({"a_test": (2.0, 2.0), "b_test": (0.0, 3.0)}))
    problems = check_graded(leaky, [mutant])
    assert any(p.startswith("release: scored 2.0") for p in problems)
    assert any(p.startswith("solution: 2.0/5.0") for p in problems)
    partial = dict(good, m=_record({"a_test": (1.0, 2.0), "b_test": (3.0, 3.0)}))
    assert check_graded(partial, [Mutant("m", {"a"}, partial=True)]) == []
    assert check_graded(partial, [mutant]) != []
