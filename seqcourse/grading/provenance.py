"""What a grade was computed from: hashes of the submission, the assignment source and the environment.

Every ``grades.csv`` row carries three sha256 digests (:data:`PROVENANCE_COLUMNS`):

- ``submission_sha256``: the notebooks the grader read, sorted by name, each as ``name \\0 sha256(bytes)``
  (:meth:`seqcourse.grading.ingest.Submission.digest`; files other than the notebooks are never graded);
- ``source_sha256``: every file of ``<source_root>/<assignment>/`` (the instructor's notebook with its hidden
  tests and points, ``grading_rules.toml``), by relative path and bytes;
- ``environment_sha256``: the JSON of :func:`environment` (Python, the grading packages' versions and a
  digest of the grader's own code), which is written readably beside ``grades.csv`` in
  ``grades.environment.json``.

``seqcourse-grade verify`` (:mod:`seqcourse.grading.verify`) grades again and compares.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PROVENANCE_COLUMNS", "ENVIRONMENT_FILE", "environment", "environment_sha256", "write_environment"]

PROVENANCE_COLUMNS = ["submission_sha256", "source_sha256", "environment_sha256"]
ENVIRONMENT_FILE = "grades.environment.json"
_PACKAGES = ("seqcourse", "numpy", "torch", "nbgrader", "nbformat", "jupyter_client", "ipykernel")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _grader_code_sha256() -> str:
    """sha256 over the grading package's Python files: a changed grader is a changed environment."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.glob("*.py")):
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def environment() -> dict[str, Any]:
    """The grading environment, readable: interpreter, platform, package versions, grader code digest."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": f"{platform.system()} {platform.machine()}",
        "packages": {name: _version(name) for name in _PACKAGES},
        "seqcourse.grading code sha256": _grader_code_sha256(),
    }


def environment_sha256(env: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``env`` (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(env, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_environment(grades_csv: Path, env: dict[str, Any]) -> Path:
    """``grades.environment.json`` beside ``grades_csv``: the environment and its digest."""
    path = Path(grades_csv).with_name(ENVIRONMENT_FILE)
    data = {"environment_sha256": environment_sha256(env), "environment": env}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
