"""Every notebook's Markdown reads cleanly with no extension: the built site, JupyterLab and Colab.

The rules (README, "Book conventions"): CommonMark + HTML + dollar math only. No MyST roles or directives,
folded answers as ``<details>`` with blank lines around the Markdown inside, display math as its own
paragraph and never inside a list item, no ``\\(`` / ``\\[`` delimiters, relative links that resolve. Each
cell is also rendered by a plain CommonMark renderer (markdown-it-py in commonmark mode, what Colab and
JupyterLab understand at the least) and the HTML must show no MyST marker.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p for d in ("book", "solutions", "assignments") for p in (ROOT / d).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)

ROLE = re.compile(r"(?<!`)\{[a-zA-Z][\w:-]*\}`")                         # {term}`x`, {cite:p}`k`
DIRECTIVE = re.compile(r"^\s*(?:`{3,}|~{3,})\s*\{", re.M)  # ```{note} (a fence itself: check the source)
COLON_FENCE = re.compile(r"^\s*:{3,}", re.M)                           # :::{note} ... ::: (outside code)
MYST_LINE = re.compile(r"^\s*\([\w.-]+\)=\s*$|^\s*%[^\n]*$|^\s*\+\+\+", re.M)  # targets, comments, breaks
OLD_DELIMS = re.compile(r"(?<!\\)\\[(\[]")                               # \( ... \), \[ ... \]
EQ_LABEL = re.compile(r"\$\$\s*\([\w.-]+\)")                            # $$ ... $$ (label)
MYST_IN_HTML = re.compile(r"\{(?:term|cite|ref|doc|numref|eq|admonition|note|warning|dropdown)\}|:class:|:::")
FENCED = re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"(?<![}`])`[^`\n]+`")                          # not the backticks of a role
STARS = re.compile(r".{0,12}(?<![*\\])\*\*(?!\*).{0,12}")
MD = MarkdownIt("commonmark")


def _cells(path: Path) -> list[tuple[int, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]


def _prose(source: str) -> str:
    """The cell without fenced code blocks and inline code spans (code may quote any syntax)."""
    return INLINE_CODE.sub("", FENCED.sub("", source))


def _html_without_code(source: str) -> str:
    html = MD.render(source)
    return re.sub(r"<code>.*?</code>|<pre>.*?</pre>", "", html, flags=re.S)


def details_problems(source: str) -> list[str]:
    """Shape of folded answers: ``<details>``, ``<summary>…</summary>``, blank line, body, blank line,
    ``</details>``, each tag on its own line (without the blank lines the body is not Markdown)."""
    lines = source.split("\n")
    opened = [i for i, line in enumerate(lines) if "<details" in line]
    closed = [i for i, line in enumerate(lines) if "</details>" in line]
    problems = []
    if len(opened) != len(closed):
        problems.append(f"{len(opened)} <details> but {len(closed)} </details>")
    for i in opened:
        if lines[i].strip() != "<details>":
            problems.append(f"line {i + 1}: <details> must stand alone on its line (folded, no 'open')")
        elif not (i + 2 < len(lines) and re.fullmatch(r"<summary>[^<]+</summary>", lines[i + 1].strip())
                  and lines[i + 2].strip() == ""):
            problems.append(f"line {i + 1}: <details> needs <summary>…</summary> and a blank line after it")
    for i in closed:
        if lines[i].strip() != "</details>" or i == 0 or lines[i - 1].strip() != "":
            problems.append(f"line {i + 1}: </details> must stand alone after a blank line")
    return problems


def math_problems(source: str) -> list[str]:
    """Display math only as its own paragraph, never inside a list item.

    Each ``$$…$$`` becomes ``$$MATH$$`` on the line where it opens before parsing: front ends take math out
    before the Markdown parser sees it, so a ``=`` line inside the math must not count as a heading.
    """
    problems, depth = [], 0
    masked = re.sub(r"\$\$.+?\$\$", "$$MATH$$", source, flags=re.S)
    for tok in MD.parse(masked):
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif tok.type == "inline" and "$$" in tok.content:
            text = tok.content.strip()
            if depth:
                problems.append(f"display math inside a list item: {text[:60]!r}")
            elif not (text.startswith("$$") and text.endswith("$$")) or text.count("$$") != 2:
                problems.append(f"display math must be its own paragraph: {text[:60]!r}")
    return problems


def link_problems(path: Path, source: str) -> list[str]:
    targets = []
    for tok in MD.parse(source):
        for child in [tok, *(tok.children or [])]:
            if child.type == "link_open":
                targets.append(child.attrs.get("href", ""))
            elif child.type == "image":
                targets.append(child.attrs.get("src", ""))
            elif child.type in ("html_block", "html_inline"):
                targets += re.findall(r"""(?:href|src)\s*=\s*["']([^"']+)["']""", child.content)
    problems = []
    for href in targets:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path:
            continue  # web links and same-page anchors
        target = (path.parent / unquote(parts.path)).resolve()
        if not target.exists() or ROOT not in target.parents:
            problems.append(f"link {href!r} does not resolve to a file in the repository")
    return problems


def cell_problems(path: Path, source: str) -> list[str]:
    prose = _prose(source)
    problems = [f"MyST role {m.group(0)!r}" for m in ROLE.finditer(prose)]
    problems += [f"MyST directive fence {m.group(0).strip()!r}" for m in DIRECTIVE.finditer(source)]
    problems += [f"MyST colon fence {m.group(0).strip()!r}" for m in COLON_FENCE.finditer(prose)]
    problems += [f"MyST-only line {m.group(0).strip()!r}" for m in MYST_LINE.finditer(prose)]
    problems += [f"{m.group(0)!r} math delimiter (use $ and $$)" for m in OLD_DELIMS.finditer(prose)]
    problems += [f"equation label {m.group(0)!r}" for m in EQ_LABEL.finditer(prose)]
    problems += details_problems(source) + math_problems(source) + link_problems(path, source)
    html = _html_without_code(source)
    problems += [f"MyST marker {m.group(0)!r} in the CommonMark HTML" for m in MYST_IN_HTML.finditer(html)]
    # CommonMark's flanking rules: "**术语（term）**后文" stays literal (a closing ** after punctuation needs
    # a space or punctuation after it); write "**术语**（term）后文"
    problems += [f"unrendered emphasis near {m.group(0)!r}" for m in STARS.finditer(html)]
    return problems


def test_every_notebook_is_checked():
    names = {p.relative_to(ROOT).parts[0] for p in NOTEBOOKS}
    assert names == {"book", "solutions", "assignments"}
    assert len([p for p in NOTEBOOKS if p.parts[-2] == "book"]) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_cells_are_portable(path):
    found = [f"cell {i}: {problem}" for i, source in _cells(path) for problem in cell_problems(path, source)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parts[-2] == "book"],
                         ids=lambda p: p.stem)
def test_chapter_answers_are_folded(path):
    sources = "\n".join(source for _, source in _cells(path))
    assert sources.count("<details>") >= 1, "a chapter's exercises need folded answers"
    assert "<summary>答案</summary>" in sources


# ---------------------------------------------------------------------- the rules catch what they must

BAD = {
    "term role": "循环网络是 {term}`循环神经网络（RNN）`。",
    "cite role": "见 {cite}`elman1990finding`。",
    "dropdown": "```{admonition} 参考答案\n:class: dropdown\n答案\n```",
    "colon fence": ":::{note}\n注意\n:::",
    "details without blank line": "<details>\n<summary>答案</summary>\n答案 $x$\n\n</details>",
    "open details": "<details open>\n<summary>答案</summary>\n\n答案\n\n</details>",
    "unbalanced details": "<details>\n<summary>答案</summary>\n\n答案\n",
    "math in list": "- 第一项：\n\n  $$\nh_t = Wh_{t-1}\n$$\n",
    "inline display math": "公式 $$a = b$$ 在句中。",
    "old delimiters": "公式 \\(a = b\\) 与 \\[a\\]。",
    "dead link": "[第九章](book/nonexistent.ipynb)",
    "dead html link": '<a href="nowhere.md">x</a>',
    "target": "(sec-rnn)=\n# 标题",
    "equation label": "$$\na = b\n$$ (eq-ab)",
    "bold ending in a paren": "**束搜索（beam search）**每一步保留 $k$ 个前缀。",
}
GOOD = {
    "term": "**循环神经网络**（recurrent neural network, RNN）是",
    "details": "<details>\n<summary>答案</summary>\n\n$$\na = b\n$$\n\n- 一项\n\n</details>",
    "display math": "前文：\n\n$$\n\\begin{aligned} a &= b \\\\[2pt] c &= d \\end{aligned}\n$$\n\n后文。",
    "code quotes roles": "MyST 写作 `{term}` 与\n\n```\n:::{note}\n```",
    "link": "[术语表](glossary.md) 与 [作业 a02](../assignments/a02_bptt/a02_bptt.ipynb)",
    "web link": "[Colab](https://colab.research.google.com)",
}


@pytest.mark.parametrize("name", BAD)
def test_each_rule_rejects_its_mutant(name):
    assert cell_problems(ROOT / "book" / "x.ipynb", BAD[name]), f"{name!r} was not caught"


@pytest.mark.parametrize("name", GOOD)
def test_portable_markdown_passes(name):
    assert cell_problems(ROOT / "book" / "x.ipynb", GOOD[name]) == []
