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
from collections.abc import Iterable
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


def _entries(root: Path, max_bytes: int) -> Iterable[tuple[PurePosixPath, int, object]]:
    """(relative path, size, loader) of every file under a folder or in a zip."""
    if root.is_file() and zipfile.is_zipfile(root):
        zf = zipfile.ZipFile(root)
        for info in zf.infolist():
            if info.is_dir():
                continue
            rel = PurePosixPath(info.filename)
            if rel.is_absolute() or ".." in rel.parts:
                yield rel, info.file_size, None  # refused: an error of that student (or a warning)
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                yield rel, info.file_size, None  # a symbolic link stored in the zip
                continue
            yield rel, info.file_size, (lambda i=info: zf.read(i))
    elif root.is_dir():
        for path in sorted(root.rglob("*")):
            rel = PurePosixPath(path.relative_to(root).as_posix())
            if path.is_symlink():
                yield rel, 0, None  # never followed: an error of that student
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

    ``notebook_names`` are the assignment's notebooks (without ``.ipynb``). A missing or renamed notebook
    becomes a problem of that student (status ``error``); other files are listed in ``extra``.
    """
    expected = list(notebook_names)
    max_bytes = int(max_notebook_mb * 1024 * 1024)
    regex = re.compile(pattern) if pattern else None
    if regex is not None and "student" not in regex.groupindex and regex.groups < 1:
        raise ValueError(f"--pattern must have a group (?P<student>...) or one group, got {pattern!r}")
    files = [e for e in _entries(Path(source), max_bytes) if not (_IGNORED & set(e[0].parts))]
    tops = {rel.parts[0] for rel, _, _ in files}
    if regex is None and len(tops) == 1:  # one wrapping folder, e.g. a zip of submitted/
        wrapped = any(len(rel.parts) >= 4 and rel.parts[2] == assignment_id for rel, _, _ in files)
        if next(iter(tops)) in ("submitted", "submissions") or wrapped:
            files = [
                (PurePosixPath(*rel.parts[1:]), size, load) for rel, size, load in files if len(rel.parts) > 1
            ]
    subs: dict[str, Submission] = {}
    warnings: list[str] = []
    for rel, size, load in files:
        if regex is not None:
            match = regex.search(rel.name)
            if match is None or rel.suffix != ".ipynb":
                warnings.append(f"{rel}: does not match --pattern, ignored")
                continue
            student = match.group("student") if "student" in regex.groupindex else match.group(1)
            name = match.groupdict().get("notebook") or (expected[0] if len(expected) == 1 else rel.stem)
            inner = PurePosixPath(name + ".ipynb")
        else:
            if len(rel.parts) < 2:
                warnings.append(f"{rel}: a file outside any student folder, ignored")
                continue
            student, inner = rel.parts[0], PurePosixPath(*rel.parts[1:])
            if load is None and STUDENT_ID.match(student) and student != "..":
                subs.setdefault(student, Submission(student)).problems.append(
                    f"{inner}: an unsafe path or a symbolic link, refused"
                )
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
        if load is None:
            sub.problems.append(f"{inner}: an unsafe path or a symbolic link, refused")
            continue
        if inner.suffix == ".ipynb" and len(inner.parts) == 1 and inner.stem in expected:
            if inner.stem in sub.notebooks or inner.stem in sub.oversize:
                sub.problems.append(f"two files for notebook {inner.name}")
            elif size > max_bytes:
                sub.oversize[inner.stem] = size
            else:
                sub.notebooks[inner.stem] = load()  # type: ignore[operator]
        else:
            sub.extra.append(str(inner))
    for sub in subs.values():
        for name, size in sub.oversize.items():
            sub.problems.append(
                f"{name}.ipynb is {size / 2**20:.1f} MB, over the {max_notebook_mb:g} MB limit"
            )
        missing = [n for n in expected if n not in sub.notebooks and n not in sub.oversize]
        if missing:
            found = [e for e in sub.extra if e.endswith(".ipynb")]
            sub.problems.append(
                f"missing notebook {', '.join(m + '.ipynb' for m in missing)}"
                + (f" (found {', '.join(found)}: notebooks must keep their released name)" if found else "")
            )
    return [subs[k] for k in sorted(subs)], warnings


def load_notebook(raw: bytes) -> tuple[NotebookNode | None, str | None]:
    """Parse and validate a submitted notebook; return ``(nb, None)`` or ``(None, reason)``."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"not a valid notebook file (invalid JSON: {err})"
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
