"""``seqcourse-grade export``: Canvas and Moodle gradebook CSV files, exactly as each LMS imports them."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from seqcourse.grading import lms

ROSTER = [
    {
        "lms_id": "1001",
        "hub_username": "alice",
        "name": "Alice Li",
        "email": "alice@uni.edu",
        "section": "A",
        "sis_user_id": "S1",
        "sis_login_id": "ali",
    },
    {
        "lms_id": "1002",
        "hub_username": "bob",
        "name": "Bob Wang",
        "email": "bob@uni.edu",
        "section": "B",
        "sis_user_id": "S2",
        "sis_login_id": "bwa",
    },
    {
        "lms_id": "1003",
        "hub_username": "王小明",
        "name": "王 小明",
        "email": "wxm@uni.edu",
        "section": "A",
        "sis_user_id": "S3",
        "sis_login_id": "wxm",
    },
    {
        "lms_id": "1004",
        "hub_username": "dora",
        "name": "Dora Chen",
        "email": "dora@uni.edu",
        "section": "B",
        "sis_user_id": "S4",
        "sis_login_id": "dch",
    },
]
GRADES_A00 = [
    ["student_id", "score", "max_score", "status", "reason", "a", "b1"],
    ["alice", "5", "5", "graded", "", "2", "3"],
    ["bob", "3", "5", "flagged", "uses torch.autograd", "0", "3"],
    ["王小明", "0", "5", "error", "notebook is not valid JSON", "0", "0"],
    ["mallory", "5", "5", "graded", "", "2", "3"],  # not on the roster
]
GRADES_A02 = [
    ["student_id", "score", "max_score", "status", "reason", "a"],
    ["alice", "4", "4", "graded", "", "4"],
    ["王小明", "2.5", "4", "graded", "", "2.5"],
]


def _csv(path: Path, rows: list[list[str]] | list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        if rows and isinstance(rows[0], dict):
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        else:
            csv.writer(fh).writerows(rows)
    return path


def _source(root: Path, assignment: str, points: dict[str, float]) -> None:
    cells = []
    for grade_id, pts in points.items():
        cell = nbformat.v4.new_code_cell("assert True")
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": pts, "solution": False}
        cells.append(cell)
    (root / assignment).mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), root / assignment / f"{assignment}.ipynb")


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    source = tmp_path / "solutions"
    _source(source, "a00_warmup", {"a_test_visible": 1, "a_test_hidden": 1, "b1_test_hidden": 3})
    _source(source, "a02_bptt", {"a_test_hidden": 4})
    return {
        "roster": _csv(tmp_path / "roster.csv", ROSTER),
        "a00": _csv(tmp_path / "a00.csv", GRADES_A00),
        "a02": _csv(tmp_path / "a02.csv", GRADES_A02),
        "source": source,
        "out": tmp_path / "out" / "grades.csv",
    }


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _argv(files, lms_name: str, *extra: str) -> list[str]:
    return [
        lms_name,
        "--roster",
        str(files["roster"]),
        "--grades",
        f"a00_warmup={files['a00']}",
        "--grades",
        f"a02_bptt={files['a02']}",
        "--out",
        str(files["out"]),
        *extra,
    ]


def test_canvas_layout(files) -> None:
    code = lms.main(
        _argv(files, "canvas", "--column", "a00_warmup=Warm-up (501)", "--column", "a02_bptt=BPTT (502)")
    )
    assert code == 1  # there are problems to look at (see the next test)
    assert _read(files["out"]) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Warm-up (501)", "BPTT (502)"],
        ["Points Possible", "", "", "", "", "5", "4"],
        ["Alice Li", "1001", "S1", "ali", "A", "5", "4"],
        ["Bob Wang", "1002", "S2", "bwa", "B", "3", ""],
        ["王 小明", "1003", "S3", "wxm", "A", "", "2.5"],
        ["Dora Chen", "1004", "S4", "dch", "B", "", ""],
    ]


def test_moodle_layout(files) -> None:
    lms.main(_argv(files, "moodle", "--column", "a00_warmup=Warm-up"))
    assert _read(files["out"]) == [
        ["First name", "Last name", "ID number", "Email address", "Warm-up", "a02_bptt"],
        ["Alice", "Li", "1001", "alice@uni.edu", "5", "4"],
        ["Bob", "Wang", "1002", "bob@uni.edu", "3", ""],
        ["王", "小明", "1003", "wxm@uni.edu", "", "2.5"],
        ["Dora", "Chen", "1004", "dora@uni.edu", "", ""],
    ]


def test_per_part_columns_take_their_maxima_from_the_source(files) -> None:
    lms.main(_argv(files, "canvas", "--parts", "--source", str(files["source"])))
    rows = _read(files["out"])
    assert rows[0][5:] == ["a00_warmup: a", "a00_warmup: b1", "a02_bptt: a"]
    assert rows[1][5:] == ["2", "3", "4"]
    assert rows[2][5:] == ["2", "3", "4"]  # alice


def test_nobody_is_dropped_silently(files) -> None:
    lms.main(_argv(files, "canvas"))
    with files["out"].with_suffix(".problems.csv").open(encoding="utf-8") as fh:
        found = {(r["student"], r["assignment"], r["problem"].split(":")[0]) for r in csv.DictReader(fh)}
    assert found == {
        ("mallory", "a00_warmup", "in grades.csv but not on the roster"),
        ("bob", "a00_warmup", "flagged for review, score exported"),
        ("王小明", "a00_warmup", "grading error, cell left empty"),
        ("bob", "a02_bptt", "no submission"),
        ("dora", "a00_warmup", "no submission"),
        ("dora", "a02_bptt", "no submission"),
    }


def test_a_clean_export_exits_zero(tmp_path: Path) -> None:
    roster = _csv(tmp_path / "r.csv", [{"lms_id": "7", "hub_username": "x"}])
    grades = _csv(
        tmp_path / "g.csv",
        [["student_id", "score", "max_score", "status", "reason"], ["x", "1", "1", "graded", ""]],
    )
    out = tmp_path / "c.csv"
    assert lms.main(["canvas", "--roster", str(roster), "--grades", f"a={grades}", "--out", str(out)]) == 0


@pytest.mark.parametrize(
    "roster, message",
    [
        ([{"lms_id": "1", "user": "x"}], "missing \\['hub_username'\\]"),
        (
            [{"lms_id": "1", "hub_username": "x"}, {"lms_id": "1", "hub_username": "y"}],
            "lms_id must be unique",
        ),
        (
            [{"lms_id": "1", "hub_username": "x"}, {"lms_id": "2", "hub_username": "x"}],
            "hub_username must be unique",
        ),
    ],
)
def test_bad_rosters_are_clear_errors(tmp_path: Path, roster, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lms.read_roster(_csv(tmp_path / "r.csv", roster))


def test_a_file_that_is_not_grades_csv_is_refused(tmp_path: Path) -> None:
    bad = _csv(tmp_path / "g.csv", [["name", "points"], ["x", "1"]])
    with pytest.raises(ValueError, match="expected a grades.csv"):
        lms.read_grades(bad)
