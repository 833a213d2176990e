"""``make student-edition``: the public tree has the book, released assignments and package, and no secret."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import broken_links

from seqcourse.grading import edition

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("edition") / "seqcourse-student"
    done = subprocess.run(
        [sys.executable, "-m", "seqcourse.grading.edition", str(dest)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "none shows any of" in done.stdout
    return dest


def test_the_edition_has_what_students_use_and_nothing_of_the_instructor(student):
    for name in (
        "book/intro.md",
        "book/_ext/seqcourse_site/__init__.py",
        "_config.yml",
        "_toc.yml",
        "seqcourse/__init__.py",
        "pyproject.toml",
        "package-lock.json",
        "README.md",
        "LICENSE",
        "Makefile",
    ):
        assert (student / name).is_file(), name
    released = sorted(p.name for p in (ROOT / "assignments").iterdir() if p.is_dir())
    assert released and sorted(p.name for p in (student / "assignments").iterdir()) == released
    for name in ("solutions", "tests", "hub", "benchmarks", "nbgrader_config.py", ".git", "_build"):
        assert not (student / name).exists(), name
    assert not list(student.rglob("__pycache__"))


def test_the_readme_is_the_students_and_every_link_in_it_resolves(student):
    readme = (student / "README.md").read_text(encoding="utf-8")
    assert readme == edition.STUDENT_README.read_text(encoding="utf-8")
    assert readme.index("make book") < readme.index("make serve")
    for instructor_only in ("solutions/", "seqcourse-grade", "make test", "deploy/", "mutant"):
        assert instructor_only not in readme, instructor_only
    named = r"`((?:book|assignments|seqcourse)/[^`<]*|[A-Za-z_.-]+\.(?:ya?ml|toml|md|json))`"  # paths
    for path in re.findall(named, readme):
        assert (student / path).exists(), f"README names {path}, which the edition does not have"
    assert broken_links(student / "README.md") == []


def test_the_student_makefile_keeps_only_student_targets(student):
    makefile = (student / "Makefile").read_text(encoding="utf-8")
    for target in ("book:", "serve:", "setup:", "vendor:"):
        assert f"\n{target}" in makefile, target
    for target in ("test:", "unit:", "release:", "grade:", "hub:", "bench:", "student-edition:"):
        assert f"\n{target}" not in makefile, target
    done = subprocess.run(["make", "-n", "-C", str(student), "serve"], capture_output=True, text=True)
    assert "http.server" in done.stdout, done.stdout + done.stderr


def test_the_scan_finds_no_secret_and_catches_planted_ones(student, tmp_path):
    secret = edition.course_secrets()
    assert len(secret) > 100, "too few solution / hidden-test lines to check"
    assert edition.find_secrets(student, secret) == []
    # planted leaks: a solution notebook in the book, one hidden-test line in the package, a mutants file
    leaky = tmp_path / "leaky"
    shutil.copytree(student, leaky)
    shutil.copy(ROOT / "solutions" / "a02_bptt" / "a02_bptt.ipynb", leaky / "book" / "extra.ipynb")
    hidden = sorted(
        edition.secret_lines(
            nbformat.read(ROOT / "solutions/a05_language_model/a05_language_model.ipynb", as_version=4),
            regions=("HIDDEN TESTS",),
        )
        & secret
    )[0]
    with (leaky / "seqcourse" / "utils.py").open("a", encoding="utf-8") as f:
        f.write(f"\n{hidden}\n")
    (leaky / "tests").mkdir()
    hits = edition.find_secrets(leaky, secret)
    assert any(h.startswith("book/extra.ipynb: ") and "marker" not in h for h in hits)
    assert any(h.startswith("book/extra.ipynb: nbgrader marker") for h in hits)
    assert f"seqcourse/utils.py: {hidden.strip()}" in hits
    assert "tests/ (instructor folder)" in hits


def test_the_writer_refuses_a_used_folder_and_the_repository_itself(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="empty or new folder"):
        edition.write_student_edition(tmp_path)
    with pytest.raises(ValueError, match="outside the course repository"):
        edition.write_student_edition(ROOT / "_build" / "student")


def test_make_student_edition_runs_the_writer_and_the_check():
    done = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "student-edition", "DEST=/tmp/x"], capture_output=True, text=True
    )
    assert "-m seqcourse.grading.edition /tmp/x" in done.stdout, done.stdout + done.stderr
