"""Per-assignment grading rules: ``solutions/<id>/grading_rules.toml`` next to the source notebook.

Example (a02)::

    # modules that implement this assignment's answers: the student process's import hook refuses them
    # (the checker's own objects may still load them there: a test can send a reference by name)
    blocked_modules = []
    # modules the student process can never load, not even for the checker's objects: blocked too, and
    # under bubblewrap their files are hidden from it (:meth:`Rules.hidden_paths`), so removing the import
    # hook in the student process does not reach them
    hidden_modules = ["seqcourse.scratch.rnn", "torch"]

    [[forbid]]                      # static check of the student's source, run in the checker
    cells = ["b_backward_answer"]    # the answer cells it protects (default: every cell of the student)
    names = ["torch", "autograd"]    # dotted names or attributes that may not appear
    reason = "rnn_backward must be derived by hand, not with torch autograd"

The static checks read every code cell the student wrote: answer cells, cells the student added (no
nbgrader metadata) and instructor cells that are not locked once the student changed them. A rule with
``cells`` checks those cells, every cell the student added, every other cell of the student that defines a
name the protected cells define (e.g. the same function written again in another answer cell), and,
transitively, every cell of the student that defines a name a checked cell uses (a helper moved elsewhere).

A rule that matches does not change a score: the submission is ``flagged`` for a TA with the reason.
Every assignment also gets :data:`ALWAYS_FORBIDDEN` (dynamic imports that would reach a blocked module,
the grading agent in the student process), :data:`INTROSPECTION` (the ways computed names reach either) and
:data:`ALWAYS_BLOCKED`.
The file is excluded from the release by ``nbgrader_config.py``.
"""

from __future__ import annotations

import ast
import glob
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import tomllib
from nbformat import NotebookNode

__all__ = ["Rules", "Forbid", "RULES_FILE", "load_rules", "ALWAYS_FORBIDDEN", "INTROSPECTION"]

RULES_FILE = "grading_rules.toml"
ALWAYS_FORBIDDEN = (
    "importlib",
    "__import__",
    "sys.modules",
    "sys.meta_path",
    "__loader__",
    "builtins.__import__",
    "__seqcourse_agent__",
)
# introspection that reaches the interpreter's namespaces, frames or builtins, through which computed names
# can find the grading agent, its import hook or a blocked module; answers to these assignments never need it
INTROSPECTION = (
    "globals",
    "vars",
    "locals",
    "exec",
    "__builtins__",
    "__globals__",
    "__subclasses__",
    "get_ipython",
    "f_globals",
    "f_locals",
    "f_back",
    "_getframe",
    "_current_frames",
    "currentframe",
    "gc",
    "ctypes",
)
# reference implementations with the notebooks' signatures, which tests swap in (never an answer's)
ALWAYS_BLOCKED = ("seqcourse.grading.references",)


@dataclass(frozen=True)
class Forbid:
    """Names that may not appear in some answer cells (and the code they use), and why."""

    names: tuple[str, ...]
    reason: str
    cells: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Cell:
    """One code cell the student wrote, parsed once."""

    label: str  # grade id, or "cell <index>" for a cell without one
    grade_id: str | None
    added: bool  # no grade id: added by the student (or an unlocked instructor cell they changed)
    used: frozenset[str]
    defined: frozenset[str]


@dataclass(frozen=True)
class Rules:
    """What the engine enforces for one assignment."""

    blocked_modules: tuple[str, ...] = ALWAYS_BLOCKED
    forbid: tuple[Forbid, ...] = field(default_factory=tuple)
    hidden_modules: tuple[str, ...] = ()  # also in blocked_modules (load_rules puts them there)

    def static_flags(self, nb: NotebookNode, instructor: NotebookNode | None = None) -> list[str]:
        """Reasons to flag the submission, from its source alone (nothing of it is executed here).

        ``instructor`` is the source notebook: its unlocked cells that the student left unchanged (e.g. a
        plotting cell of the assignment) are the instructor's code, not the student's.
        """
        cells = _student_cells(nb, instructor)
        flags: list[str] = []
        checks = [
            *self.forbid,
            Forbid(ALWAYS_FORBIDDEN, "dynamic imports and the grading agent are not allowed in answers"),
            Forbid(INTROSPECTION, "introspection of the interpreter (namespaces, frames, builtins)"),
            Forbid((*self.blocked_modules, *self.hidden_modules), "imports a module this assignment blocks"),
        ]
        for rule in checks:
            for cell in _scope(rule, cells):
                hits = sorted(n for n in cell.used if any(_matches(n, f) for f in rule.names))
                if hits:
                    flags.append(f"{cell.label}: {rule.reason} (uses {', '.join(hits[:5])})")
        return flags

    def hidden_paths(self) -> list[str]:
        """Files and folders of the hidden modules (as the grader sees them), hidden from the student.

        A module is found without being imported (its parent packages are: they are the grader's own);
        a module that is not installed has nothing to hide. A module's compiled ``__pycache__``
        files go with it.
        """
        paths: list[str] = []
        for name in self.hidden_modules:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                continue
            if spec is None:
                continue
            if spec.submodule_search_locations:
                paths.extend(str(p) for p in spec.submodule_search_locations if os.path.isdir(p))
            elif spec.origin and os.path.isfile(spec.origin):
                folder, stem = os.path.split(spec.origin)
                paths.append(spec.origin)
                paths.extend(
                    sorted(glob.glob(os.path.join(folder, "__pycache__", f"{stem.split('.')[0]}.*.pyc")))
                )
        return paths


def _student_cells(nb: NotebookNode, instructor: NotebookNode | None) -> list[_Cell]:
    """Every code cell the student wrote (locked instructor cells and unchanged instructor cells excluded)."""
    theirs = set()
    if instructor is not None:
        theirs = {
            c.source.strip()
            for c in instructor.cells
            if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("solution")
        }
    cells = []
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or (meta.get("locked") and not meta.get("solution")):
            continue
        grade_id = meta.get("grade_id") if meta.get("solution") else None
        if grade_id is None and cell.source.strip() in theirs:
            continue
        tree = _parse(cell.source)
        cells.append(
            _Cell(
                grade_id or f"cell {index}",
                grade_id,
                grade_id is None,
                frozenset(_names(tree)),
                frozenset(_defined(tree)),
            )
        )
    return cells


def _scope(rule: Forbid, cells: list[_Cell]) -> list[_Cell]:
    """The student's cells a rule checks (see the module docstring); in notebook order."""
    if not rule.cells:
        return cells
    chosen = {c.label for c in cells if c.grade_id in rule.cells or c.added}
    protected = set().union(*(c.defined for c in cells if c.grade_id in rule.cells))
    chosen |= {c.label for c in cells if c.defined & protected}
    grown = True
    while grown:  # every cell defining something a checked cell uses
        used = set().union(*(c.used for c in cells if c.label in chosen))
        more = {c.label for c in cells if c.label not in chosen and c.defined & _roots(used)}
        chosen |= more
        grown = bool(more)
    return [c for c in cells if c.label in chosen]


def _roots(names: set[str]) -> set[str]:
    return {n.split(".", 1)[0] for n in names}


def _matches(used: str, forbidden: str) -> bool:
    return used == forbidden or used.startswith(forbidden + ".") or used.endswith("." + forbidden)


def _parse(source: str) -> ast.AST | None:
    """The cell's syntax tree (IPython magics and shell lines skipped); ``None`` when it does not parse."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _names(tree: ast.AST | None) -> set[str]:
    """Dotted names, attributes and imported modules used by a cell."""
    found: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
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


def _defined(tree: ast.AST | None) -> set[str]:
    """Names a cell binds anywhere (functions, classes, assignments, ``global``; imports do not count).

    Imports are left out so that ``import numpy as np`` in another cell does not pull that cell into a
    rule's scope; a module bound to a new name by assignment (``_T = torch``) does count.
    """
    found: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, ast.Global):
            found.update(node.names)
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
    keys = {"blocked_modules", "hidden_modules", "forbid"}
    unknown = set(data) - keys
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected {', '.join(sorted(keys))}")
    forbid = []
    for rule in data.get("forbid", []):
        if not isinstance(rule.get("names"), list) or not isinstance(rule.get("reason"), str):
            raise ValueError(f"{path}: every [[forbid]] needs names = [...] and reason = '...', got {rule}")
        forbid.append(Forbid(tuple(rule["names"]), rule["reason"], tuple(rule.get("cells", ()))))
    hidden = tuple(data.get("hidden_modules", ()))
    return Rules((*ALWAYS_BLOCKED, *data.get("blocked_modules", ()), *hidden), tuple(forbid), hidden)
