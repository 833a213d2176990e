"""Interactive figures as Altair (Vega-Lite) charts that respond in the browser, with no kernel.

Every state of a figure is precomputed in Python as a tidy table (one dict per row) and the chart's controls
are Vega-Lite params bound to sliders / radio buttons / select boxes; ``transform_filter`` on those params
picks the rows to draw. So the same chart works in the static book, in JupyterLab and in Colab.

How a chart reaches each front end (``enable()``, called by ``seqcourse.plot.use_course_style()``, registers
and enables the ``"seqcourse"`` Altair renderer and theme):

- **JupyterLab / Notebook 7 / VS Code** render the Vega-Lite MIME type ``VEGALITE_MIME`` natively, offline.
  The bundle then carries no ``text/html`` on purpose: JupyterLab ranks ``text/html`` (rank 50) above its
  Vega renderer (rank 57), so an HTML part would replace the native chart by a script that needs a CDN.
- **The built book**: the myst-nb plugin :class:`seqcourse.charts.mystnb.VegaLiteOutput` turns the same MIME
  output into :func:`embed_html`, which calls the global ``vegaEmbed`` that every page loads from the site's
  own copy of vega / vega-lite / vega-embed (``_vendor/vega``, pinned in ``package.json``). No remote request.
- **Colab** renders neither MIME type natively, so in Colab (``google.colab`` imported) the bundle adds the
  same :func:`embed_html` as ``text/html``; there ``vegaEmbed`` is missing and the snippet loads the pinned
  versions from a CDN. That branch never runs in the book, where ``vegaEmbed`` is always defined.
"""

from __future__ import annotations

import json
import math
import sys
import uuid
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import altair as alt

__all__ = [
    "VEGALITE_MIME",
    "JS_VERSIONS",
    "EMBED_OPTIONS",
    "FONT",
    "enable",
    "renderer",
    "embed_html",
    "inline_data",
    "slider",
    "choice",
    "matches",
]

#: The MIME type of the Vega-Lite major version the installed Altair emits (JupyterLab 4 renders v5).
VEGALITE_MIME = f"application/vnd.vegalite.v{alt.SCHEMA_VERSION.lstrip('v').split('.')[0]}+json"

#: The npm versions the site vendors (package.json pins the same; a test keeps the two equal).
JS_VERSIONS = {"vega": "5.33.1", "vega-lite": "5.20.1", "vega-embed": "6.29.0"}

#: vega-embed options: SVG output (sharp at any zoom) and an export menu without the remote editor link.
EMBED_OPTIONS: dict[str, Any] = {
    "renderer": "svg",
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}

#: CJK font stack for chart text: the font the course ships for matplotlib first, then common system fonts.
FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif'

_CDN = "https://cdn.jsdelivr.net/npm/{name}@{version}"
_NAME = "seqcourse"


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def embed_html(spec: Mapping[str, Any], embed_options: Mapping[str, Any] | None = None) -> str:
    """An HTML ``<div>`` plus a script that draws ``spec`` with the page's global ``vegaEmbed``.

    When ``vegaEmbed`` is not defined once the page has loaded (Colab, plain HTML exports), the script loads
    the pinned vega, vega-lite and vega-embed from a CDN first; the built book defines it, so it never does.
    """
    div = f"seqcourse-chart-{uuid.uuid4().hex}"
    options = dict(EMBED_OPTIONS if embed_options is None else embed_options)
    urls = [_CDN.format(name=n, version=v) for n, v in JS_VERSIONS.items()]
    # "</" would end the script element early: JSON allows the escape "<\/"
    payload = json.dumps({"spec": spec, "options": options, "urls": urls}, ensure_ascii=False)
    payload = payload.replace("</", "<\\/")
    return f"""<div id="{div}" class="seqcourse-chart"></div>
<script type="text/javascript">
(function () {{
  const args = {payload};
  const el = document.getElementById("{div}");
  function draw() {{
    window.vegaEmbed(el, args.spec, args.options).catch(function (err) {{
      el.textContent = "图表无法显示：" + err;
    }});
  }}
  function load(urls) {{
    if (!urls.length) {{ draw(); return; }}
    const s = document.createElement("script");
    s.src = urls[0];
    s.onload = function () {{ load(urls.slice(1)); }};
    s.onerror = function () {{ el.textContent = "图表需要 vega-embed：无法加载 " + urls[0]; }};
    document.head.appendChild(s);
  }}
  function start() {{ if (window.vegaEmbed) draw(); else load(args.urls); }}
  if (window.vegaEmbed || document.readyState !== "loading") start();
  else document.addEventListener("DOMContentLoaded", start);
}})();
</script>"""


def renderer(spec: dict, **embed_options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Altair renderer ``"seqcourse"``: the Vega-Lite MIME bundle (plus ``text/html`` in Colab).

    Returns ``(bundle, metadata)`` as Altair's renderers do; ``embed_options`` (from
    ``alt.renderers.set_embed_options``) override :data:`EMBED_OPTIONS`.
    """
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a Vega-Lite dict, got {type(spec).__name__}")
    options = {**EMBED_OPTIONS, **embed_options.get("embed_options", {})}
    title = spec.get("title")
    label = title.get("text") if isinstance(title, dict) else title
    bundle: dict[str, Any] = {
        VEGALITE_MIME: spec,
        "text/plain": f"<交互图表{'：' + str(label) if label else ''}（Vega-Lite）>",
    }
    if _in_colab():
        bundle["text/html"] = embed_html(spec, options)
    return bundle, {VEGALITE_MIME: {"embed_options": options}}


def _theme() -> dict[str, Any]:
    return {
        "config": {
            "font": FONT,
            "view": {"continuousWidth": 420, "continuousHeight": 260},
            "axis": {"labelFontSize": 11, "titleFontSize": 12},
            "legend": {"labelFontSize": 11, "titleFontSize": 12, "labelLimit": 320},
            "title": {"fontSize": 14, "anchor": "start"},
        }
    }


def enable() -> None:
    """Register and enable the ``"seqcourse"`` renderer and theme (idempotent, cheap to call again)."""
    if _NAME not in alt.renderers.names():
        alt.renderers.register(_NAME, renderer)
    if alt.renderers.active != _NAME:
        alt.renderers.enable(_NAME)
    if _NAME not in alt.theme.names():
        alt.theme.register(_NAME, enable=False)(_theme)
    if alt.theme.active != _NAME:
        alt.theme.enable(_NAME)


# ------------------------------------------------------------------------------------- tidy data and controls


def _json_value(key: str, v: object) -> str | int | float | bool | None:
    if v is None or isinstance(v, (str, bool)):
        return v
    if hasattr(v, "item"):  # NumPy / PyTorch scalars
        v = v.item()
    if isinstance(v, Integral):
        return int(v)
    if isinstance(v, Real):
        if not math.isfinite(float(v)):
            raise ValueError(f"column {key!r} holds {v}: chart data must be finite (JSON has no inf/nan)")
        return float(v)
    raise TypeError(f"column {key!r} must hold numbers, strings, booleans or None, got {type(v).__name__}")


def inline_data(rows: Sequence[Mapping[str, object]]) -> alt.InlineData:
    """A tidy table (one mapping per row, every row with the same columns) as inline Vega-Lite data.

    NumPy / PyTorch scalars become Python numbers; NaN and infinities are rejected (JSON cannot hold them).
    The data stays in the chart spec, so nothing is fetched when it is drawn.
    """
    if not rows:
        raise ValueError("rows must hold at least one row")
    columns = list(rows[0])
    values = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"row {i} must be a mapping of column to value, got {type(row).__name__}")
        if list(row) != columns:
            raise ValueError(f"row {i} has columns {list(row)}, expected {columns} (a tidy table)")
        values.append({k: _json_value(k, v) for k, v in row.items()})
    return alt.InlineData(values=values)


def slider(name: str, grid: Sequence[float], *, value: float, label: str) -> alt.Parameter:
    """A param bound to a slider over the evenly spaced ``grid`` (the values the data was computed for)."""
    grid = [float(g) for g in grid]
    if len(grid) < 2:
        raise ValueError(f"grid of {name!r} must hold at least 2 values, got {len(grid)}")
    step = grid[1] - grid[0]
    gaps = [b - a for a, b in zip(grid[:-1], grid[1:], strict=True)]
    if step <= 0 or any(not math.isclose(g, step, rel_tol=1e-6, abs_tol=1e-9) for g in gaps):
        raise ValueError(f"grid of {name!r} must be increasing and evenly spaced, got {grid}")
    if not any(math.isclose(value, g, abs_tol=step / 4) for g in grid):
        raise ValueError(f"value {value} of {name!r} is not on its grid {grid}")
    bind = alt.binding_range(min=grid[0], max=grid[-1], step=step, name=f"{label} ")
    return alt.param(name=name, value=value, bind=bind)


def choice(
    name: str, options: Mapping[str, str], *, value: str, label: str, widget: str = "radio"
) -> alt.Parameter:
    """A param bound to radio buttons (or a ``widget="select"`` box); ``options`` maps value to its label."""
    if value not in options:
        raise ValueError(f"value {value!r} of {name!r} must be one of {list(options)}")
    kinds = {"radio": alt.binding_radio, "select": alt.binding_select}
    if widget not in kinds:
        raise ValueError(f"widget must be one of {list(kinds)}, got {widget!r}")
    bind = kinds[widget](options=list(options), labels=list(options.values()), name=f"{label} ")
    return alt.param(name=name, value=value, bind=bind)


def matches(column: str, param: alt.Parameter, tolerance: float | None = None) -> str:
    """A Vega expression true on the rows whose ``column`` equals the param's current value.

    For slider params pass ``tolerance`` (half the grid step): slider values are floats, and 0.1 + 0.2 is
    not 0.3, so numbers are compared within the tolerance rather than for equality.
    """
    field = f"datum[{json.dumps(column)}]"
    if tolerance is None:
        return f"{field} == {param.name}"
    if tolerance <= 0:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    return f"abs({field} - {param.name}) < {tolerance!r}"
