"""``seqcourse-grade late``: the policy's boundaries, extensions, tokens, caps, and grades.csv rewritten."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from seqcourse.grading import late

POLICY = """
deadline = 2026-10-08T23:59:00+08:00
grace_minutes = 15
penalty_per_day = 0.10
max_penalty = 0.50
tokens_per_student = 2

[extensions]
alice = 2026-10-10T23:59:00+08:00

[tokens_spent]
bob = 1
carol = 2
"""
DEADLINE = datetime(2026, 10, 8, 23, 59, tzinfo=timezone(timedelta(hours=8)))
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


@pytest.fixture()
def policy(tmp_path: Path) -> late.Policy:
    (tmp_path / "late.toml").write_text(POLICY, encoding="utf-8")
    return late.load_policy(tmp_path / "late.toml")


@pytest.mark.parametrize(
    "student, after_deadline, fraction, words",
    [
        ("dora", timedelta(0), 0.0, "on time"),  # exactly at the deadline
        ("dora", -timedelta(hours=3), 0.0, "on time"),
        ("dora", timedelta(minutes=15), 0.0, "grace period"),  # the last second of the grace period
        ("carol", timedelta(minutes=15) + SECOND, 0.10, "1 day(s) late"),  # no tokens left
        ("carol", DAY, 0.10, "1 day(s) late"),
        ("carol", DAY + SECOND, 0.20, "2 day(s) late"),
        ("carol", 10 * DAY, 0.50, "capped at 50%"),
        ("dora", 3 * DAY, 0.10, "2 token(s) used"),  # two tokens forgive two of three days
        ("bob", 2 * DAY, 0.10, "1 token(s) used"),  # one token left after an earlier assignment
        ("alice", 2 * DAY, 0.0, "extension"),  # exactly at her extended deadline
        ("alice", 2 * DAY + timedelta(hours=1), 0.0, "1 token(s) used"),  # late on the extension, one token
        ("alice", 5 * DAY, 0.10, "3 day(s) late"),  # 3 days after the extension, 2 tokens, 1 day charged
    ],
)
def test_boundaries(policy, student: str, after_deadline: timedelta, fraction: float, words: str) -> None:
    a = late.adjust(policy, student, DEADLINE + after_deadline, 8.0)
    assert a.penalty == pytest.approx(8.0 * fraction)
    assert a.final == pytest.approx(8.0 * (1 - fraction))
    assert words in a.rule


@pytest.mark.parametrize(
    "text, message",
    [
        ("grace_minutes = 5", "'deadline' is required"),
        ("deadline = 2026-10-08T23:59:00", "time zone"),
        ("deadline = 2026-10-08T23:59:00Z\npenalty_per_day = 10", "fraction in \\[0, 1\\]"),
        ("deadline = 2026-10-08T23:59:00Z\ntokens_per_student = -1", "whole number"),
        ("deadline = 2026-10-08T23:59:00Z\ngrace = 5", "unknown keys \\['grace'\\]"),
        ("deadline = 2026-10-08T23:59:00Z\n[extensions]\nx = 2026-10-09", "extensions.x"),
    ],
)
def test_bad_policies_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "p.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        late.load_policy(tmp_path / "p.toml")


def _stamp(folder: Path, when: datetime) -> None:
    (folder / "a00_warmup").mkdir(parents=True)
    utc = when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    (folder / "a00_warmup" / "timestamp.txt").write_text(utc, encoding="utf-8")


def test_grades_csv_records_every_adjustment_and_reruns_from_the_raw_score(tmp_path: Path, policy) -> None:
    subs = tmp_path / "submissions"
    _stamp(subs / "dora", DEADLINE + timedelta(minutes=5))
    _stamp(subs / "carol", DEADLINE + DAY + SECOND)
    _stamp(subs / "erin", DEADLINE)
    (subs / "frank").mkdir(parents=True)  # no timestamp
    grades = tmp_path / "grades.csv"
    rows = [
        ["student_id", "score", "max_score", "status", "reason", "a"],
        ["dora", "8", "10", "graded", "", "8"],
        ["carol", "10", "10", "graded", "", "10"],
        ["erin", "0", "10", "error", "kernel died", "0"],
        ["frank", "6", "10", "graded", "", "6"],
    ]
    with grades.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)

    for _ in range(2):  # the second run must give the same result, not a second penalty
        assert (
            late.main([str(tmp_path / "late.toml"), "--grades", str(grades), "--submissions", str(subs)]) == 0
        )
        with grades.open(newline="", encoding="utf-8") as fh:
            out = {r["student_id"]: r for r in csv.DictReader(fh)}
        assert list(next(iter(out.values()))) == [*rows[0], *late.LATE_COLUMNS]
        assert (out["dora"]["score"], out["dora"]["late_penalty"]) == ("8", "0")
        assert "grace period" in out["dora"]["late_rule"]
        assert (out["carol"]["raw_score"], out["carol"]["late_penalty"], out["carol"]["final_score"]) == (
            "10",
            "2",
            "8",
        )
        assert out["carol"]["score"] == "8"
        assert out["erin"]["late_rule"].startswith("not graded")
        assert out["frank"]["late_rule"].startswith("no timestamp")
        assert out["frank"]["score"] == "6"


@pytest.fixture(autouse=True)
def _policy_file(tmp_path: Path) -> None:
    (tmp_path / "late.toml").write_text(POLICY, encoding="utf-8")
