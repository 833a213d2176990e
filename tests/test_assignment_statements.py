"""Assignment statements stand on their own: at most one lecture pointer ("讲义 …") per section.

A student works through an assignment in JupyterHub without the lecture notes, so every equation, definition
and worked example a task needs is written in the notebook; the lectures may be named as the source once per
section (README, "Book conventions"). A section is a Markdown heading and everything after it up to the next
heading of the same or a higher level, its subsections included; the text before the first heading is a
section of its own. Only Markdown cells count (code cells are never rewritten by hand: nbgrader owns them).
Every notebook of ``solutions/`` and ``assignments/`` is checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest
from markdown_it import MarkdownIt

from seqcourse.grading.course import RELEASE_DIR, SOURCE_DIR, repo_root

ROOT = repo_root()
NOTEBOOKS = sorted(
    p.relative_to(ROOT).as_posix()
    for folder in (SOURCE_DIR, RELEASE_DIR)
    for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
POINTER = re.compile("讲义")
DISPLAY_MATH = re.compile(r"\$\$.+?\$\$", re.S)
MAX_POINTERS = 1
_MD = MarkdownIt("commonmark").enable("table")


class Section(NamedTuple):
    level: int  # 1-6 for a heading, 0 for the text before the first heading
    title: str
    pointers: int  # lecture pointers in the section, its subsections included


def _blocks(cells: list[str]) -> list[tuple[int, str, int]]:
    """(heading level, heading text, pointers in the text up to the next heading of any level)."""
    blocks = [[0, "(before the first heading)", ""]]
    for source in cells:
        lines = source.split("\n")
        # display math is taken out before parsing (a "=" line inside it is no setext heading); lines are kept
        masked = DISPLAY_MATH.sub(lambda m: "$$" + "\n" * m.group(0).count("\n") + "$$", source)
        tokens = _MD.parse(masked)
        start = 0
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open":
                blocks[-1][2] += "\n".join(lines[start : tok.map[0]]) + "\n"
                blocks.append([int(tok.tag[1]), tokens[i + 1].content, ""])
                start = tok.map[0]
        blocks[-1][2] += "\n".join(lines[start:]) + "\n"
    return [(level, title, len(POINTER.findall(text))) for level, title, text in blocks]


def sections(cells: list[str]) -> list[Section]:
    """Every section of the Markdown ``cells`` (in order) with its lecture pointers, subsections included."""
    blocks = _blocks(cells)
    found = []
    for i, (level, title, own) in enumerate(blocks):
        total = own
        for inner_level, _, inner in blocks[i + 1:] if level else []:
            if inner_level <= level:
                break
            total += inner
        found.append(Section(level, title, total))
    return found


def crowded_sections(cells: list[str]) -> list[str]:
    return [f"{'#' * s.level or '(top)'} {s.title}: {s.pointers} lecture pointers"
            for s in sections(cells) if s.pointers > MAX_POINTERS]


def test_every_assignment_notebook_is_checked() -> None:
    ids = sorted(p.name for p in (ROOT / SOURCE_DIR).iterdir() if any(p.glob("*.ipynb")))
    for folder in (SOURCE_DIR, RELEASE_DIR):
        assert sorted(Path(p).parent.name for p in NOTEBOOKS if p.startswith(f"{folder}/")) == ids
    assert "a00_warmup" in ids


def test_sections_nest_and_count() -> None:
    cells = ["开头（参见讲义 002）\n\n# 标题\n\n引言\n\n## (a)\n\n讲义 004 说",
             "### 细节\n\n讲义 001\n\n## (b)\n\n无"]
    assert sections(cells) == [
        Section(0, "(before the first heading)", 1),
        Section(1, "标题", 2),
        Section(2, "(a)", 2),
        Section(3, "细节", 1),
        Section(2, "(b)", 0),
    ]
    assert crowded_sections(cells) == ["# 标题: 2 lecture pointers", "## (a): 2 lecture pointers"]


def test_math_and_code_do_not_make_headings() -> None:
    cells = ["## (a)\n\n讲义 002\n\n$$\na\n=\n$$\n\n```\n# not a heading\n```\n\n讲义 004"]
    assert [s.title for s in sections(cells)] == ["(before the first heading)", "(a)"]
    assert crowded_sections(cells) == ["## (a): 2 lecture pointers"]


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_at_most_one_lecture_pointer_per_section(path: str) -> None:
    nb = nbformat.read(ROOT / path, as_version=4)
    crowded = crowded_sections([c.source for c in nb.cells if c.cell_type == "markdown"])
    assert not crowded, (
        "state the equation or fact in the notebook and keep at most one lecture pointer per section:\n"
        + "\n".join(crowded)
    )
