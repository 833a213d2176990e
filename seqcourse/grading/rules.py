"""Per-assignment grading rules: ``solutions/<id>/grading_rules.toml`` next to the source notebook.

Example (a02)::

    # modules that implement this assignment's answers: not importable in the student process
    blocked_modules = ["seqcourse.scratch.rnn"]

    [[forbid]]                      # static check of the student's answer cells, run in the checker
    cells = ["b_backward_answer"]    # grade ids of answer cells (default: every code cell of the student)
    names = ["torch", "autograd"]    # dotted names or attributes that may not appear
    reason = "rnn_backward must be derived by hand, not with torch autograd"

A rule that matches does not change a score: the submission is ``flagged`` for a TA with the reason.
Every assignment also gets :data:`ALWAYS_FORBIDDEN` (dynamic imports that would reach a blocked module).
The file is excluded from the release by ``nbgrader_config.py``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import tomllib
from nbformat import NotebookNode

__all__ = ["Rules", "Forbid", "RULES_FILE", "load_rules", "ALWAYS_FORBIDDEN"]

RULES_FILE = "grading_rules.toml"
ALWAYS_FORBIDDEN = ("importlib", "__import__", "sys.modules", "__loader__", "builtins.__import__")
# reference implementations with the notebooks' signatures, which tests swap in (never an answer's)
ALWAYS_BLOCKED = ("seqcourse.grading.references",)


@dataclass(frozen=True)
class Forbid:
    """Names that may not appear in some answer cells, and why."""

    names: tuple[str, ...]
    reason: str
    cells: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rules:
    """What the engine enforces for one assignment."""

    blocked_modules: tuple[str, ...] = ALWAYS_BLOCKED
    forbid: tuple[Forbid, ...] = field(default_factory=tuple)

    def static_flags(self, nb: NotebookNode) -> list[str]:
        """Reasons to flag the submission, from its source alone (nothing of it is executed here)."""
        flags: list[str] = []
        checks = [
            *self.forbid,
            Forbid(ALWAYS_FORBIDDEN, "dynamic imports are not allowed in answers"),
            Forbid(self.blocked_modules, "imports a module that implements this assignment's answers"),
        ]
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or (meta.get("locked") and not meta.get("solution")):
                continue
            name = meta.get("grade_id") or f"cell {index}"
            used = _names(cell.source)
            for rule in checks:
                if rule.cells and meta.get("grade_id") not in rule.cells:
                    continue
                hits = sorted(n for n in used if any(_matches(n, f) for f in rule.names))
                if hits:
                    flags.append(f"{name}: {rule.reason} (uses {', '.join(hits[:5])})")
        return flags


def _matches(used: str, forbidden: str) -> bool:
    return used == forbidden or used.startswith(forbidden + ".") or used.endswith("." + forbidden)


def _names(source: str) -> set[str]:
    """Dotted names, attributes and imported modules used by ``source`` (IPython magics are skipped)."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Attribute | ast.Name):
            found.add(_dotted(node))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("seqcourse.")
        ):
            found.add(node.value)
    found.discard("")
    return found


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif parts:
        parts.append("?")
    return ".".join(reversed(parts))


def load_rules(assignment_dir: str | Path) -> Rules:
    """Read ``<assignment_dir>/grading_rules.toml``; no file means no extra rules."""
    path = Path(assignment_dir) / RULES_FILE
    if not path.is_file():
        return Rules()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(data) - {"blocked_modules", "forbid"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected blocked_modules, forbid")
    forbid = []
    for rule in data.get("forbid", []):
        if not isinstance(rule.get("names"), list) or not isinstance(rule.get("reason"), str):
            raise ValueError(f"{path}: every [[forbid]] needs names = [...] and reason = '...', got {rule}")
        forbid.append(Forbid(tuple(rule["names"]), rule["reason"], tuple(rule.get("cells", ()))))
    return Rules((*ALWAYS_BLOCKED, *data.get("blocked_modules", ())), tuple(forbid))
