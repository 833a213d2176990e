"""seqcourse.charts: the offline Altair renderer, the myst-nb plugin for the book, and the chart helpers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import altair as alt
import numpy as np
import pytest
import torch
from chart_states import control_values, params, svgs

from seqcourse import charts
from seqcourse.charts import VEGALITE_MIME, choice, inline_data, matches, slider
from seqcourse.plot import use_course_style

ROOT = Path(__file__).resolve().parents[1]


def _chart() -> alt.Chart:
    k = slider("k", [1, 2, 3], value=1, label="斜率 k")
    shape = choice("shape", {"line": "直线", "square": "平方"}, value="line", label="形状")
    rows = [{"x": x, "y": k * x**p, "k": k, "shape": s}
            for k in (1, 2, 3) for s, p in (("line", 1), ("square", 2)) for x in range(5)]
    return (alt.Chart(inline_data(rows), title="测试图").mark_line()
            .encode(x="x:Q", y=alt.Y("y:Q", scale=alt.Scale(domain=[0, 50])))
            .add_params(k, shape)
            .transform_filter(matches("k", k, 0.5)).transform_filter(matches("shape", shape)))


def test_use_course_style_enables_the_offline_renderer_and_theme():
    alt.renderers.enable("default")
    alt.theme.enable("default")
    use_course_style()
    assert alt.renderers.active == "seqcourse"
    assert alt.theme.active == "seqcourse"
    bundle, metadata = _chart()._repr_mimebundle_()
    # the Vega-Lite major version Altair emits is the one named by the MIME type and vendored from npm
    major = alt.SCHEMA_VERSION.lstrip("v").split(".")[0]
    assert VEGALITE_MIME == f"application/vnd.vegalite.v{major}+json"
    assert set(bundle) == {VEGALITE_MIME, "text/plain"}, "no text/html outside Colab (JupyterLab prefers it)"
    spec = bundle[VEGALITE_MIME]
    assert spec["$schema"].endswith(f"/v{alt.SCHEMA_VERSION.lstrip('v')}.json")
    assert "测试图" in bundle["text/plain"]
    assert metadata[VEGALITE_MIME]["embed_options"]["actions"]["editor"] is False
    assert "Noto Sans CJK SC" in spec["config"]["font"]
    # the data is inline: no URL anywhere in the spec
    assert "url" not in json.dumps(spec["datasets"]) and "url" not in json.dumps(spec["data"])


def test_in_colab_the_bundle_adds_html_that_loads_vega_only_when_missing(monkeypatch):
    use_course_style()
    monkeypatch.setitem(__import__("sys").modules, "google.colab", object())
    bundle, _ = _chart()._repr_mimebundle_()
    html = bundle["text/html"]
    assert "window.vegaEmbed" in html and "if (window.vegaEmbed) draw(); else load(args.urls)" in html
    for name, version in charts.JS_VERSIONS.items():
        assert f"{name}@{version}" in html


def test_the_vendored_versions_are_the_ones_package_json_pins():
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]
    assert {n: pinned[n] for n in charts.JS_VERSIONS} == charts.JS_VERSIONS
    assert charts.JS_VERSIONS["vega-lite"].split(".")[0] == alt.SCHEMA_VERSION.lstrip("v").split(".")[0]
    makefile = (ROOT / "Makefile").read_text()
    config = (ROOT / "_config.yml").read_text()
    for name in charts.JS_VERSIONS:
        path = f"{name}/build/{name}.min.js"
        assert f"node_modules/{path}" in makefile
        assert f"vega/{Path(path).name}" in config


def test_embed_html_keeps_the_spec_inside_its_script():
    spec = {"title": "a </script><script>alert(1)</script>", "mark": "point"}
    html = charts.embed_html(spec)
    assert html.count("</script>") == 1, "a spec string must not close the script element"
    payload = re.search(r"const args = (\{.*\});", html).group(1)
    assert json.loads(payload.replace("<\\/", "</"))["spec"] == spec
    ids = {re.search(r'id="([^"]+)"', charts.embed_html(spec)).group(1) for _ in range(3)}
    assert len(ids) == 3, "every chart needs its own element id"


def test_the_mystnb_plugin_draws_vegalite_outputs_with_the_local_vega_embed():
    from myst_nb.core.render import MimeData

    from seqcourse.charts.mystnb import VegaLiteOutput

    spec = _chart().to_dict()
    (node,) = VegaLiteOutput.handle_mime(None, MimeData(VEGALITE_MIME, spec), False)
    assert node["format"] == "html" and "vegaEmbed" in node.astext() and '"测试图"' in node.astext()
    assert VegaLiteOutput.handle_mime(None, MimeData("text/html", "<b>x</b>"), False) is None
    assert VegaLiteOutput.handle_mime(None, MimeData(VEGALITE_MIME, spec), True) is None
    assert ("html", VEGALITE_MIME, 5) in VegaLiteOutput.mime_priority_overrides
    declared = (ROOT / "pyproject.toml").read_text()
    assert '"myst_nb.mime_renderers"' in declared and "seqcourse.charts.mystnb:VegaLiteOutput" in declared


def test_every_control_value_draws_a_different_figure():
    chart = _chart()
    ps = params(chart)
    assert set(ps) == {"k", "shape"}
    assert control_values(ps["k"]) == [1, 2, 3] and control_values(ps["shape"]) == ["line", "square"]
    states = [{"k": k, "shape": s} for k in (1, 2, 3) for s in ("line", "square")]
    drawn = svgs(chart, states)
    assert len(set(drawn)) == len(states)
    assert all("<path" in svg for svg in drawn)


def test_a_filter_that_ignores_its_param_is_caught():
    """Mutant of the test above: a chart whose filter does not use the slider draws the same figure."""
    k = slider("k", [1, 2], value=1, label="k")
    rows = [{"x": x, "y": k * x, "k": k} for k in (1, 2) for x in range(3)]
    chart = alt.Chart(inline_data(rows)).mark_line().encode(x="x:Q", y="y:Q").add_params(k).transform_filter(
        "datum.k == 1")
    a, b = svgs(chart, [{"k": 1}, {"k": 2}])
    assert a == b


def test_inline_data_converts_scalars_and_rejects_what_json_cannot_hold():
    rows = inline_data([{"a": np.float32(0.5), "b": torch.tensor(3), "c": "x"}]).to_dict()["values"]
    assert rows == [{"a": 0.5, "b": 3, "c": "x"}] and type(rows[0]["b"]) is int
    with pytest.raises(ValueError, match="finite"):
        inline_data([{"a": float("nan")}])
    with pytest.raises(ValueError, match="tidy table"):
        inline_data([{"a": 1}, {"b": 2}])
    with pytest.raises(ValueError, match="at least one row"):
        inline_data([])
    with pytest.raises(TypeError, match="numbers, strings"):
        inline_data([{"a": [1, 2]}])


def test_controls_validate_their_grid_and_default():
    with pytest.raises(ValueError, match="evenly spaced"):
        slider("s", [0, 1, 3], value=0, label="s")
    with pytest.raises(ValueError, match="not on its grid"):
        slider("s", [0, 1, 2], value=0.5, label="s")
    with pytest.raises(ValueError, match="must be one of"):
        choice("c", {"a": "A"}, value="b", label="c")
    with pytest.raises(ValueError, match="widget"):
        choice("c", {"a": "A"}, value="a", label="c", widget="checkbox")
    s = slider("s", [0.1, 0.2, 0.3], value=0.3, label="s")
    assert matches("col", s, 0.05) == 'abs(datum["col"] - s) < 0.05'
    with pytest.raises(ValueError, match="positive"):
        matches("col", s, 0)
    with pytest.raises(TypeError, match="Vega-Lite dict"):
        charts.renderer("not a spec")
