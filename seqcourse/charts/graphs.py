"""Altair charts of the 图与结构 chapters (graph neural networks; recursive, echo state and memory networks).

Each function takes a tidy table (a list of dicts, one per row, every state precomputed) and returns a
chart whose slider is a Vega-Lite param that filters the rows, so the figure responds in the static site
without a kernel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt

from seqcourse.charts import inline_data, matches, slider

__all__ = ["embedding_chart", "esn_radius_chart", "addressing_chart"]

Rows = Sequence[Mapping[str, object]]


def _table(rows: Rows, columns: tuple[str, ...], who: str) -> alt.InlineData:
    """Check that ``rows`` is a non-empty tidy table with exactly ``columns``; return it as inline data."""
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence) or not rows:
        raise TypeError(f"{who} needs a non-empty list of row dicts, got {type(rows).__name__}")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or set(row) != set(columns):
            got = sorted(row) if isinstance(row, Mapping) else type(row).__name__
            raise ValueError(f"{who}: row {i} must have exactly the columns {list(columns)}, got {got}")
    return inline_data([{c: row[c] for c in columns} for row in rows])


def _with_slider(chart: alt.Chart, rows: Rows, column: str, label: str) -> alt.Chart:
    """Add a slider over the (evenly spaced) values of ``column``; keep only the rows it selects."""
    grid = sorted({float(r[column]) for r in rows})
    param = slider(column, grid, value=grid[-1], label=label)
    return chart.add_params(param).transform_filter(matches(column, param, (grid[1] - grid[0]) / 2))


def embedding_chart(rows: Rows) -> alt.Chart:
    """Node embeddings (x, y) during training, one frame per ``epoch`` chosen by a slider.

    Columns: epoch, node, x, y, faction (text), labelled (text, e.g. "有标签" / "无标签").
    """
    data = _table(rows, ("epoch", "node", "x", "y", "faction", "labelled"), "embedding_chart")
    chart = (
        alt.Chart(data)
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X("x:Q", title="隐藏表示第 1 维"),
            y=alt.Y("y:Q", title="隐藏表示第 2 维"),
            color=alt.Color("faction:N", title="真实派系"),
            shape=alt.Shape("labelled:N", title="训练时"),
            tooltip=["node:Q", "faction:N", "labelled:N"],
        )
        .properties(width=380, height=320, title="空手道俱乐部：GCN 隐藏表示随训练的变化")
    )
    return _with_slider(chart, rows, "epoch", "训练轮数")


def esn_radius_chart(rows: Rows) -> alt.Chart:
    """Echo state network outputs for several spectral radii ``rho`` (slider) against the target.

    Columns: rho, t, value, series (text, e.g. "目标" / "ESN 预测").
    """
    data = _table(rows, ("rho", "t", "value", "series"), "esn_radius_chart")
    chart = (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X("t:Q", title="时间步"),
            y=alt.Y("value:Q", title="取值"),
            color=alt.Color("series:N", title=""),
        )
        .properties(width=520, height=240, title="回声状态网络：谱半径对预测的影响")
    )
    return _with_slider(chart, rows, "rho", "谱半径 ρ")


def addressing_chart(rows: Rows) -> alt.Chart:
    """Weights over memory slots at each ``step`` (slider), one panel per head.

    Columns: step, slot, weight, head (text, e.g. "写头" / "读头").
    """
    data = _table(rows, ("step", "slot", "weight", "head"), "addressing_chart")
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("slot:O", title="记忆槽位"),
            y=alt.Y("weight:Q", title="权重", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("head:N", title="读写头"),
            row=alt.Row("head:N", title=None),
        )
        .properties(width=420, height=110)
    )
    return _with_slider(chart, rows, "step", "时间步")
