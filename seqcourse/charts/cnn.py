"""Interactive figures of the convolution chapters, as Altair (Vega-Lite) charts.

Every state is precomputed in Python as a tidy table (a list of dicts, one per row); the controls are
Vega-Lite params bound to sliders or radio buttons, and ``transform_filter`` on them picks the rows to draw,
so the charts respond in the static book with no kernel.

* :func:`sliding_window_chart`: a 3x3 kernel sliding over an image (lecture 004's 9x9 example), one output
  value per slider step, with or without one ring of zero padding;
* :func:`darts_alpha_chart`: the DARTS mixture weights softmax(alpha) of every edge over the search steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import torch

from seqcourse.charts import choice, inline_data, slider
from seqcourse.scratch.conv import filter2d
from seqcourse.utils import check_ndim

__all__ = ["sliding_window_rows", "sliding_window_chart", "darts_alpha_rows", "darts_alpha_chart"]


def _number(v: float) -> str:
    """Integers without a decimal point, other values with two decimals; negatives in parentheses."""
    text = f"{v:g}" if float(v).is_integer() else f"{v:.2f}"
    return f"({text})" if v < 0 else text


def sliding_window_rows(
    image: np.ndarray, kernel: np.ndarray, paddings: Sequence[int] = (0, 1)
) -> dict[str, list[dict]]:
    """The three tables behind :func:`sliding_window_chart`, for every padding p in ``paddings``:

    * ``"cells"``: one row per pixel of the padded image (padding, row, col, value, pad = on the border);
    * ``"steps"``: one row per output position k = i W_out + j (padding, k, i, j, the window's corners
      row0..row1 / col0..col1 in padded coordinates, the value y[i, j] and the sum of products as text);
    * ``"outputs"``: the same positions with their values, drawn once the slider reaches k.

    Stride 1: y[i, j] = sum_{u, v} kernel[u, v] x_pad[i + u, j + v] (cross-correlation, as ``filter2d``).
    """
    image, kernel = np.asarray(image), np.asarray(kernel)
    check_ndim("image", image, 2)
    check_ndim("kernel", kernel, 2)
    cells: list[dict] = []
    steps: list[dict] = []
    kh, kw = kernel.shape
    for p in paddings:
        if not isinstance(p, int) or p < 0:
            raise ValueError(f"paddings must be non-negative ints, got {p!r}")
        x_pad = np.pad(image, p)  # (H + 2p, W + 2p)
        y = filter2d(image, kernel, padding=p)  # (H_out, W_out)
        for (r, c), v in np.ndenumerate(x_pad):
            on_border = not (p <= r < p + image.shape[0] and p <= c < p + image.shape[1])
            cells.append({"padding": p, "row": r, "col": c, "value": float(v), "pad": on_border})
        h_out, w_out = y.shape
        for (i, j), v in np.ndenumerate(y):
            window = x_pad[i : i + kh, j : j + kw]
            terms = " + ".join(f"{_number(a)}×{_number(b)}" for a, b in zip(window.ravel(), kernel.ravel(),
                                                                          strict=True))
            steps.append({
                "padding": p, "k": i * w_out + j, "n": h_out * w_out, "i": i, "j": j,
                "row0": i, "row1": i + kh, "col0": j, "col1": j + kw, "value": float(v),
                "formula": f"y[{i},{j}] = {terms} = {float(v):.4g}",
            })
    outputs = [{key: s[key] for key in ("padding", "k", "n", "i", "j", "value")} for s in steps]
    return {"cells": cells, "steps": steps, "outputs": outputs}


def sliding_window_chart(
    image: np.ndarray, kernel: np.ndarray, paddings: Sequence[int] = (0, 1)
) -> alt.VConcatChart:
    """A kernel sliding over ``image``: a slider picks the output position (in reading order), radio buttons
    the padding. Left: the (padded) input with the current window outlined; right: the outputs computed so
    far, the current one outlined; below: the sum of products that gives it."""
    rows = sliding_window_rows(image, kernel, paddings)
    n_max = max(s["n"] for s in rows["steps"])
    step = slider("step", range(n_max), value=0, label="输出位置（按行数）")
    pad = choice("pad", {str(p): f"填充 p = {p}" for p in paddings}, value=str(paddings[0]), label="填充")
    on_pad = "datum.padding == toNumber(pad)"
    current = "datum.k == min(step, datum.n - 1)"
    h, w = np.asarray(image).shape
    kh, kw = np.asarray(kernel).shape
    size = 26  # pixels per cell

    def axes(n_rows: str, n_cols: str) -> dict:
        """Quantitative x (column) and y (row, downwards) scales over the current grid, [0, n); the keys
        ``"x"``, ``"x2"``, ``"y"``, ``"y2"`` encode cells, ``"xc"``, ``"yc"`` their centres."""
        sx = alt.Scale(domain=alt.ExprRef(f"[0, {n_cols}]"), nice=False)
        sy = alt.Scale(domain=alt.ExprRef(f"[{n_rows}, 0]"), nice=False)
        return {"x": alt.X("x0:Q", axis=None, scale=sx), "x2": "x1:Q",
                "y": alt.Y("y0:Q", axis=None, scale=sy), "y2": "y1:Q",
                "xc": alt.X("xc:Q", axis=None, scale=sx), "yc": alt.Y("yc:Q", axis=None, scale=sy)}

    def rect(enc: dict) -> dict:
        return {key: enc[key] for key in ("x", "x2", "y", "y2")}

    def cells(chart: alt.Chart, row: str, col: str, height: int = 1, width: int = 1) -> alt.Chart:
        return chart.transform_calculate(x0=f"datum.{col}", x1=f"datum.{col} + {width}",
                                         y0=f"datum.{row}", y1=f"datum.{row} + {height}")

    side_in = max(h, w) + 2 * max(paddings)
    enc_in = axes(f"{h} + 2 * toNumber(pad)", f"{w} + 2 * toNumber(pad)")
    base_in = alt.Chart(inline_data(rows["cells"]), title="输入（灰色为补的 0）",
                        width=size * side_in, height=size * side_in).transform_filter(on_pad)
    base_in = cells(base_in, "row", "col")
    heat_in = base_in.mark_rect(stroke="white").encode(
        **rect(enc_in),
        color=alt.condition("datum.pad", alt.value("#dddddd"),
                            alt.Color("value:Q", legend=None, scale=alt.Scale(scheme="blues"))),
    )
    centres = {"xc": "datum.x0 + 0.5", "yc": "datum.y0 + 0.5"}
    text_in = base_in.transform_calculate(**centres).mark_text(fontSize=12).encode(
        x=enc_in["xc"], y=enc_in["yc"], text=alt.Text("value:Q", format="d"),
    )
    window = (
        alt.Chart(inline_data(rows["steps"])).transform_filter(on_pad).transform_filter(current)
        .transform_calculate(x0="datum.col0", x1="datum.col1", y0="datum.row0", y1="datum.row1")
        .mark_rect(fill=None, stroke="#d62728", strokeWidth=3).encode(**rect(enc_in))
    )
    side_out = max(r["i"] for r in rows["outputs"]) + 1
    enc_out = axes(f"{h - kh + 1} + 2 * toNumber(pad)", f"{w - kw + 1} + 2 * toNumber(pad)")
    base_out = alt.Chart(inline_data(rows["outputs"]), title="输出特征图",
                         width=size * side_out, height=size * side_out).transform_filter(on_pad)
    base_out = cells(base_out, "i", "j").transform_filter("datum.k <= min(step, datum.n - 1)")
    heat_out = base_out.mark_rect(stroke="white").encode(
        **rect(enc_out),
        color=alt.Color("value:Q", legend=None, scale=alt.Scale(scheme="redblue", domainMid=0)),
    )
    text_out = base_out.transform_calculate(**centres).mark_text(fontSize=12).encode(
        x=enc_out["xc"], y=enc_out["yc"], text=alt.Text("value:Q", format=".3~f"),
    )
    mark_out = (base_out.transform_filter(current)
                .mark_rect(fill=None, stroke="#d62728", strokeWidth=3).encode(**rect(enc_out)))
    formula = (
        alt.Chart(inline_data(rows["steps"]), width=size * (side_in + side_out) + 20, height=20)
        .transform_filter(on_pad).transform_filter(current)
        .mark_text(align="left", fontSize=13).encode(x=alt.value(0), y=alt.value(10), text="formula:N")
    )
    panels = alt.hconcat(heat_in + text_in + window, heat_out + text_out + mark_out)
    panels = panels.resolve_scale(color="independent")
    return alt.vconcat(panels, formula).add_params(step, pad).configure_view(stroke=None)


def darts_alpha_rows(
    weights_history: Sequence[torch.Tensor], op_names: Sequence[str], every: int = 1
) -> list[dict]:
    """One row per (step, edge, operation) with softmax(alpha) after that step; ``every`` keeps every n-th
    step (and always the last), to keep the chart small."""
    if not weights_history:
        raise ValueError("weights_history is empty: run darts_search for at least one step")
    n_edges, n_ops = weights_history[0].shape
    if n_ops != len(op_names):
        raise ValueError(f"op_names has {len(op_names)} names but alpha has {n_ops} operations per edge")
    last = len(weights_history) - 1
    kept = sorted(set(range(0, last + 1, every)) | {last})
    return [
        {"step": t + 1, "edge": e + 1, "op": op_names[o], "weight": float(weights_history[t][e, o])}
        for t in kept for e in range(n_edges) for o in range(n_ops)
    ]


def darts_alpha_chart(
    weights_history: Sequence[torch.Tensor], op_names: Sequence[str], every: int = 1
) -> alt.HConcatChart:
    """softmax(alpha) over the search: radio buttons pick the edge, a slider the step. Left: every
    operation's weight over time with a rule at the chosen step; right: the weights at that step."""
    rows = darts_alpha_rows(weights_history, op_names, every)
    steps = sorted({r["step"] for r in rows})
    edges = sorted({r["edge"] for r in rows})
    edge = choice("edge", {str(e): f"边 {e}" for e in edges}, value=str(edges[0]), label="边")
    step = slider("step", range(steps[0], steps[-1] + 1), value=steps[-1], label="搜索步数")
    colour = alt.Color("op:N", title="操作", sort=list(op_names))
    base = alt.Chart(inline_data(rows)).transform_filter("datum.edge == toNumber(edge)")
    lines = base.mark_line().encode(
        x=alt.X("step:Q", title="搜索步数"),
        y=alt.Y("weight:Q", title="softmax(α)", scale=alt.Scale(domain=[0, 1])),
        color=colour,
    )
    # the rows of the largest kept step that does not exceed the slider (the slider moves in unit steps)
    at_step = base.transform_filter("datum.step <= step").transform_joinaggregate(
        shown="max(step)").transform_filter("datum.step == datum.shown")
    rule = at_step.mark_rule(color="gray", strokeDash=[4, 3]).encode(x="step:Q")
    bars = at_step.mark_bar().encode(
        x=alt.X("weight:Q", title="softmax(α)", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("op:N", title=None, sort=list(op_names)),
        color=colour,
    )
    return alt.hconcat((lines + rule).properties(width=360, height=220),
                       bars.properties(width=200, height=220)).add_params(edge, step)
