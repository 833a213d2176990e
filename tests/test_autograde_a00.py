"""a00_warmup graded end to end by the real ``nbgrader autograde``; scores read from the real gradebook.

One temporary course, three submissions graded in one nbgrader run (each starts a kernel):
- ``solution``: the instructor's source notebook -> every autograded point;
- ``blank``: the released notebook, unchanged -> zero;
- ``wrong``: three plausible mistakes (LSTM count without the x4, the lecture-001 output-size formula, a
  float instead of an int) -> exactly the points of parts b1, c and a lost; its correct parts b2 and d
  warn, write to stderr and return NumPy integers, and still keep their full points.
"""

from __future__ import annotations

import html
import re

import nbformat
import pytest

from seqcourse.grading.course import (
    RELEASE_DIR,
    SOURCE_DIR,
    autograde,
    make_course,
    repo_root,
    run_nbgrader,
    scores,
    submit,
)
from seqcourse.grading.mutants import Mutant, answer_cells, apply_edits, fill_release
from seqcourse.grading.release import secret_lines

pytestmark = pytest.mark.slow

AID = "a00_warmup"
NB = f"{AID}.ipynb"


NOISY_WRAPPER = """

_plain_{name} = {name}


def {name}(*args):
    warnings.warn("noisy but correct")
    print("noise on stderr", file=sys.stderr)
    return np.int64(_plain_{name}(*args))
"""


def _noisy(answers: dict[str, str]) -> dict[str, str]:
    """Correct answers wrapped so that they warn, write to stderr and return NumPy integers."""
    noisy = {}
    for grade_id, code in answers.items():
        functions = re.findall(r"^def (\w+)\(", code, flags=re.M)
        if functions:
            code += "".join(NOISY_WRAPPER.format(name=name) for name in functions)
        else:
            names = re.findall(r"^(\w+) = ", code, flags=re.M)
            assert names, f"no function or variable in {grade_id}"
            code += "".join(f"{name} = np.int64({name})\n" for name in names)
        noisy[grade_id] = "import sys\nimport warnings\n\nimport numpy as np\n\n" + code
    return noisy


WRONG = Mutant(
    "wrong",
    breaks={"a", "b1", "c"},
    edits={
        "b1_lstm_answer": [("return 4 * per_gate", "return per_gate")],
        "c_conv_answer": [
            (
                "return (size + 2 * padding - kernel) // stride + 1",
                "return (size - kernel + 1 + 2 * padding) // stride",
            )
        ],
        "a_rnn_answer": [("return u + w + b", "return float(u + w + b)")],
    },
)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("a00")
    course = make_course(tmp, AID, repo_root() / SOURCE_DIR)
    source = nbformat.read(course / SOURCE_DIR / AID / NB, as_version=4)
    release = nbformat.read(course / RELEASE_DIR / AID / NB, as_version=4)
    answers = answer_cells(source)
    assert set(answers) == {"a_rnn_answer", "b1_lstm_answer", "b2_torch_answer", "c_conv_answer", "d_answer"}
    submit(course, "solution", AID, course / SOURCE_DIR / AID / NB)
    submit(course, "blank", AID, course / RELEASE_DIR / AID / NB)
    noisy = _noisy(answers)
    noisy_parts = {key: noisy[key] for key in ("b2_torch_answer", "d_answer")}
    wrong = {**apply_edits(answers, WRONG), **noisy_parts}
    submit(course, "wrong", AID, fill_release(release, wrong, tmp / "wrong" / NB))
    autograde(course, AID)
    run_nbgrader(course, "generate_feedback", AID, "--force")
    for page in (course / "feedback").glob("*/*/*.html"):  # feedback/<student>/<assignment>/<nb>.html
        FEEDBACK[page.parts[-3]] = page.read_text(encoding="utf-8")
    return scores(course, AID)


FEEDBACK: dict[str, str] = {}  # student -> feedback HTML written by plain `nbgrader generate_feedback`


def test_plain_nbgrader_feedback_shows_no_hidden_tests(graded: dict[str, dict]) -> None:
    """nbgrader_config.py strips hidden tests from feedback (nbgrader's default would show them)."""
    assert set(FEEDBACK) == {"solution", "blank", "wrong"}
    source = nbformat.read(repo_root() / SOURCE_DIR / AID / NB, as_version=4)
    hidden_lines = {ln for ln in secret_lines(source, regions=("HIDDEN TESTS",)) if len(ln) > 20}
    assert len(hidden_lines) > 10
    for student, page in FEEDBACK.items():
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        assert "HIDDEN TESTS" not in text, student
        leaked = [ln for ln in hidden_lines if ln in text]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"


AUTOGRADED_PARTS = {"a": 3.0, "b1": 3.0, "b2": 3.0, "c": 4.0, "d": 3.0}


def test_every_submission_was_graded(graded: dict[str, dict]) -> None:
    assert set(graded) == {"solution", "blank", "wrong"}
    for record in graded.values():
        assert record["autograded_max"] == sum(AUTOGRADED_PARTS.values()) == 16.0
        assert record["max_score"] == 18.0  # plus the 2-point written answer
        assert {p: v["max_score"] for p, v in record["parts"].items()} == {**AUTOGRADED_PARTS, "e": 2.0}


def test_solution_gets_every_autograded_point(graded: dict[str, dict]) -> None:
    record = graded["solution"]
    assert record["autograded_score"] == 16.0
    assert all(c["score"] == c["max_score"] for c in record["cells"].values() if c["autograded"])
    # the written answer is not blank, so it waits for a human grader
    assert record["cells"]["e_written"]["needs_manual_grade"] and record["needs_manual_grade"]


def test_unchanged_release_gets_zero(graded: dict[str, dict]) -> None:
    record = graded["blank"]
    assert record["score"] == 0.0 and record["autograded_score"] == 0.0
    assert not record["needs_manual_grade"]  # an untouched written answer is zero without a grader


def test_wrong_answers_lose_exactly_their_parts(graded: dict[str, dict]) -> None:
    # b2 and d are correct but noisy (warnings, stderr, NumPy ints): they must keep every point
    parts = {p: v["score"] for p, v in graded["wrong"]["parts"].items() if p in AUTOGRADED_PARTS}
    assert parts == {"a": 0.0, "b1": 0.0, "b2": 3.0, "c": 0.0, "d": 3.0}
    assert graded["wrong"]["autograded_score"] == 16.0 - 3.0 - 3.0 - 4.0
