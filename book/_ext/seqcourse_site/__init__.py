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
from .search import SeqcourseChinese

STATIC = Path(__file__).parent / "static"
logger = logging.getLogger(__name__)

# Theme strings that neither Sphinx's nor the themes' zh_CN catalogues translate.
CHINESE_UI = {
    "togglebutton_hint": "点击显示",
    "togglebutton_hint_hide": "点击隐藏",
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


def _drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Remove sphinx-thebe's scripts: the book has no live-code button (``launch_buttons.thebe: false``).

    sphinx-thebe adds ``const THEBE_JS_URL = ...`` each time ``env-before-read-docs`` fires, which happens
    more than once in a Jupyter Book build, so each page declared the constant twice (a SyntaxError in every
    page's console), and the constant names a remote script (unpkg.com).
    """

    def keep(asset: Any) -> bool:
        return "thebe" not in str(asset) and "THEBE_JS_URL" not in asset.attributes.get("body", "")

    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if keep(asset)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_search_language(SeqcourseChinese)
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.add_css_file("seqcourse.css")
    app.add_js_file("seqcourse.js", defer="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
