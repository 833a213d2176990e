"""Chinese search of the built site: every chapter title, section heading and glossary term finds its page.

The queries run through the site's own shipped JavaScript (``searchtools.js`` + ``language_data.js`` with
the seqcourse splitter) and its ``searchindex.js``, in Chromium: many queries in one page through
``Search._parseQuery`` / ``Search._performSearch`` (exactly what the search page calls), plus a few through
the search page itself to check the rendered results and their snippets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jieba
import pytest
from bs4 import BeautifulSoup
from conftest import SITE_HTML

pytestmark = [pytest.mark.book, pytest.mark.browser]

# The queries of the issue that returned nothing before the fix, and the page each must find.
ISSUE_QUERIES = {
    "反向传播": "book/rnn_training",
    "通过时间反向传播": "book/rnn_training",
    "梯度消失": "book/rnn_training",
    "束搜索": "book/seq2seq_attention",
    "长短期记忆": "book/lstm_gru",
    "教师强制": "assignments/a06_seq2seq_attention/a06_seq2seq_attention",
}
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
VISIBLE_TEX = re.compile(r"\\[()\[\]]|\\(?:frac|mathbf|boldsymbol|sum|top|alpha|mathrm)\b|\$")


def _docnames() -> list[str]:
    text = (SITE_HTML / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("(") + 1 : text.rindex(")")])["docnames"]


def _heading_text(tag) -> str:
    """A heading as a reader sees it: without the section number, the ¶ link and formulas' TeX source."""
    for junk in tag.select(".headerlink, .section-number"):
        junk.decompose()
    for math in tag.select(".math"):  # a formula is typed as what it shows when it is a plain symbol
        tex = math.get_text().strip().removeprefix("\\(").removesuffix("\\)").strip()
        math.replace_with(tex if re.fullmatch(r"[A-Za-z0-9 ]+", tex) else " ")
    return " ".join(tag.get_text(" ").split())


def _spaced(text: str) -> str:
    """The query with a space between every two Chinese words (as jieba cuts them)."""
    spaced = ""
    for word in jieba.lcut(text):
        if spaced and HAN.match(spaced[-1]) and HAN.match(word[0]):
            spaced += " "
        spaced += word
    return spaced


def _targets() -> list[tuple[str, str, str]]:
    """(kind, text, docname that defines it) for every title, heading and glossary term of the site."""
    targets = []
    for doc in _docnames():
        soup = BeautifulSoup((SITE_HTML / f"{doc}.html").read_text(encoding="utf-8"), "html.parser")
        article = soup.select_one("article.bd-article")
        for level in ("h1", "h2", "h3", "h4", "h5", "h6"):
            for tag in article.find_all(level):
                text = _heading_text(tag)
                if text:
                    targets.append(("title" if level == "h1" else "heading", text, doc))
        for dt in article.select("dl.glossary dt"):
            term = _heading_text(dt)
            targets.append(("glossary term", term, doc))
            chinese, _, english = term.partition("（")
            for part in (chinese, english.rstrip("）")):
                if part.strip() and part.strip() != term:
                    targets.append(("glossary term part", part.strip(), doc))
    return targets


@pytest.fixture(scope="module")
def search_page(browser, site_url):
    page = browser.new_page()
    page.route(re.compile(r"^(?!" + re.escape(site_url) + ")"), lambda route: route.abort())
    page.goto(f"{site_url}/search.html")
    page.wait_for_function("() => typeof Search !== 'undefined' && Search.hasIndex()", timeout=20_000)
    yield page
    page.close()


def _run_queries(page, queries: list[str]) -> list[list[str]]:
    """The docnames each query finds, through the site's own search code."""
    return page.evaluate(
        """queries => queries.map(q => {
            const [query, terms, excluded, highlight, objects] = Search._parseQuery(q);
            return Search._performSearch(query, terms, excluded, highlight, objects).map(r => r[0]);
        })""",
        queries,
    )


def test_every_title_heading_and_glossary_term_finds_its_page(search_page):
    targets = _targets()
    kinds = {kind for kind, _, _ in targets}
    assert {"title", "heading", "glossary term"} <= kinds, kinds
    queries = [(text, doc) for _, text, doc in targets] + [(_spaced(text), doc) for _, text, doc in targets]
    found = _run_queries(search_page, [q for q, _ in queries])
    misses = [(q, doc) for (q, doc), docs in zip(queries, found, strict=True) if doc not in docs]
    counts = {kind: sum(k == kind for k, _, _ in targets) for kind in sorted(kinds)}
    print(f"search: {len(queries)} queries ({counts}, each as typed and spaced), {len(misses)} misses")
    assert not misses, f"{len(misses)} of {len(queries)} queries miss their page: {misses[:10]}"


def test_the_issue_queries_find_their_pages_as_typed_and_spaced(search_page):
    queries = [q for term in ISSUE_QUERIES for q in (term, _spaced(term), " ".join(term))]
    found = dict(zip(queries, _run_queries(search_page, queries), strict=True))
    for term, doc in ISSUE_QUERIES.items():
        for q in (term, _spaced(term), " ".join(term)):
            assert doc in found[q], f"{q!r} does not find {doc}: {found[q]}"


def test_the_query_is_cut_into_words_of_the_index(search_page):
    pieces = search_page.evaluate("q => splitQuery(q)", "反向传播与 LSTM")
    assert pieces == ["反向", "传播", "与", "LSTM"], pieces
    # a glossary term is one word of the index (jieba was given the glossary), typed with or without spaces
    for query in ("通过时间反向传播", "通过时间 反向 传播", "互相 关"):
        assert search_page.evaluate("q => splitQuery(q)", query) in (["通过时间反向传播"], ["互相关"]), query


def test_one_character_words_and_glossary_terms_are_indexed():
    text = (SITE_HTML / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(text[text.index("(") + 1 : text.rindex(")")])["terms"]
    assert {"束", "门", "反向", "传播", "互相关"} <= set(terms)


def test_the_search_page_lists_results_with_snippets_free_of_tex(browser, site_url):
    page = browser.new_page()
    page.route(re.compile(r"^(?!" + re.escape(site_url) + ")"), lambda route: route.abort())
    for query, doc in (("通过时间反向传播", "book/rnn_training"), ("隐藏 状态", "book/rnn_basics")):
        page.goto(f"{site_url}/search.html?q={query}")
        page.wait_for_function(
            "() => document.querySelector('#search-results .search-summary')?.innerText.includes('匹配')",
            timeout=20_000,
        )
        count = page.locator("#search-results ul.search > li").count()
        shown = f"() => document.querySelectorAll('#search-results p.context').length >= {count}"
        page.wait_for_function(shown)
        links = page.locator("#search-results ul.search > li > a").evaluate_all("as => as.map(a => a.href)")
        assert any(f"/{doc}.html" in link for link in links), f"{query}: {links}"
        snippets = page.locator("#search-results p.context").all_inner_texts()
        shown_tex = [s for s in snippets if VISIBLE_TEX.search(s)]
        assert not shown_tex, f"{query}: snippets show TeX source: {shown_tex[:3]}"
    Path(SITE_HTML.parents[1] / "test-artifacts" / "site").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SITE_HTML.parents[1] / "test-artifacts" / "site" / "search.png"), full_page=True)
    page.close()
