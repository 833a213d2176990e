"""Re-verifiable grades: the digests in ``grades.csv`` and ``seqcourse-grade verify`` on a00 (three students:
an unchanged grade agrees, a tampered submission and a changed hidden test are reported by their cause).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from seqcourse.grading import cli, lms, verify
from seqcourse.grading.ingest import collect
from seqcourse.grading.mutants import answer_cells, apply_edits, fill_release, load_mutants
from seqcourse.grading.provenance import PROVENANCE_COLUMNS, environment_sha256

ROOT = Path(__file__).resolve().parents[1]
AID = "a00_warmup"
NB = f"{AID}.ipynb"

pytestmark = pytest.mark.slow


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["student_id"]: r for r in csv.DictReader(fh)}


def _tree_sha256(folder: Path) -> str:
    """The documented source digest, computed here independently: relative path + bytes, sorted."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """a00 graded for alice (the solution), bob (a wrong LSTM count) and carol (the blank release)."""
    tmp = tmp_path_factory.mktemp("verify")
    subs = tmp / "submitted"
    source = nbformat.read(ROOT / "solutions" / AID / NB, as_version=4)
    release = nbformat.read(ROOT / "assignments" / AID / NB, as_version=4)
    (subs / "alice").mkdir(parents=True)
    nbformat.write(source, subs / "alice" / NB)
    wrong = next(
        m for m in load_mutants(ROOT / "tests" / "mutants" / f"{AID}.py") if m.name == "lstm_one_gate"
    )
    fill_release(release, apply_edits(answer_cells(source), wrong), subs / "bob" / NB)
    (subs / "carol").mkdir()
    nbformat.write(release, subs / "carol" / NB)
    out = tmp / "run"
    assert cli.main([AID, str(subs), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    return {"tmp": tmp, "subs": subs, "grades": out / "grades.csv"}


def test_every_row_carries_the_digests_of_what_it_was_computed_from(run) -> None:
    rows = _rows(run["grades"])
    assert set(rows) == {"alice", "bob", "carol"}
    assert list(next(iter(rows.values())))[-3:] == PROVENANCE_COLUMNS
    subs, _ = collect(run["subs"], AID, [AID])
    assert {s.student_id: s.digest() for s in subs} == {k: r["submission_sha256"] for k, r in rows.items()}
    assert len({r["submission_sha256"] for r in rows.values()}) == 3
    assert {r["source_sha256"] for r in rows.values()} == {_tree_sha256(ROOT / "solutions" / AID)}
    env = json.loads((run["grades"].parent / "grades.environment.json").read_text(encoding="utf-8"))
    assert env["environment_sha256"] == environment_sha256(env["environment"])
    assert {r["environment_sha256"] for r in rows.values()} == {env["environment_sha256"]}
    for package in ("seqcourse", "numpy", "torch", "nbgrader"):
        assert env["environment"]["packages"][package][0].isdigit()
    assert float(rows["alice"]["score"]) == 16 and float(rows["bob"]["b1"]) == 0


def test_lms_export_ignores_the_digest_columns(run) -> None:
    _, parts = lms.read_grades(run["grades"])
    assert parts == ["a", "b1", "b2", "c", "d", "e"]


def test_unchanged_submissions_are_verified(run, capsys) -> None:
    out = run["tmp"] / "v-same"
    argv = ["verify", AID, str(run["subs"]), "--grades", str(run["grades"]), "--out", str(out)]
    assert cli.main([*argv, "--sample", "2", "--seed", "1", "--workers", "2"]) == 0
    rows = _rows(out / "verify.csv")
    chosen = verify.choose(["alice", "bob", "carol"], None, 2, 1)
    assert {k: r["verdict"] for k, r in rows.items()} == dict.fromkeys(chosen, "agrees")
    assert "2/2 grades reproduced" in capsys.readouterr().out
    page = (out / "verify.html").read_text(encoding="utf-8")
    assert "一致 (agrees)" in page and "<script" not in page


@pytest.fixture(scope="module")
def audit(run) -> dict:
    """verify alice and bob after bob changed his notebook and the instructor a hidden test's points (one
    re-grade for both causes)."""
    subs = run["tmp"] / "tampered"
    shutil.copytree(run["subs"], subs)
    nb = nbformat.read(subs / "bob" / NB, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "b1_lstm_answer")
    cell.source = cell.source.replace("return per_gate", "return 4 * per_gate")  # bob fixes it afterwards
    nbformat.write(nb, subs / "bob" / NB)
    source = run["tmp"] / "solutions"
    shutil.copytree(ROOT / "solutions" / AID, source / AID)
    nb = nbformat.read(source / AID / NB, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "a_test_hidden")
    cell.metadata.nbgrader["points"] = 3  # was 2
    nbformat.write(nb, source / AID / NB)
    out = run["tmp"] / "v-changed"
    argv = ["verify", AID, str(subs), "--grades", str(run["grades"]), "--students", "bob,alice"]
    code = cli.main([*argv, "--source", str(source), "--out", str(out), "--workers", "2"])
    return {"code": code, "out": out, "rows": _rows(out / "verify.csv")}


def test_a_tampered_submission_is_reported_as_changed(audit) -> None:
    assert audit["code"] == 1
    bob = audit["rows"]["bob"]
    assert bob["verdict"] == "differs"
    assert "submission changed" in bob["differences"]
    assert "grade differs: part b1 0 -> 3" in bob["differences"]


def test_a_changed_hidden_test_is_reported_as_a_source_change(audit) -> None:
    alice = audit["rows"]["alice"]
    assert set(audit["rows"]) == {"alice", "bob"} and alice["verdict"] == "differs"
    assert "source changed" in alice["differences"] and "submission changed" not in alice["differences"]
    assert "grade differs: part a 3 -> 4" in alice["differences"]
    assert "source changed" in audit["rows"]["bob"]["differences"]


def test_only_an_environment_change_is_reported_but_the_grade_stands() -> None:
    recorded = {
        "student_id": "s",
        "score": "5",
        "status": "graded",
        "a": "5",
        "submission_sha256": "x" * 64,
        "source_sha256": "y" * 64,
        "environment_sha256": "old" + "0" * 61,
    }
    regraded = {**recorded, "environment_sha256": "new" + "0" * 61}
    check = verify.compare(recorded, regraded, ["a"], ["packages.torch 2.12.0 -> 2.13.0"])
    assert check.verdict == "agrees" and check.differences == []
    assert check.notes == [
        "environment changed (old000000000 -> new000000000): packages.torch 2.12.0 -> 2.13.0"
    ]
    late = {**recorded, "score": "4", "raw_score": "5"}  # a late penalty is not a grade difference
    assert verify.compare(late, regraded, ["a"]).verdict == "agrees"
    assert verify.compare(recorded, None, ["a"]).differences[0].startswith("submission missing")


def test_choosing_students() -> None:
    everyone = ["a", "b", "c", "d"]
    assert verify.choose(everyone, None, None, 0) == everyone
    assert verify.choose(everyone, ["c", "a"], None, 0) == ["a", "c"]
    assert verify.choose(everyone, None, 2, 5) == verify.choose(everyone, None, 2, 5)
    assert len(verify.choose(everyone, None, 9, 0)) == 4
    with pytest.raises(ValueError, match=r"not in the grades file: \['zed'\]"):
        verify.choose(everyone, ["zed"], None, 0)
    with pytest.raises(ValueError, match="--sample must be a positive int"):
        verify.choose(everyone, None, 0, 0)


@pytest.mark.browser
def test_report_in_chromium(browser, audit) -> None:
    """The verify report of the audit above, as an instructor opens it (screenshot for the README)."""
    page = browser.new_page(viewport={"width": 1280, "height": 600})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((audit["out"] / "verify.html").as_uri())
    assert page.locator("tr.differs").count() == 2
    assert page.locator("text=submission changed").first.is_visible()
    shots = ROOT / "test-artifacts" / "instructor"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "verify.png"), full_page=True)
    page.close()
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
