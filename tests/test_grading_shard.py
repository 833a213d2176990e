"""Sharded grading: 3 workers on one PostgreSQL queue, one SIGKILLed mid-run, grades as in one run."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_grading_postgres import postgres  # noqa: F401  (the real PostgreSQL server fixture)

from seqcourse.grading.mutants import answer_cells, fill_release

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "a00_warmup"
JOB = ROOT / "deploy" / "k8s" / "grading-job.yaml"


def _submissions(dest: Path) -> dict[str, str]:
    """42 students: 21 full solutions, 15 with one plausible wrong answer (partial), 6 untouched releases.

    The wrong answers are the grading fixtures' (``tests/fixtures/grading/cases.py``: one per answer cell);
    a00 is the cheapest assignment to grade.
    """
    spec = importlib.util.spec_from_file_location("grading_cases", ROOT / "tests/fixtures/grading/cases.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    name = f"{ASSIGNMENT}.ipynb"
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / name, as_version=4)
    release = nbformat.read(ROOT / "assignments" / ASSIGNMENT / name, as_version=4)
    answers = answer_cells(source)
    kinds = {}
    for k in range(21):
        fill_release(release, answers, dest / f"full_{k:02d}" / ASSIGNMENT / name)
        kinds[f"full_{k:02d}"] = "full"
    for grade_id, wrong in sorted(cases.WRONG.items()):
        for k in range(3):
            student = f"wrong_{grade_id}_{k}"
            fill_release(release, {**answers, grade_id: wrong}, dest / student / ASSIGNMENT / name)
            kinds[student] = "partial"
    for k in range(6):
        fill_release(release, {}, dest / f"release_{k}" / ASSIGNMENT / name)
        kinds[f"release_{k}"] = "release"
    return kinds


def _cli(*args: str, env: dict, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "seqcourse.grading.cli", *args]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw
    )


def _check(proc: subprocess.Popen, timeout: float = 600) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.exhaustive  # about 4 minutes on 2 cores: beyond CI's budget, in make test-exhaustive
def test_three_workers_one_killed_grade_like_one_run(postgres, tmp_path):  # noqa: F811
    from sqlalchemy import create_engine, text

    from seqcourse.grading.pipeline import _postgres_driver
    from seqcourse.grading.shard import TABLE

    start = time.perf_counter()
    kinds = _submissions(tmp_path / "subs")
    assert len(kinds) >= 40
    common = ["--source", str(ROOT / "solutions")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SEQCOURSE_TEST_DB_URL": postgres}
    assert "SEQCOURSE_TEST_DB_URL" not in postgres  # the URL itself travels only in the environment
    db = ["--db-url", "env:SEQCOURSE_TEST_DB_URL"]

    # the reference: one single-machine run (its own SQLite gradebook)
    single = _cli(
        ASSIGNMENT,
        str(tmp_path / "subs"),
        "--out",
        str(tmp_path / "single"),
        "--workers",
        "2",
        "--no-progress",
        *common,
        env=env,
    )
    _check(single)
    t_single = time.perf_counter() - start

    _check(
        _cli(
            "shard",
            "enqueue",
            ASSIGNMENT,
            str(tmp_path / "subs"),
            "--out",
            str(tmp_path / "coord"),
            *db,
            *common,
            env=env,
        )
    )
    engine = create_engine(_postgres_driver(postgres))
    workers = {
        w: _cli(
            "shard",
            "work",
            ASSIGNMENT,
            "--out",
            str(tmp_path / w),
            *db,
            *common,
            "--worker",
            w,
            "--lease",
            "6",
            "--poll",
            "1",
            env=env,
            start_new_session=True,
        )
        for w in ("w0", "w1", "w2")
    }
    # SIGKILL w1 (and its grading processes, as when a pod dies) while it holds a claim
    victim, deadline = None, time.monotonic() + 300
    while victim is None and time.monotonic() < deadline:
        with engine.connect() as conn:
            victim = conn.execute(
                text(f"SELECT student FROM {TABLE} WHERE worker = 'w1' AND state = 'claimed'")
            ).scalar()
        time.sleep(0.2)
    assert victim is not None, "worker w1 never claimed a submission"
    os.killpg(workers["w1"].pid, signal.SIGKILL)
    workers["w1"].wait()
    for w in ("w0", "w2"):
        _check(workers[w])
    report = _check(
        _cli("shard", "report", ASSIGNMENT, "--out", str(tmp_path / "coord"), *db, *common, env=env)
    )
    print(f"single run {t_single:.0f} s, whole test {time.perf_counter() - start:.0f} s; {report.strip()}")

    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT student, state, worker, attempts FROM {TABLE}")).all()
    engine.dispose()
    # every student exactly once, finished, and the killed worker's claim finished by another worker
    assert sorted(r.student for r in rows) == sorted(kinds)
    assert {r.state for r in rows} == {"done"}
    by_student = {r.student: r for r in rows}
    assert by_student[victim].worker in {"w0", "w2"} and by_student[victim].attempts >= 2
    assert {r.worker for r in rows} <= {"w0", "w1", "w2"}

    # the same grades.csv: columns, order, scores, statuses, parts and reasons; the one allowed difference is
    # the sandbox's note that it cleaned up processes the killed worker's kernel left behind
    ref = (tmp_path / "single" / "grades.csv").read_text()
    stray = re.compile(r"(; )?\d+ stray processes were killed")
    assert stray.sub("", (tmp_path / "coord" / "grades.csv").read_text()) == stray.sub("", ref)
    # ...and the mix really is a mix: full, partial and zero scores
    import csv

    scores = {
        r["student_id"]: (float(r["score"]), float(r["max_score"])) for r in csv.DictReader(ref.splitlines())
    }
    full = {s for st, (s, _) in scores.items() if kinds[st] == "full"}
    assert full == {16.0}  # every autograded point (the written part (e) is graded by hand)
    assert all(0 < s < 16 for st, (s, _) in scores.items() if kinds[st] == "partial")
    assert all(s == 0 for st, (s, _) in scores.items() if kinds[st] == "release")

    # the shared gradebook holds one submission per student with the same total
    from nbgrader.api import Gradebook

    with Gradebook(_postgres_driver(postgres), course_id="seqcourse") as gb:
        subs = gb.assignment_submissions(ASSIGNMENT)
        assert sorted(s.student.id for s in subs) == sorted(kinds)
        assert {s.student.id: s.score for s in subs} == {st: s for st, (s, _) in scores.items()}


def test_job_manifest_runs_confined_workers_with_the_password_from_a_secret():
    """The Indexed Job and its NetworkPolicy say what deploy/README.md promises (the schema is checked in
    tests/test_deploy.py)."""
    import yaml

    job, policy = yaml.safe_load_all(JOB.read_text(encoding="utf-8"))
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    (worker,) = pod["containers"]
    assert worker["securityContext"]["allowPrivilegeEscalation"] is False
    assert worker["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert worker["resources"]["limits"]["cpu"] and worker["resources"]["limits"]["memory"]
    command = " ".join(worker["command"] + worker["args"])
    assert "shard work" in command and "--db-url env:GRADEBOOK_URL" in command
    assert "postgresql://" not in command and "password" not in command.lower()
    (url,) = [e for e in worker["env"] if e["name"] == "GRADEBOOK_URL"]
    assert set(url) == {"name", "valueFrom"} and "secretKeyRef" in url["valueFrom"]
    # deny everything but DNS and the database, for exactly these pods
    assert policy["kind"] == "NetworkPolicy" and set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["spec"]["ingress"] == []
    ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"])
    assert ports == [53, 53, 5432]
    assert all(rule.get("to") for rule in policy["spec"]["egress"])  # no rule open to every address
