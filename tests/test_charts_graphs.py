"""The graph-chapter charts: each slider is a bound Vega-Lite param whose filter picks one frame of rows."""

from __future__ import annotations

import re

import pytest
from chart_states import control_values, params, svgs

from seqcourse.charts import graphs as charts

CASES = {
    "embedding_chart": ("epoch", [
        {"epoch": e, "node": i, "x": float(i + e), "y": 1.0, "faction": "a", "labelled": "有标签"}
        for e in (0, 10, 20) for i in range(3)]),
    "esn_radius_chart": ("rho", [
        {"rho": r, "t": t, "value": r * t, "series": s} for r in (0.5, 0.9, 1.3) for t in range(4)
        for s in ("目标", "ESN 预测")]),
    "addressing_chart": ("step", [
        {"step": s, "slot": k, "weight": float(k == s), "head": h} for s in range(4) for k in range(4)
        for h in ("写头", "读头")]),
}


def frame(spec: dict, rows: list[dict], value: float) -> list[dict]:
    """Evaluate the chart's filter expression (abs(datum.c - c) < tol) for the param set to ``value``."""
    (flt,) = [t["filter"] for t in spec["transform"]]
    column, tol = re.fullmatch(r'abs\(datum\["(\w+)"\] - \1\) < ([0-9.e-]+)', flt).groups()
    return [r for r in rows if abs(r[column] - value) < float(tol)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_slider_is_bound_and_selects_exactly_one_frame(name):
    column, rows = CASES[name]
    spec = getattr(charts, name)(rows).to_dict()
    (param,) = spec["params"]
    assert param["name"] == column and param["bind"]["input"] == "range"
    values = sorted({r[column] for r in rows})
    assert param["bind"]["min"] == values[0] and param["bind"]["max"] == values[-1]
    assert param["value"] == values[-1]
    data = spec["datasets"][spec["data"]["name"]] if "datasets" in spec else spec["data"]["values"]
    assert len(data) == len(rows)
    for v in values:  # every slider position shows its own frame and nothing else
        assert frame(spec, rows, v) == [r for r in rows if r[column] == v]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_tables_are_rejected(name):
    column, rows = CASES[name]
    fn = getattr(charts, name)
    with pytest.raises(TypeError, match="list of row dicts"):
        fn([])
    with pytest.raises(TypeError, match="list of row dicts"):
        fn(rows[0])
    with pytest.raises(ValueError, match="columns"):
        fn([{k: v for k, v in rows[0].items() if k != column}])


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_slider_stop_draws_a_different_figure(name):
    column, rows = CASES[name]
    chart = getattr(charts, name)(rows)
    (param,) = params(chart).values()
    drawn = svgs(chart, [{column: v} for v in control_values(param)])
    assert len(set(drawn)) == len(drawn), f"moving {column} does not change the figure"
