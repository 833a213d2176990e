"""Chinese prose renders as written in every notebook (book, released assignments, solutions).

Two CommonMark details that break Chinese text and that no renderer fixes for us:

- **Emphasis next to full-width punctuation.** ``**通过时间反向传播（BPTT）**的`` does not close: a closing
  ``**`` right after a punctuation mark must be followed by a space or punctuation, so the asterisks show
  literally (in the built book, JupyterLab and Colab alike). Write ``**通过时间反向传播**（BPTT）的``.
- **A line break between two Chinese characters** renders as a space in browsers. Keep each paragraph of
  Chinese on one line, or break it after a Latin word, a formula or a space.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from markdown_it import MarkdownIt

from seqcourse.grading.course import repo_root

ROOT = repo_root()
NOTEBOOKS = sorted(
    p.relative_to(ROOT).as_posix()
    for folder in ("book", "assignments", "solutions")
    for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
BROKEN_LINE = re.compile(f"[{CJK}]\\n(?:>[ \\t]?)?[ \\t]*[{CJK}]")
_MD = MarkdownIt("commonmark")


def _without_math(source: str) -> str:
    source = re.sub(r"\$\$.*?\$\$", " ", source, flags=re.S)
    return re.sub(r"\$[^$\n]+\$", "x", source)


def literal_emphasis(source: str) -> list[str]:
    """Emphasis markers that CommonMark leaves as text (outside code), with a little context."""
    html = _MD.render(_without_math(source))
    text = re.sub(r"<(code|pre)>.*?</\1>", "", html, flags=re.S)
    text = re.sub(r"<[^>]+>", "", text)
    return [text[max(m.start() - 12, 0) : m.end() + 12] for m in re.finditer(r"\*\*|__", text)]


def broken_lines(source: str) -> list[str]:
    """Line breaks between two CJK characters outside code and display math."""
    prose = re.sub(r"```.*?```", "", _without_math(source), flags=re.S)
    return [m.group(0).replace("\n", "⏎") for m in BROKEN_LINE.finditer(prose)]


def test_the_checks_catch_both_problems() -> None:
    assert literal_emphasis("推出**通过时间反向传播（BPTT）**的公式") != []
    assert literal_emphasis("推出**通过时间反向传播**（BPTT）的公式") == []
    assert literal_emphasis("代码 `a**b` 与公式 $x^{**}$ 不算") == []
    assert broken_lines("第一行的末尾\n第二行的开头") != []
    assert broken_lines("> 引用的末尾\n> 引用的开头") != []
    assert broken_lines("公式 $x$\n之后换行、英文 word\n之后换行") == []


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_chinese_prose_renders_as_written(path: str) -> None:
    nb = nbformat.read(Path(ROOT / path), as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        problems += [f"cell {i}: literal emphasis …{c}…" for c in literal_emphasis(cell.source)]
        problems += [f"cell {i}: line break inside Chinese text …{c}…" for c in broken_lines(cell.source)]
    more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
    assert not problems, "\n".join(problems[:20]) + more
