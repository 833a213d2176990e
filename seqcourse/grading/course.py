"""A small API around the real nbgrader: temporary courses, the release, submissions, autograding, scores.

Everything here drives nbgrader itself (``python -m nbgrader ...`` in a subprocess whose working directory
is the course, so nbgrader reads that course's ``nbgrader_config.py``) and reads results from nbgrader's own
gradebook (``nbgrader.api.Gradebook``). It does not sandbox student code: see the other modules of
``seqcourse.grading`` for grading untrusted submissions.

A course folder looks like the repository (see ``nbgrader_config.py``)::

    <course>/nbgrader_config.py
    <course>/solutions/<assignment>/<nb>.ipynb          source with solutions and hidden tests
    <course>/assignments/<assignment>/<nb>.ipynb        release, written by generate_assignment
    <course>/submitted/<student>/<assignment>/<nb>.ipynb
    <course>/autograded/<student>/<assignment>/<nb>.ipynb
    <course>/gradebook.db

Grade-cell ids follow ``<part>_<rest>`` (e.g. ``b1_test_hidden``): :func:`scores` sums cells per part.

>>> course = make_course(tmp, "a00_warmup", "solutions")         # doctest: +SKIP
>>> submit(course, "alice", "a00_warmup", "alice/a00_warmup.ipynb")  # doctest: +SKIP
>>> autograde(course, "a00_warmup")                                # doctest: +SKIP
>>> scores(course, "a00_warmup")["alice"]["autograded_score"]      # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "SOURCE_DIR",
    "RELEASE_DIR",
    "PathLike",
    "NbgraderError",
    "repo_root",
    "default_config",
    "course_id",
    "run_nbgrader",
    "make_course",
    "generate_release",
    "submit",
    "autograde",
    "scores",
]

#: Names of the source and release folders; ``tests/test_assignments_sync.py`` checks they match the config.
SOURCE_DIR = "solutions"
RELEASE_DIR = "assignments"

PathLike = str | os.PathLike


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message carries its command line and log."""


def repo_root() -> Path:
    """The checkout this package is installed from (editable install): the folder of ``pyproject.toml``."""
    return Path(__file__).resolve().parents[2]


def default_config() -> Path:
    """The repository's ``nbgrader_config.py``; ``FileNotFoundError`` when the package is not a checkout."""
    path = repo_root() / "nbgrader_config.py"
    if not path.is_file():
        raise FileNotFoundError(f"expected the course configuration at {path}; pass config= explicitly")
    return path


def course_id(course: PathLike) -> str:
    """``CourseDirectory.course_id`` from the course's ``nbgrader_config.py`` (else nbgrader's default)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    value = config.get("CourseDirectory", {}).get("course_id", "")
    return value or "default_course"


def run_nbgrader(course: PathLike, *args: str, timeout: float | None = 600) -> subprocess.CompletedProcess:
    """Run ``python -m nbgrader ARGS`` with ``course`` as the working directory (so its config applies).

    Uses this interpreter, hence this environment's ``python3`` kernel and ``alembic``. Raises
    :class:`NbgraderError` with the full log when nbgrader exits non-zero.
    """
    cmd = [sys.executable, "-m", "nbgrader", *args]
    # nbgrader shells out to `alembic` when it creates a gradebook: find it beside this interpreter
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise NbgraderError(
            f"`{' '.join(cmd[2:])}` failed in {course} with exit code {proc.returncode}:\n"
            f"{proc.stdout}\n{proc.stderr}"
        )
    return proc


def _copy_source(assignment_id: str, source_root: PathLike, dest: Path) -> None:
    src = Path(source_root) / assignment_id
    if not src.is_dir():
        raise FileNotFoundError(f"no assignment source folder {src} (want <source_root>/<assignment_id>/)")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")
    shutil.copytree(src, dest, ignore=ignore)


def make_course(
    tmp_dir: PathLike, assignment_id: str, source_root: PathLike, config: PathLike | None = None
) -> Path:
    """Create a fresh nbgrader course under ``tmp_dir`` with one assignment, released and in the gradebook.

    Copies ``config`` (default: the repository's ``nbgrader_config.py``) and
    ``source_root/assignment_id/`` into ``tmp_dir/course/``, then runs ``nbgrader generate_assignment``,
    which writes ``assignments/<assignment_id>/`` and records the assignment in ``gradebook.db``.
    Returns the course folder.
    """
    course = Path(tmp_dir) / "course"
    if course.exists():
        raise FileExistsError(f"{course} already exists; give make_course an empty temporary folder")
    course.mkdir(parents=True)
    shutil.copyfile(config or default_config(), course / "nbgrader_config.py")
    _copy_source(assignment_id, source_root, course / SOURCE_DIR / assignment_id)
    run_nbgrader(course, "generate_assignment", assignment_id, "--force")
    return course


def generate_release(
    assignment_id: str,
    source_root: PathLike = SOURCE_DIR,
    release_root: PathLike = RELEASE_DIR,
    config: PathLike | None = None,
) -> Path:
    """Regenerate ``release_root/assignment_id/`` from ``source_root/assignment_id/`` with nbgrader.

    nbgrader runs in a temporary course (its gradebook is thrown away), so nothing but the release folder is
    written; the old release folder is replaced as a whole. The output is deterministic: the same source gives
    byte-identical files. Returns the release folder.
    """
    dest = Path(release_root) / assignment_id
    with tempfile.TemporaryDirectory(prefix="seqcourse-release-") as tmp:
        course = make_course(tmp, assignment_id, source_root, config)
        built = course / RELEASE_DIR / assignment_id
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(built, dest, copy_function=shutil.copyfile)
    return dest


def submit(
    course: PathLike,
    student_id: str,
    assignment_id: str,
    notebook_path: PathLike,
    notebook_name: str | None = None,
    timestamp: str | None = None,
) -> Path:
    """Place a student's notebook where ``nbgrader autograde`` looks: ``submitted/<student>/<assignment>/``.

    ``notebook_name`` (default: the file's own name) must be the released notebook's name. ``timestamp``
    (e.g. ``"2025-01-01 12:00:00 UTC"``) is written to ``timestamp.txt`` for late-penalty bookkeeping.
    Returns the submitted file's path.
    """
    if not student_id or "/" in student_id or student_id.startswith("."):
        raise ValueError(f"student_id must be a plain non-empty name, got {student_id!r}")
    folder = Path(course) / "submitted" / student_id / assignment_id
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / (notebook_name or Path(notebook_path).name)
    if dest.suffix != ".ipynb":
        raise ValueError(f"a submitted notebook must end in .ipynb, got {dest.name!r}")
    shutil.copyfile(notebook_path, dest)
    if timestamp is not None:
        (folder / "timestamp.txt").write_text(timestamp + "\n", encoding="utf-8")
    return dest


def autograde(
    course: PathLike, assignment_id: str, students: Iterable[str] | None = None, timeout: float | None = 1800
) -> None:
    """Run the real ``nbgrader autograde`` on the submissions (all of them, or those of ``students``).

    All students are graded in one nbgrader run; a list of students costs one run each (nbgrader selects
    students by a single glob). Re-grading is forced. Scores land in the course's gradebook.
    """
    if students is None:
        run_nbgrader(course, "autograde", assignment_id, "--force", timeout=timeout)
        return
    for student in students:
        run_nbgrader(course, "autograde", assignment_id, "--force", f"--student={student}", timeout=timeout)


def _part(grade_id: str) -> str:
    return grade_id.split("_", 1)[0]


def scores(course: PathLike, assignment_id: str, db_url: str | None = None) -> dict[str, dict]:
    """Read every submission's grades of ``assignment_id`` from the course's gradebook (or ``db_url``).

    Returns ``{student_id: record}`` where ``record`` has

    - ``score`` / ``max_score``: nbgrader's totals (autograded plus manual grades given so far);
    - ``autograded_score`` / ``autograded_max``: over the autograder test cells only;
    - ``needs_manual_grade``: whether a manually graded answer still waits for a grader;
    - ``cells``: ``{grade_id: {"score", "max_score", "autograded", "needs_manual_grade"}}``;
    - ``parts``: ``{part: {"score", "max_score"}}`` summed over the cells whose id starts with ``<part>_``.
    """
    from nbgrader.api import Gradebook

    course = Path(course)
    db_url = db_url or f"sqlite:///{(course / 'gradebook.db').resolve()}"
    result: dict[str, dict] = {}
    with Gradebook(db_url, course_id=course_id(course)) as gb:
        for submission in gb.assignment_submissions(assignment_id):
            cells: dict[str, dict] = {}
            for notebook in submission.notebooks:
                answer_cells = {cell.name for cell in notebook.notebook.solution_cells}
                for grade in notebook.grades:
                    cells[grade.name] = {
                        "score": float(grade.score),
                        "max_score": float(grade.max_score),
                        "autograded": grade.name not in answer_cells,
                        "needs_manual_grade": bool(grade.needs_manual_grade),
                    }
            parts: dict[str, dict] = {}
            for name, cell in sorted(cells.items()):
                part = parts.setdefault(_part(name), {"score": 0.0, "max_score": 0.0})
                part["score"] += cell["score"]
                part["max_score"] += cell["max_score"]
            auto = [c for c in cells.values() if c["autograded"]]
            result[submission.student.id] = {
                "score": float(submission.score),
                "max_score": float(submission.max_score),
                "autograded_score": sum(c["score"] for c in auto),
                "autograded_max": sum(c["max_score"] for c in auto),
                "needs_manual_grade": bool(submission.needs_manual_grade),
                "cells": cells,
                "parts": parts,
            }
    return result
