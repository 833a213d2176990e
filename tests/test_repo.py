"""Repository-level checks: lint, layout, CI entry point, table of contents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from conftest import broken_links

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_layout_matches_the_design():
    for name in [
        "_config.yml",
        "_toc.yml",
        "book",
        "assignments",
        "solutions",
        "seqcourse",
        "tests",
        "hub",
        "benchmarks",
        "environment.yml",
        "pyproject.toml",
        "package.json",
        "package-lock.json",
        "Makefile",
        "nbgrader_config.py",
        "README.md",
        ".ci/run",
        ".gitignore",
    ]:
        assert (ROOT / name).exists(), f"{name} is missing"


def test_ci_runs_make_test_and_nothing_else():
    lines = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines()]
    commands = [ln for ln in lines if ln and not ln.startswith("#") and not ln.startswith(("set ", "cd "))]
    assert commands == ["make test"]


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text(encoding="utf-8")[:1500]
    assert head.index("make book") < head.index("make test")


def test_toc_lists_only_existing_pages_and_every_book_notebook():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    listed = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for f in listed:
        assert any((ROOT / f"{f}{ext}").is_file() for ext in (".md", ".ipynb")), f"_toc.yml lists missing {f}"
    for nb in (ROOT / "book").rglob("*.ipynb"):
        if ".ipynb_checkpoints" in nb.parts:
            continue
        assert str(nb.relative_to(ROOT).with_suffix("")) in listed, f"{nb} is not in _toc.yml"


def test_readme_links_and_images_resolve():
    """Every relative link and image of the READMEs names a file of the repository and, after '#', one of
    that file's headings."""
    broken = {
        name: found for name in ("README.md", "deploy/README.md") if (found := broken_links(ROOT / name))
    }
    assert not broken, broken
