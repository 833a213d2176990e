"""Every page of the built site, in Chromium with the network blocked, as a student meets it.

One browser page visits every HTML page of ``_build/html`` at 1280 px and then at 390 px (a phone) and
records, per page: requests that leave 127.0.0.1 (aborted), console errors and page errors, local assets
answered with 4xx/5xx, TeX or MyST source visible outside code, theme strings left in English, images that
did not load or are shown blown up or squashed, interactive controls (vega-embed bindings) that do not change
their figure, and horizontal overflow of the text column. Screenshots of every page at both widths go to
``test-artifacts/site/``. The test fails with the full list of problems, page by page.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import ROOT, SITE_HTML

pytestmark = [pytest.mark.book, pytest.mark.browser]

ARTIFACTS = ROOT / "test-artifacts" / "site"
WIDE, PHONE = 1280, 390
# TeX or MyST source a reader must never see outside code (MathJax output and code are removed first).
VISIBLE_SOURCE = re.compile(
    r"\$|\\[()\[\]]|\\(?:frac|mathbf|boldsymbol|mathrm|sum|alpha|top|begin|end)\b"
    r"|\{(?:term|cite|cite:p|cite:t|ref|doc|eq|numref|glossary|admonition|note|warning)\}|^:::|```",
    re.M,
)
REDIRECTS = {"index.html": "book/intro.html"}
MAX_UPSCALE = 1.15  # an image may be shown at most this much larger than its natural size
MIN_SCALE = 0.5  # ... and at least half of it (seqcourse.js scrolls wider figures instead)


def _pages() -> list[str]:
    skip = ("_static", "_sources", "_images")
    pages = [p.relative_to(SITE_HTML).as_posix() for p in SITE_HTML.rglob("*.html")]
    return sorted(p for p in pages if not p.startswith(skip))


def _shot_name(page: str) -> str:
    return page.replace("/", "__").removesuffix(".html") + ".jpg"


# --- in-page probes (JavaScript run by page.evaluate) ----------------------------------------------------
SETTLE = """async () => {
  if (window.MathJax?.startup?.promise) await MathJax.startup.promise;
  await Promise.all([...document.images].map(
    i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  for (let k = 0; k < 100 && document.querySelectorAll('.vega-embed').length >
       document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length; k++)
    await new Promise(r => setTimeout(r, 50));
}"""

VISIBLE_TEXT = """() => {
  const article = document.querySelector('article.bd-article') || document.body;
  const copy = article.cloneNode(true);
  copy.querySelectorAll('pre, code, mjx-container, script, style, .highlight, .vega-embed, .vega-bindings')
      .forEach(e => e.remove());
  return copy.textContent;
}"""

ENGLISH_UI = r"""() => {
  const outside = [...document.querySelectorAll('[title], [aria-label], [placeholder], [data-bs-title]')]
    .filter(e => !e.closest('article'))
    .flatMap(e => ['title', 'aria-label', 'placeholder', 'data-bs-title'].map(a => e.getAttribute(a)))
    .filter(v => v && /[A-Za-z]{3}/.test(v) && !/\p{Script=Han}/u.test(v) && !/^(Ctrl|LSTM|GRU|RNN)/.test(v));
  const chrome = document.body.cloneNode(true);
  chrome.querySelectorAll('article, script, style, noscript').forEach(e => e.remove());
  const words = ['Copyright', 'Contents', 'Search', 'Click to', 'Previous', 'Next', 'Back to top', 'Skip to',
                 'System Settings', 'Download', 'Launch'].filter(w => chrome.textContent.includes(w));
  return [...new Set([...outside, ...words])];
}"""

UNDRAWN_CHARTS = """() => [...document.querySelectorAll('.vega-embed')]
  .filter(c => !c.querySelector('svg, canvas')).length"""

UNTYPESET_MATH = """() => [...document.querySelectorAll('article .math')]
  .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60))"""

IMAGES = """() => [...document.querySelectorAll('article img')].map(i => {
  const r = i.getBoundingClientRect();
  return {src: i.getAttribute('src').slice(-60), natural: i.naturalWidth, naturalHeight: i.naturalHeight,
          width: r.width, height: r.height, visible: r.width > 0 && getComputedStyle(i).display !== 'none'};
})"""

OVERFLOW = """() => {
  const article = document.querySelector('article.bd-article');
  const blocks = article ? [...article.querySelectorAll('pre')] : [];
  return {
    page: document.documentElement.scrollWidth - innerWidth,
    article: article ? article.scrollWidth - article.clientWidth : 0,
    blocks: blocks.length,
    unwrapped: blocks.filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.slice(0, 50)),
  };
}"""

CONTROL = ".vega-bindings input, .vega-bindings select"
CONTROLS = f"""() => [...document.querySelectorAll('.vega-embed')].flatMap((chart, c) =>
  [...chart.querySelectorAll('{CONTROL}')].map((el, k) => ({{chart: c, control: k}})))"""

FIGURE = """chart => {
  const box = document.querySelectorAll('.vega-embed')[chart];
  const canvas = box.querySelector('canvas');
  if (canvas) return canvas.toDataURL();
  const svg = box.querySelector('svg');
  return svg ? svg.outerHTML : '';
}"""

MOVE = """([chart, control]) => {
  const el = document.querySelectorAll('.vega-embed')[chart].querySelectorAll('CONTROL')[control];
  const fire = (e) => ['input', 'change'].forEach(t => e.dispatchEvent(new Event(t, {bubbles: true})));
  if (el.tagName === 'SELECT') {
    el.selectedIndex = (el.selectedIndex + 1) % el.options.length;
  } else if (el.type === 'range') {
    const [lo, hi] = [Number(el.min), Number(el.max)];
    el.value = Number(el.value) === hi ? lo : hi;
  } else if (el.type === 'radio') {
    const others = [...el.form?.elements || el.parentElement.parentElement.querySelectorAll('input')]
        .filter(o => o.name === el.name && !o.checked);
    const target = el.checked ? others[0] : el;
    if (target) { target.checked = true; fire(target); }
    return el.type;
  } else if (el.type === 'checkbox') {
    el.checked = !el.checked;
  } else {
    return 'unsupported ' + el.type;
  }
  fire(el);
  return el.type || el.tagName;
}""".replace("CONTROL", CONTROL)


SELECTS = """chart => [...document.querySelectorAll('.vega-embed')[chart]
  .querySelectorAll('.vega-bindings select')].map(el => el.options.length)"""

CHOOSE = """([chart, k, option]) => {
  const el = document.querySelectorAll('.vega-embed')[chart].querySelectorAll('.vega-bindings select')[k];
  el.selectedIndex = option;
  ['input', 'change'].forEach(t => el.dispatchEvent(new Event(t, {bubbles: true})));
}"""


def _changes(page, chart: int, control: int) -> tuple[bool, str]:
    """Move one control; True when the chart's SVG/canvas differs within 3 s."""
    before = page.evaluate(FIGURE, chart)
    kind = page.evaluate(MOVE, [chart, control])
    deadline = time.monotonic() + 3
    while page.evaluate(FIGURE, chart) == before and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    return page.evaluate(FIGURE, chart) != before, kind


def _check_controls(page, problems: list[str]) -> int:
    """Every control changes its chart, in the current state or under some option of the chart's selects
    (a control may act only for one choice, e.g. the stride slider only for the strided pattern)."""
    moved = 0
    for c in page.evaluate(CONTROLS):
        chart, control = c["chart"], c["control"]
        moved += 1
        changed, kind = _changes(page, chart, control)
        for k, n_options in enumerate(page.evaluate(SELECTS, chart)):
            for option in range(n_options):
                if changed:
                    break
                page.evaluate(CHOOSE, [chart, k, option])
                page.wait_for_timeout(100)
                changed, kind = _changes(page, chart, control)
        if not changed:
            problems.append(f"chart {chart}: control {control} ({kind}) does not change the figure")
    return moved


def _screenshot(page, path: Path, found: list[str]) -> None:
    """A full-page JPEG of the current view; an empty or unwritten file is a problem of the page."""
    image = page.screenshot(path=str(path), full_page=True, type="jpeg", quality=60)
    if not image or not path.is_file() or path.stat().st_size != len(image):
        found.append(f"no screenshot written to {path.relative_to(ROOT)}")


def test_every_page_with_the_network_off(browser, site_url):
    started = time.monotonic()
    pages = _pages()
    assert len(pages) >= 20, pages
    for width in (WIDE, PHONE):
        (ARTIFACTS / str(width)).mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = defaultdict(list)
    current: list[str] = []  # the page being visited, for the event handlers
    context = browser.new_context(viewport={"width": WIDE, "height": 900})
    page = context.new_page()

    def route(r):
        url = r.request.url
        if url.startswith((site_url + "/", "data:", "blob:", "about:")):
            r.continue_()
        else:
            problems[current[0]].append(f"remote request (aborted): {url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems[current[0]].append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems[current[0]].append(f"page error: {e}"))
    page.on(
        "response",
        lambda r: r.status >= 400 and problems[current[0]].append(f"HTTP {r.status} for {r.url}"),
    )
    totals = defaultdict(int)
    for name in pages:
        current[:] = [name]
        found = problems[name]
        page.set_viewport_size({"width": WIDE, "height": 900})
        page.goto(f"{site_url}/{name}", wait_until="load")
        if name in REDIRECTS:  # a stub that forwards to the intro (checked as itself)
            page.wait_for_url(f"**/{REDIRECTS[name]}")
            continue
        page.evaluate(SETTLE)
        shown = VISIBLE_SOURCE.findall(page.evaluate(VISIBLE_TEXT))
        if shown:
            found.append(f"TeX/MyST source visible outside code: {sorted(set(shown))}")
        undrawn = page.evaluate(UNDRAWN_CHARTS)
        if undrawn:
            found.append(f"{undrawn} Vega charts were not drawn")
        english = page.evaluate(ENGLISH_UI)
        if english:
            found.append(f"theme strings not in Chinese: {english}")
        raw_math = page.evaluate(UNTYPESET_MATH)
        if raw_math:
            found.append(f"{len(raw_math)} formulas not typeset by MathJax: {raw_math[:3]}")
        for img in page.evaluate(IMAGES):
            totals["images"] += 1
            if not img["natural"]:
                found.append(f"image did not load: {img['src']}")
            elif img["visible"]:
                scale = img["width"] / img["natural"]
                if not MIN_SCALE <= scale <= MAX_UPSCALE:
                    found.append(f"image shown at {scale:.2f}x its natural size: {img['src']}")
        totals["controls"] += _check_controls(page, found)
        overflow = page.evaluate(OVERFLOW)
        totals["code and output blocks"] += overflow["blocks"]
        totals["unwrapped blocks at 1280"] += len(overflow["unwrapped"])
        if overflow["page"] > 0 or overflow["article"] > 1:
            excess = max(overflow["page"], overflow["article"])
            found.append(f"at {WIDE} px the column overflows by {excess} px")
        if overflow["unwrapped"]:
            found.append(f"code/output blocks wider than the column: {overflow['unwrapped'][:3]}")
        shot = _shot_name(name)
        _screenshot(page, ARTIFACTS / str(WIDE) / shot, found)
        page.set_viewport_size({"width": PHONE, "height": 844})
        page.wait_for_timeout(100)  # the resize handler re-fits wide figures
        phone = page.evaluate(OVERFLOW)
        if phone["page"] > 0:
            found.append(f"at {PHONE} px the page scrolls sideways by {phone['page']} px")
        _screenshot(page, ARTIFACTS / str(PHONE) / shot, found)
    context.close()
    bad = {name: found for name, found in problems.items() if found}
    print(
        f"site pages: {len(pages)} pages at {WIDE} and {PHONE} px, {dict(totals)}, "
        f"{sum(map(len, bad.values()))} problems on {len(bad)} pages, {time.monotonic() - started:.0f} s"
    )
    report = "\n".join(f"{name}:\n  " + "\n  ".join(found[:8]) for name, found in sorted(bad.items()))
    assert not bad, f"problems on {len(bad)} of {len(pages)} pages:\n{report}"
