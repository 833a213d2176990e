"""Regenerate or check the released assignments (``make release``).

- ``python -m seqcourse.grading.release``: rewrite ``assignments/<id>/`` for every ``solutions/<id>/``;
- ``python -m seqcourse.grading.release a00_warmup``: only that assignment;
- ``python -m seqcourse.grading.release --check``: write nothing, name the stale files and exit 1.

The release is produced by the real ``nbgrader generate_assignment`` (see :func:`course.generate_release`),
so it is deterministic: regenerating an unchanged source gives byte-identical files.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import sys
import tempfile
from pathlib import Path

import nbformat

from seqcourse.grading.course import RELEASE_DIR, SOURCE_DIR, PathLike, generate_release, repo_root

__all__ = ["assignment_ids", "diff_release", "stale_files", "secret_lines", "main"]

SECRET_REGIONS = ("SOLUTION", "HIDDEN TESTS")


def assignment_ids(source_root: PathLike) -> list[str]:
    """Sorted names of the folders of ``source_root`` that hold at least one notebook."""
    root = Path(source_root)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def secret_lines(source_nb: nbformat.NotebookNode, regions: tuple[str, ...] = SECRET_REGIONS) -> set[str]:
    """Stripped lines inside ``### BEGIN <region>`` blocks that occur nowhere else in the source notebook.

    With the default regions (solutions and hidden tests) these must never appear in a release or on the built
    site; with ``regions=("HIDDEN TESTS",)`` they must never appear in a student's feedback.
    """
    pattern = re.compile(rf"### BEGIN ({'|'.join(map(re.escape, regions))})\n(.*?)### END \1", re.S)
    secret, public = set(), set()
    for cell in source_nb.cells:
        text = cell.source + "\n"
        for match in pattern.finditer(text):
            secret.update(line.strip() for line in match.group(2).splitlines())
        public.update(line.strip() for line in pattern.sub("", text).splitlines())
    return {line for line in secret - public if len(line) > 3}


def _files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def diff_release(fresh: PathLike, committed: PathLike) -> list[str]:
    """Files (relative paths) that are missing from, extra in, or differ in ``committed`` vs ``fresh``."""
    fresh, committed = Path(fresh), Path(committed)
    want, have = _files(fresh), _files(committed)
    changed = [f for f in want & have if not filecmp.cmp(fresh / f, committed / f, shallow=False)]
    missing = [f"{f} (missing)" for f in want - have]
    extra = [f"{f} (not generated from the source)" for f in have - want]
    return sorted(missing + extra + [f"{f} (differs)" for f in changed])


def stale_files(assignment_id: str, source_root: PathLike, release_root: PathLike) -> list[str]:
    """Regenerate ``assignment_id`` into a temporary folder and list the committed files that differ.

    Returns paths relative to ``release_root/assignment_id`` (see :func:`diff_release`); empty when the
    committed release is up to date.
    """
    with tempfile.TemporaryDirectory(prefix="seqcourse-release-check-") as tmp:
        fresh = generate_release(assignment_id, source_root, tmp)
        return diff_release(fresh, Path(release_root) / assignment_id)


def main(argv: list[str] | None = None) -> int:
    prog, description = "python -m seqcourse.grading.release", __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: every folder of the source)")
    parser.add_argument("--source", default=str(repo_root() / SOURCE_DIR), help="source root")
    parser.add_argument("--release", default=str(repo_root() / RELEASE_DIR), help="release root")
    parser.add_argument("--check", action="store_true", help="only report stale releases; exit 1 if any")
    args = parser.parse_args(argv)
    ids = args.assignments or assignment_ids(args.source)
    stale = 0
    for assignment_id in ids:
        if args.check:
            problems = stale_files(assignment_id, args.source, args.release)
            stale += bool(problems)
            for problem in problems:
                print(f"{assignment_id}: {problem}")
        else:
            dest = generate_release(assignment_id, args.source, args.release)
            print(f"released {assignment_id} -> {dest}")
    if stale:
        print(f"{stale} release(s) are stale: run `make release` and commit assignments/", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
