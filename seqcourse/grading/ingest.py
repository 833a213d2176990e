"""Find the students' notebooks in a submissions folder or zip, without extracting or modifying anything.

Accepted layouts (a ``.zip`` of any of them works the same; a wrapping ``submitted/`` folder is allowed)::

    <student_id>/<assignment_id>/<notebook>.ipynb     nbgrader's submitted/ layout
    <student_id>/<notebook>.ipynb                     one folder per student
    <anything matching --pattern>.ipynb               LMS flat export, e.g. ``alice_1234_a00_warmup.ipynb``
                                                      with ``--pattern '(?P<student>[^_]+)_'``

Files are only read (zip members in memory); member paths with ``..`` or absolute paths are refused.
Validation (:func:`load_notebook`) turns every malformed notebook into a clear message instead of a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
from nbformat import NotebookNode

__all__ = ["Submission", "collect", "load_notebook", "STUDENT_ID"]

# any folder name is a student id (non-ASCII letters, spaces, a leading "-", shell characters), except
# hidden names, path separators and control characters; it is never put on a command line
STUDENT_ID = re.compile(r"^(?![.])[^/\\\x00-\x1f]{1,128}$")
_IGNORED = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store", "__pycache__"}


@dataclass
class Submission:
    """One student's files for one assignment: notebooks by name (without ``.ipynb``) as raw bytes."""

    student_id: str
    notebooks: dict[str, bytes] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)  # other files, never copied to the kernel
    problems: list[str] = field(default_factory=list)  # reasons this submission cannot be graded
    oversize: dict[str, int] = field(default_factory=dict)  # notebooks over the size limit: name -> bytes

    def digest(self) -> str:
        """sha256 over the notebooks' names and bytes: a changed resubmission is graded again."""
        h = hashlib.sha256()
        for name in sorted(self.notebooks):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.notebooks[name]).digest())
        for name, size in sorted(self.oversize.items()):
            h.update(f"{name}:{size}".encode())
        return h.hexdigest()


_FOLDER = "folder"  # an entry that is a directory: a student folder at the top gives that student a row
_LINKED_FOLDER = "a symbolic link to a folder, refused (never followed)"
_LINK = "a symbolic link, refused (never followed)"


def _entries(root: Path) -> Iterable[tuple[PurePosixPath, int, Callable[[], bytes] | str]]:
    """``(relative path, size, loader)`` of every file and folder under a folder or in a zip.

    The loader is a function returning the bytes, :data:`_FOLDER` for a folder, or the reason an entry is
    refused (a symbolic link, a path leaving the submissions): that student's error, never followed.
    """
    if root.is_file() and zipfile.is_zipfile(root):
        zf = zipfile.ZipFile(root)
        for info in zf.infolist():
            rel = PurePosixPath(info.filename)
            if rel.is_absolute() or ".." in rel.parts:
                yield rel, info.file_size, "an unsafe path (absolute or with '..'), refused"
            elif (info.external_attr >> 16) & 0o170000 == 0o120000:  # a link at the top stands for a folder
                yield rel, info.file_size, _LINKED_FOLDER if len(rel.parts) == 1 else _LINK
            elif info.is_dir():
                yield rel, 0, _FOLDER
            else:
                yield rel, info.file_size, (lambda i=info: zf.read(i))
    elif root.is_dir():
        for path in sorted(root.rglob("*")):  # rglob does not descend into linked folders
            rel = PurePosixPath(path.relative_to(root).as_posix())
            if path.is_symlink():
                yield rel, 0, _LINKED_FOLDER if path.is_dir() else _LINK
            elif path.is_dir():
                yield rel, 0, _FOLDER
            elif path.is_file():
                yield rel, path.stat().st_size, path.read_bytes
    else:
        raise FileNotFoundError(f"submissions must be a folder or a .zip file, got {root}")


def collect(
    source: str | Path,
    assignment_id: str,
    notebook_names: Iterable[str],
    pattern: str | None = None,
    max_notebook_mb: float = 20.0,
) -> tuple[list[Submission], list[str]]:
    """Group the files of ``source`` by student; return ``(submissions, warnings)``.

    ``notebook_names`` are the assignment's notebooks (without ``.ipynb``). Every student folder gives one
    submission, even an empty or a symlinked one; a missing or renamed notebook and a refused entry become
    problems of that student (status ``error``); other files are listed in ``extra``.
    """
    expected = list(notebook_names)
    max_bytes = int(max_notebook_mb * 1024 * 1024)
    regex = re.compile(pattern) if pattern else None
    if regex is not None and "student" not in regex.groupindex and regex.groups < 1:
        raise ValueError(f"--pattern must have a group (?P<student>...) or one group, got {pattern!r}")
    files = [e for e in _entries(Path(source)) if not (_IGNORED & set(e[0].parts))]
    tops = {rel.parts[0] for rel, _, _ in files}
    if regex is None and len(tops) == 1:  # one wrapping folder, e.g. a zip of submitted/
        wrapped = any(len(rel.parts) >= 4 and rel.parts[2] == assignment_id for rel, _, _ in files)
        if next(iter(tops)) in ("submitted", "submissions") or wrapped:
            files = [
                (PurePosixPath(*rel.parts[1:]), size, load) for rel, size, load in files if len(rel.parts) > 1
            ]
    subs: dict[str, Submission] = {}
    seen: set[str] = set()  # students with at least one file (or a refused entry)
    warnings: list[str] = []
    for rel, size, load in files:
        if regex is not None:
            if load == _FOLDER:
                continue
            match = regex.search(rel.name)
            if match is None or rel.suffix != ".ipynb":
                warnings.append(f"{rel}: does not match --pattern, ignored")
                continue
            student = match.group("student") if "student" in regex.groupindex else match.group(1)
            name = match.groupdict().get("notebook") or (expected[0] if len(expected) == 1 else rel.stem)
            inner = PurePosixPath(name + ".ipynb")
        else:
            student, inner = rel.parts[0], PurePosixPath(*rel.parts[1:])
            if len(rel.parts) == 1 and load in (_FOLDER, _LINKED_FOLDER):  # a student folder
                if not STUDENT_ID.match(student) or student == "..":
                    warnings.append(f"{rel}: {student!r} is not a valid student id, ignored")
                elif load == _LINKED_FOLDER:
                    subs.setdefault(student, Submission(student)).problems.append(f"{student}: {load}")
                    seen.add(student)
                else:
                    subs.setdefault(student, Submission(student))
                continue
            if len(rel.parts) < 2:
                warnings.append(f"{rel}: a file outside any student folder, ignored")
                continue
            if load == _FOLDER:
                continue
            if isinstance(load, str) and STUDENT_ID.match(student) and student != "..":
                if len(inner.parts) > 1 and inner.parts[0] == assignment_id:
                    inner = PurePosixPath(*inner.parts[1:])
                subs.setdefault(student, Submission(student)).problems.append(f"{inner}: {load}")
                seen.add(student)
                continue
            if len(inner.parts) > 1:
                if inner.parts[0] != assignment_id:
                    warnings.append(f"{rel}: not in {student}/{assignment_id}/, ignored")
                    continue
                inner = PurePosixPath(*inner.parts[1:])
        if not STUDENT_ID.match(student) or student == "..":
            warnings.append(f"{rel}: {student!r} is not a valid student id, ignored")
            continue
        sub = subs.setdefault(student, Submission(student))
        seen.add(student)
        if isinstance(load, str):
            sub.problems.append(f"{inner}: {load}")
            continue
        if inner.suffix == ".ipynb" and len(inner.parts) == 1 and inner.stem in expected:
            if inner.stem in sub.notebooks or inner.stem in sub.oversize:
                sub.problems.append(f"two files for notebook {inner.name}")
            elif size > max_bytes:
                sub.oversize[inner.stem] = size
            else:
                sub.notebooks[inner.stem] = load()
        else:
            sub.extra.append(str(inner))
    for sub in subs.values():
        for name, size in sub.oversize.items():
            sub.problems.append(
                f"{name}.ipynb is {size / 2**20:.1f} MB, over the {max_notebook_mb:g} MB limit"
            )
        refused = [p.split(":", 1)[0] for p in sub.problems if "refused" in p]
        missing = [
            n
            for n in expected
            if n not in sub.notebooks and n not in sub.oversize and f"{n}.ipynb" not in refused
        ]
        if missing and not {sub.student_id, assignment_id} & set(refused):  # a linked folder says it all
            found = [e for e in sub.extra if e.endswith(".ipynb")]
            sub.problems.append(
                f"no notebook {', '.join(m + '.ipynb' for m in missing)} in the submission"
                + (f" (found {', '.join(found)}: notebooks must keep their released name)" if found else "")
                + ("" if sub.student_id in seen else " (the folder is empty)")
            )
    return [subs[k] for k in sorted(subs)], warnings


def load_notebook(raw: bytes) -> tuple[NotebookNode | None, str | None]:
    """Parse and validate a submitted notebook; return ``(nb, None)`` or ``(None, reason)``."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"not a valid notebook file (invalid JSON: {err})"
    except RecursionError:
        return None, "not a valid notebook file (JSON nested too deeply)"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, "not a notebook (no cells)"
    major = data.get("nbformat")
    if major != 4:
        return None, f"nbformat {major} notebook; only nbformat 4 can be graded (open and save it in Jupyter)"
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # nbformat raises several ValidationError flavours
        return None, f"invalid notebook structure: {str(err).splitlines()[0]}"
    if not nb.cells:
        return None, "empty notebook (no cells)"
    return nb, None
