"""Static checks of the built site (``make book``): every page built, no remote asset, a segmented Chinese
search index, no solutions. The browser checks of every page are in ``test_site_pages.py`` and
``test_site_search.py``.

These tests read ``_build/html``; ``make test`` builds it first, ``make unit`` deselects them.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from seqcourse.grading.release import secret_lines

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


def test_every_toc_page_was_built():
    missing = [f for f in _toc_files() if not (HTML / f"{f}.html").is_file()]
    assert not missing, f"pages in _toc.yml missing from the build: {missing}"


def test_the_intro_course_plan_links_every_page_of_the_toc():
    """The intro's course plan links every page of ``_toc.yml`` and promises no missing chapter."""
    soup = BeautifulSoup((HTML / "book" / "intro.html").read_text(encoding="utf-8"), "html.parser")
    heading = next(h for h in soup.find_all("h2") if "课程计划" in h.get_text())
    hrefs = [a["href"].split("#")[0] for a in heading.parent.find_all("a", href=True)]
    linked = {posixpath.normpath(posixpath.join("book", h)).removesuffix(".html") for h in hrefs if h}
    missing = [f for f in _toc_files()[1:] if f not in linked]
    assert not missing, f"the intro's course plan lacks {missing}"
    assert "即将推出" not in soup.get_text(), "the plan lists what exists, not what is promised"


def test_no_page_references_a_remote_asset():
    pattern = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(https?:)?//", re.I)
    pages = HTML.rglob("*.html")
    offenders = [str(p.relative_to(HTML)) for p in pages if pattern.search(p.read_text("utf-8"))]
    assert not offenders, f"pages load remote assets: {offenders}"


def test_search_index_is_segmented_into_chinese_words():
    text = (HTML / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text[text.index("(") + 1 : text.rindex(")")])  # Search.setIndex({...})
    terms = set(index["terms"])
    assert {"循环", "神经网络"} <= terms, "search index has no Chinese words (is jieba installed?)"
    assert "循环神经网络基础" not in terms, "titles must be segmented into words, not indexed whole"


def _page_text(page: Path) -> str:
    """The visible text of a page (tags removed, entities decoded), one line per source line."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def _source_lines(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        return [ln for cell in nbformat.read(path, as_version=4).cells for ln in cell.source.splitlines()]
    return path.read_text(encoding="utf-8").splitlines()


def test_solutions_and_hidden_tests_never_reach_the_site():
    assert not (HTML / "solutions").exists()
    pages = {str(p.relative_to(HTML)): _page_text(p) for p in HTML.rglob("*.html")}
    site_lines = {line.strip() for text in pages.values() for line in text.splitlines()}
    # lines that the book's own sources contain (a chapter may use `with torch.no_grad():` too) are not leaks
    patterns = ("book/**/*.ipynb", "book/**/*.md", "assignments/*/*.ipynb")
    book_sources = [f for pattern in patterns for f in ROOT.glob(pattern)]
    public = {line.strip() for f in book_sources for line in _source_lines(f)}
    for name, text in pages.items():
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, name
    for source in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        secret = secret_lines(nbformat.read(source, as_version=4)) - public
        assert secret, f"{source.name}: no solution lines to look for"
        leaked = sorted(secret & site_lines)
        assert not leaked, f"the site shows lines of {source.name}'s solution or hidden tests: {leaked[:5]}"
