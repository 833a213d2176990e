"""Committed notebooks (book/, solutions/, assignments/): valid nbformat 4, no outputs, python3 kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from seqcourse.grading.course import repo_root

ROOT = repo_root()
FOLDERS = ("book", "solutions", "assignments")
SKIP_PARTS = {".ipynb_checkpoints", "_build"}


def committed_notebooks(root: Path = ROOT) -> list[Path]:
    found = []
    for folder in FOLDERS:
        found += [p for p in (root / folder).rglob("*.ipynb") if not SKIP_PARTS & set(p.parts)]
    return sorted(found)


def hygiene_problems(path: Path) -> list[str]:
    """Everything wrong with one notebook file (empty list when it is clean)."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    problems = []
    if nb.nbformat != 4:
        problems.append(f"nbformat {nb.nbformat}, expected 4")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        problems.append(f"invalid nbformat: {err.message}")
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"kernelspec {kernel!r}, expected 'python3'")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has execution_count {cell.execution_count}")
    return problems


def test_the_pilot_assignment_is_checked() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in committed_notebooks()}
    assert {"solutions/a00_warmup/a00_warmup.ipynb", "assignments/a00_warmup/a00_warmup.ipynb"} <= names


def test_hygiene_catches_outputs_and_wrong_kernels(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    clean = tmp_path / "clean.ipynb"
    nbformat.write(nb, clean)
    assert hygiene_problems(clean) == []
    nb.cells[0].outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
    ]
    nb.cells[0].execution_count = 1
    nb.metadata["kernelspec"]["name"] = "ir"
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(nb, dirty)
    assert hygiene_problems(dirty) == [
        "kernelspec 'ir', expected 'python3'",
        "cell 0 has outputs",
        "cell 0 has execution_count 1",
    ]


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_committed_notebook_is_clean(path: Path) -> None:
    problems = hygiene_problems(path)
    assert not problems, f"{path.relative_to(ROOT)}: {'; '.join(problems)} (clear outputs before committing)"
