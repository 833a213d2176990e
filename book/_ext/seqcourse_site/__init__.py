"""The book's local Sphinx extension: Chinese search, deployment settings, theme fixes and the layout CSS.

Jupyter Book 1 loads it through ``sphinx.local_extensions`` in ``_config.yml``. Everything here runs at build
time; in the browser run only the query splitter of the Chinese search (``zh_search.js``, inside
language_data.js) and the wide-figure rule of ``static/seqcourse.js``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

from .deployment import apply_deployment
from .search import SeqcourseChinese, glossary_words

STATIC = Path(__file__).parent / "static"
GLOSSARY = Path("book") / "glossary.md"  # relative to the book root
logger = logging.getLogger(__name__)

# Theme settings whose default text is English.
CHINESE_UI = {
    "togglebutton_hint": "点击显示",
    "togglebutton_hint_hide": "点击隐藏",
}
# Theme strings that neither Sphinx's nor the themes' zh_CN catalogues translate, as they appear in the
# written pages (quoted attribute values and text); replaced in every page when the build has finished.
CHINESE_PAGE_STRINGS = {
    '"Link to this heading"': '"链接到此标题"',
    '"Color mode"': '"颜色模式"',
    '"System Settings"': '"跟随系统"',
    '"Light"': '"浅色"',
    '"Dark"': '"深色"',
    '"Toggle primary sidebar"': '"显示或隐藏导航栏"',
    '"Toggle secondary sidebar"': '"显示或隐藏本页目录"',
    'aria-label="Main"': 'aria-label="主导航"',
    'aria-label="Page"': 'aria-label="本页"',
    "© Copyright ": "© 版权所有 ",
}


def _configure(app: Sphinx, config: Config) -> None:
    config.html_static_path.append(str(STATIC))
    options = config.html_theme_options
    # pydata-sphinx-theme reads the colour mode from html_context; unset, it logs "Got invalid theme mode"
    config.html_context.setdefault("default_mode", "light")
    options["search_bar_text"] = "搜索本书…"
    for name, text in CHINESE_UI.items():
        setattr(config, name, text)
    for line in apply_deployment(config):
        logger.info(line, color="yellow")
    _search_dictionary(app, config)


def _search_dictionary(app: Sphinx, config: Config) -> None:
    """Give jieba the glossary's Chinese terms as words (the zh search loads ``html_search_options.dict``)."""
    glossary = Path(app.srcdir) / GLOSSARY
    if not glossary.is_file():
        return
    words = Path(app.doctreedir) / "seqcourse-search-words.txt"
    words.parent.mkdir(parents=True, exist_ok=True)
    words.write_text("\n".join(glossary_words(glossary.read_text(encoding="utf-8"))) + "\n", encoding="utf-8")
    config.html_search_options = {**(config.html_search_options or {}), "dict": str(words)}


def _drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Remove sphinx-thebe's scripts: the book has no live-code button (``launch_buttons.thebe: false``).

    sphinx-thebe adds ``const THEBE_JS_URL = ...`` each time ``env-before-read-docs`` fires, which happens
    more than once in a Jupyter Book build, so each page declared the constant twice (a SyntaxError in every
    page's console), and the constant names a remote script (unpkg.com).
    """

    def keep(asset: Any) -> bool:
        name = str(asset.filename or "")
        return "thebe" not in name and "THEBE_JS_URL" not in asset.attributes.get("body", "")

    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if keep(asset)]


def _translate_pages(app: Sphinx, exception: Exception | None) -> None:
    """Replace the theme's untranslated English strings in every written page (see CHINESE_PAGE_STRINGS)."""
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        translated = text
        for english, chinese in CHINESE_PAGE_STRINGS.items():
            translated = translated.replace(english, chinese)
        if translated != text:
            page.write_text(translated, encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_search_language(SeqcourseChinese)
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("build-finished", _translate_pages)
    app.add_css_file("seqcourse.css")
    app.add_js_file("seqcourse.js", defer="defer")
    # sphinx-external-toc always loads sphinx-multitoc-numbering, which declares nothing about parallel
    # reading, so Sphinx would read (that is, execute) the chapters one at a time (tools/build_book.py reads
    # them in parallel). That extension only renumbers sections after every document has been read, in the
    # main process, so parallel reading is safe for it.
    multitoc = app.extensions.get("sphinx_multitoc_numbering")
    if multitoc is not None and multitoc.parallel_read_safe is None:
        multitoc.parallel_read_safe = True
    return {"parallel_read_safe": True, "parallel_write_safe": True}
