"""The built site (``make book``) works offline: local MathJax and vega charts, Chinese search, no solutions.

These tests read ``_build/html``; ``make test`` builds it first, ``make unit`` deselects them.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import yaml

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


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    if not (HTML / "index.html").is_file():
        pytest.fail("no built site in _build/html: run `make book` (make test does it first)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *a: None  # keep pytest output clean
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _open_offline(browser, url: str, base: str):
    """Open ``url`` in a fresh page that aborts (and records) every request leaving ``base``."""
    page = browser.new_page()
    remote: list[str] = []

    def route(r):
        if r.request.url.startswith((base + "/", "data:", "blob:", "about:")):
            r.continue_()
        else:
            remote.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page, remote


def test_every_toc_page_was_built():
    missing = [f for f in _toc_files() if not (HTML / f"{f}.html").is_file()]
    assert not missing, f"pages in _toc.yml missing from the build: {missing}"


def test_no_page_references_a_remote_asset():
    pattern = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(https?:)?//", re.I)
    pages = HTML.rglob("*.html")
    offenders = [str(p.relative_to(HTML)) for p in pages if pattern.search(p.read_text("utf-8"))]
    assert not offenders, f"pages load remote assets: {offenders}"


@pytest.mark.browser
def test_pages_render_math_plots_and_charts_with_the_network_off(browser, site):
    for name in _toc_files():
        page, remote = _open_offline(browser, f"{site}/{name}.html", site)
        assert not remote, f"{name} requested remote resources: {remote}"
        page.close()
    page, _ = _open_offline(browser, f"{site}/book/rnn_basics.html", site)
    page.wait_for_selector("mjx-container", timeout=20_000)
    assert page.locator("mjx-container").count() > 5, "MathJax did not typeset the chapter"
    page.wait_for_selector(".seqcourse-chart .vega-embed svg", timeout=20_000)
    assert page.locator(".vega-bindings input").count() >= 1, "the chart was drawn without its controls"
    images = page.locator("img").evaluate_all("imgs => imgs.map(i => [i.src, i.naturalWidth])")
    plots = [src for src, width in images if "_images/" in src or src.startswith("data:image/png")]
    assert plots and all(width > 0 for src, width in images if src in plots), "chapter figures did not load"
    out = ROOT / "test-artifacts"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / "pilot-chapter.png"), full_page=True)
    page.close()


@pytest.mark.browser
def test_chinese_full_text_search_finds_the_pilot_chapter(browser, site):
    page, remote = _open_offline(browser, f"{site}/search.html?q=循环神经网络", site)
    page.wait_for_selector("#search-results .search li", timeout=20_000)
    text = page.locator("#search-results").inner_text()
    assert "循环神经网络基础" in text
    assert not remote
    page.close()


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
