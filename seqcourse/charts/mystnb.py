"""myst-nb plugin: draw Vega-Lite outputs in the built book with the site's own vega-embed.

Registered in ``pyproject.toml`` under the entry-point group ``myst_nb.mime_renderers``. myst-nb itself does
not know the Vega-Lite MIME type; this plugin ranks it first for HTML builders and turns it into
:func:`seqcourse.charts.embed_html`, which calls the ``vegaEmbed`` that ``_config.yml`` loads on every page.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar

from docutils import nodes

from seqcourse.charts import VEGALITE_MIME, embed_html

if TYPE_CHECKING:
    from myst_nb.core.render import MimeData, NbElementRenderer

__all__ = ["VegaLiteOutput"]


class VegaLiteOutput:
    """A ``myst_nb.core.render.MimeRenderPlugin`` for ``VEGALITE_MIME`` outputs (block level only)."""

    # below text/html (30): a Colab-saved bundle with both parts still draws from the local copy
    mime_priority_overrides: ClassVar[list[tuple[str, str, int]]] = [
        (builder, VEGALITE_MIME, 5) for builder in ("html", "dirhtml", "singlehtml")
    ]

    @staticmethod
    def handle_mime(renderer: NbElementRenderer, data: MimeData, inline: bool) -> list[nodes.Element] | None:
        if inline or data.mime_type != VEGALITE_MIME:
            return None
        spec = data.content if isinstance(data.content, dict) else json.loads(data.string)
        return [nodes.raw(text=embed_html(spec), format="html", classes=["output", "text_html"])]
