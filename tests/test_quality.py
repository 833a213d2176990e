"""The grader quality report (``seqcourse-grade quality``): its verdicts on hand-made gradebook records,
and end to end on a00 (a clean grader, and a copy of it with a flaky test, toothless tests and a toothless
mutant). a01–a09 get the same report from the runs of ``tests/test_assignment_graders.py``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from seqcourse.grading import cli, quality
from seqcourse.grading.mutants import Mutant

ROOT = Path(__file__).resolve().parents[1]
AID = "a00_warmup"

CELLS = {"a_test_visible": 1.0, "a_test_hidden": 2.0, "b_test_hidden": 2.0}


def _record(scores: dict[str, float]) -> dict:
    """A gradebook record (as ``course.scores`` returns it) with the given test-cell scores."""
    cells = {k: {"score": scores.get(k, v), "max_score": v, "autograded": True} for k, v in CELLS.items()}
    cells["a_answer"] = {"score": 0.0, "max_score": 0.0, "autograded": False}
    auto = [c for c in cells.values() if c["autograded"]]
    return {
        "cells": cells,
        "autograded_score": sum(c["score"] for c in auto),
        "autograded_max": sum(c["max_score"] for c in auto),
    }


FULL: dict[str, float] = {}
ZERO = dict.fromkeys(CELLS, 0.0)
MUTANTS = [
    Mutant("wrong_a", breaks={"a"}),
    Mutant("wrong_b", breaks={"b"}),
    Mutant("hidden_only_a", breaks={"a"}, partial=True),
]


def _graded(**override: dict[str, float]) -> dict[str, dict]:
    runs = {
        "solution-seed0": FULL,
        "solution-seed1": FULL,
        "release": ZERO,
        "wrong_a": {"a_test_visible": 0.0, "a_test_hidden": 0.0},
        "wrong_b": {"b_test_hidden": 0.0},
        "hidden_only_a": {"a_test_hidden": 0.0},
    }
    runs.update(override)
    return {k: _record(v) for k, v in runs.items()}


SEEDS = ["solution-seed0", "solution-seed1"]


def test_a_good_grader_has_no_problems() -> None:
    q = quality.analyse(AID, _graded(), MUTANTS, SEEDS, {s: {"a_test_hidden": 0.5} for s in SEEDS})
    assert q.problems == []
    assert q.parts == {"a": ["a_test_hidden", "a_test_visible"], "b": ["b_test_hidden"]}
    assert {m["name"]: m["failed"] for m in q.mutants} == {
        "wrong_a": ["a_test_hidden", "a_test_visible"],
        "wrong_b": ["b_test_hidden"],
        "hidden_only_a": ["a_test_hidden"],
    }
    assert q.mutants[0]["parts"] == {"a": [0.0, 3.0], "b": [2.0, 2.0]}
    assert q.runtimes == {"a_test_hidden": {"mean": 0.5, "max": 0.5}}


def test_a_test_whose_score_changes_with_the_seed_is_flaky() -> None:
    q = quality.analyse(AID, _graded(**{"solution-seed1": {"b_test_hidden": 0.0}}), MUTANTS, SEEDS)
    assert "flaky test b_test_hidden: the solution scored [0.0, 2.0] over 2 seeds" in q.problems
    assert any(p.startswith("solution-seed1: 3.0/5.0") for p in q.problems)  # not full marks either


def test_a_test_no_mutant_fails_is_toothless() -> None:
    q = quality.analyse(AID, _graded(), [m for m in MUTANTS if m.name != "wrong_b"], SEEDS)
    assert q.problems == ["toothless test b_test_hidden: no mutant fails it"]


def test_a_mutant_that_loses_nothing_is_toothless() -> None:
    q = quality.analyse(AID, _graded(hidden_only_a=FULL), MUTANTS, SEEDS)
    assert "toothless mutant hidden_only_a: it loses no points" in q.problems


def test_breaks_not_honoured_and_a_scoring_release_are_problems() -> None:
    graded = _graded(wrong_b={"b_test_hidden": 0.0, "a_test_hidden": 0.0}, release={"b_test_hidden": 0.0})
    q = quality.analyse(AID, graded, MUTANTS, SEEDS)
    assert "wrong_b: part a scored 1.0/3.0 but it is not broken" in q.problems
    assert "release: scored 3.0, expected 0" in q.problems
    assert q.mutants[1]["problems"] == ["wrong_b: part a scored 1.0/3.0 but it is not broken"]


def test_missing_runs_are_a_clear_error() -> None:
    graded = _graded()
    del graded["wrong_b"]
    with pytest.raises(ValueError, match=r"no grades for \['wrong_b'\]"):
        quality.analyse(AID, graded, MUTANTS, SEEDS)


def test_every_value_is_escaped_in_the_page(tmp_path: Path) -> None:
    evil = Mutant("<script>alert(1)</script>", breaks={"a"})
    graded = _graded(**{evil.name: {"a_test_visible": 0.0, "a_test_hidden": 0.0}})
    q = quality.analyse(AID, graded, [*MUTANTS, evil], SEEDS)
    page = quality.write_html(q, tmp_path / "quality.html").read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert json.loads((tmp_path / "quality.json").read_text())["mutants"][3]["name"] == evil.name


def test_seeded_copies_start_with_their_seed_and_reject_bad_seeds() -> None:
    nb = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", as_version=4)
    copy = quality.seeded(nb, 7)
    assert "torch.manual_seed(7)" in copy.cells[0].source and copy.cells[1:] == nb.cells
    assert len(nb.cells) == len(copy.cells) - 1  # the original is not changed
    assert "torch" not in quality.seeded(nb, 7, torch=False).cells[0].source
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="seed must be a non-negative int"):
            quality.seeded(nb, bad)


@pytest.mark.parametrize("assignment", sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()))
def test_seed_cell_is_never_flagged_by_the_assignments_rules(assignment: str) -> None:
    """The seed cell is read like a student's cell: it must pass every assignment's static checks."""
    from seqcourse.grading.rules import load_rules

    rules = load_rules(ROOT / "solutions" / assignment)
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    copy = quality.seeded(nb, 3, quality.torch_allowed(rules))
    assert rules.static_flags(copy, nb) == []


# ------------------------------------------------------------------------------------ end to end (a00)
@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("quality") / "a00"
    return cli.main(["quality", AID, "--seeds", "3", "--workers", "2", "--out", str(out)]), out


@pytest.mark.slow
def test_a00_grader_passes_the_quality_report(clean_run: tuple[int, Path]) -> None:
    code, out = clean_run
    q = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert code == 0 and q["problems"] == []
    assert (out / "grading" / "autograded").is_dir() and not (out / "grading" / "feedback").exists()
    assert [s["student"] for s in q["seeds"]] == [quality.seed_name(s) for s in range(3)]
    assert {s["score"] for s in q["seeds"]} == {16.0}
    assert set(q["runtimes"]) == set(q["cells"]) and all(t["max"] > 0 for t in q["runtimes"].values())
    caught = {k for m in q["mutants"] for k in m["failed"]}
    assert caught == set(q["cells"])
    page = (out / "quality.html").read_text(encoding="utf-8")
    assert "local_weights_one_row" in page and "没有发现问题" in page
    remote = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
    assert remote == [] and "<script" not in page, "the report must work offline"


FLAKY_TEST = """\
# a hidden test that depends on the student's global random state: flaky
### BEGIN HIDDEN TESTS
assert _draw > 0.5, _draw
### END HIDDEN TESTS
"""


@pytest.mark.slow
def test_a_flaky_test_and_toothless_tests_and_mutants_fail_the_report(tmp_path: Path, capsys) -> None:
    source = tmp_path / "solutions"
    shutil.copytree(ROOT / "solutions" / AID, source / AID)
    path = source / AID / f"{AID}.ipynb"
    nb = nbformat.read(path, as_version=4)
    index = next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "a_rnn_answer"
    )
    nb.cells[index].source = nb.cells[index].source.replace(
        "### END SOLUTION", "import random\n\n_draw = random.random()\n### END SOLUTION"
    )
    test = nbformat.v4.new_code_cell(FLAKY_TEST)
    test.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "a_test_draw",
        "locked": True,
        "points": 1,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    nb.cells.insert(index + 1, test)
    nbformat.write(nb, path)
    mutants = tmp_path / "mutants.py"
    mutants.write_text(
        "from seqcourse.grading.mutants import Mutant\n\n"
        'MUTANTS = [Mutant("only_a_comment", breaks=set(), '
        'edits={"c_conv_answer": [("return (size", "# the same\\n    return (size")]})]\n'
    )
    argv = ["quality", AID, "--source", str(source), "--mutants", str(mutants), "--seeds", "2"]
    code = cli.main([*argv, "--workers", "2", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    # random.seed(0|1).random() = 0.84, 0.13: the draw test fails with seed 1 only (mutants: seed 0)
    assert "flaky test a_test_draw: the solution scored [0.0, 1.0] over 2 seeds" in err
    assert "toothless mutant only_a_comment: it loses no points" in err
    assert "toothless test c_test_hidden: no mutant fails it" in err
    page = (tmp_path / "out" / "quality.html").read_text(encoding="utf-8")
    assert "flaky test a_test_draw" in page and "toothless mutant only_a_comment" in page


def test_bad_mutants_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("MUTANTS = ['not a mutant']\n")
    assert cli.main(["quality", AID, "--mutants", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "MUTANTS must be a non-empty list of Mutant" in capsys.readouterr().err


@pytest.mark.browser
def test_report_in_chromium(browser, clean_run: tuple[int, Path]) -> None:
    """The report as an instructor opens it; the screenshot goes to test-artifacts/instructor/."""
    _, out = clean_run
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((out / "quality.html").as_uri())
    assert page.locator("td.caught").count() >= 13  # every mutant fails at least one test
    assert page.locator("text=local_weights_one_row").first.is_visible()
    shots = ROOT / "test-artifacts" / "instructor"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "quality.png"), full_page=True)
    page.close()
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
