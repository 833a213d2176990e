"""Interactive charts of the attention chapters: one output step's weights, a query's row of a multi-head map,
and the patterns of efficient attention (see :mod:`seqcourse.charts`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import torch

from seqcourse.charts import choice, inline_data, matches, slider
from seqcourse.utils import check_ndim

__all__ = ["attention_step_chart", "attention_query_chart", "attention_pattern_chart", "pattern_mask"]

_HIGHLIGHT = alt.condition("datum.best", alt.value("#d62728"), alt.value("#4c72b0"))


def _label(k: int, name: str) -> str:
    """A unique axis value for position k (labels may repeat, e.g. the same character twice)."""
    return f"{k + 1}:{name if name.strip() else '␣'}"


_SHOW_NAME = "split(datum.label, ':')[1]"


def attention_step_chart(weights: torch.Tensor, queries: Sequence[str], keys: Sequence[str],
                         step: int = 1) -> alt.LayerChart:
    """A slider over the output steps i of an attention matrix (T_out, T_in) and the bar chart of its row α_i.

    ``weights[i, j]`` is α_ij, the weight output i + 1 gives input j + 1 (rows sum to 1); ``queries`` names
    the T_out outputs, ``keys`` the T_in inputs. The largest weight is red, and a line names it.
    """
    a = torch.as_tensor(weights).detach().double().cpu()  # (T_out, T_in)
    check_ndim("weights", a, 2)
    if len(queries) != a.shape[0] or len(keys) != a.shape[1]:
        raise ValueError(f"need {a.shape[0]} query labels and {a.shape[1]} key labels for weights of shape "
                         f"{tuple(a.shape)}, got {len(queries)} and {len(keys)}")
    if not 1 <= step <= a.shape[0]:
        raise ValueError(f"step must lie in [1, {a.shape[0]}], got {step}")
    best = a.argmax(dim=1)  # (T_out,)
    rows = [{"i": i + 1, "query": queries[i], "key": _label(j, keys[j]), "j": j, "alpha": float(a[i, j]),
             "best": bool(j == best[i])} for i in range(a.shape[0]) for j in range(a.shape[1])]
    i = slider("i", range(1, a.shape[0] + 1), value=step, label="输出步 i") if a.shape[0] > 1 else None
    base = alt.Chart(inline_data(rows))
    if i is not None:
        base = base.transform_filter(matches("i", i, 0.5))
    bars = base.mark_bar().encode(
        x=alt.X("key:N", sort=alt.SortField("j"), title="输入位置 j",
                axis=alt.Axis(labelAngle=0, labelExpr=_SHOW_NAME)),
        y=alt.Y("alpha:Q", scale=alt.Scale(domain=[0, 1]), title="注意力权重 α_ij"),
        color=_HIGHLIGHT, tooltip=["key:N", alt.Tooltip("alpha:Q", format=".3f")])
    text = (base.transform_filter("datum.best")
            .transform_calculate(msg="'输出 “' + datum.query + '” 最关注输入 “' + split(datum.key, ':')[1]"
                                     " + '”（α = ' + format(datum.alpha, '.2f') + '）'")
            .mark_text(align="left", baseline="top", fontSize=12).encode(text="msg:N", x=alt.value(4),
                                                                           y=alt.value(4)))
    chart = alt.layer(bars, text)
    if i is not None:
        chart = chart.add_params(i)
    width = max(240, 26 * a.shape[1])
    return chart.properties(title="每个输出步的注意力分布", width=width, height=240)


def attention_query_chart(maps: Mapping[str, tuple[torch.Tensor, Sequence[str], Sequence[str]]],
                          position: int = 1) -> alt.HConcatChart:
    """Choose an attention map and a head, move the query position t: the whole map with row t framed, and
    the bar chart of α_t over the keys (a convex combination: the bars sum to 1).

    ``maps`` names each map (e.g. "编码器自注意力") and gives ``(weights (H, L, S), query labels (L), key
    labels (S))``, one sequence's per-head weights as :func:`seqcourse.nn.attention.record_attention`
    records them (take ``records[name][0][b]``).
    """
    if not maps:
        raise ValueError("maps must hold at least one attention map")
    rows = []
    n_heads, n_queries = 1, 1
    for name, (w, queries, keys) in maps.items():
        a = torch.as_tensor(w).detach().double().cpu()  # (H, L, S)
        check_ndim(f"maps[{name!r}] weights", a, 3)
        if len(queries) != a.shape[1] or len(keys) != a.shape[2]:
            raise ValueError(f"map {name!r}: weights {tuple(a.shape)} need {a.shape[1]} query and "
                             f"{a.shape[2]} key labels, got {len(queries)} and {len(keys)}")
        n_heads, n_queries = max(n_heads, a.shape[0]), max(n_queries, a.shape[1])
        best = a.argmax(dim=2)  # (H, L)
        rows += [{"map": name, "head": h + 1, "t": t + 1, "query": _label(t, queries[t]), "s": s,
                  "key": _label(s, keys[s]), "alpha": float(a[h, t, s]), "best": bool(s == best[h, t])}
                 for h in range(a.shape[0]) for t in range(a.shape[1]) for s in range(a.shape[2])]
    which = choice("map", {k: k for k in maps}, value=next(iter(maps)), label="注意力", widget="select")
    head = slider("head", range(1, n_heads + 1), value=1, label="头 h") if n_heads > 1 else None
    t = slider("t", range(1, n_queries + 1), value=min(max(position, 1), n_queries), label="查询位置 t")
    params = [p for p in (which, head, t) if p is not None]
    base = alt.Chart(inline_data(rows)).transform_filter(matches("map", which))
    if head is not None:
        base = base.transform_filter(matches("head", head, 0.5))
    x = alt.X("key:N", sort=alt.SortField("s"), title="键 (key)", axis=alt.Axis(labelExpr=_SHOW_NAME))
    heat = base.mark_rect().encode(
        x=x, y=alt.Y("query:N", sort=alt.SortField("t"), title="查询 (query)",
                     axis=alt.Axis(labelExpr=_SHOW_NAME)),
        color=alt.Color("alpha:Q", scale=alt.Scale(scheme="viridis", domain=[0, 1]), title="α"),
        tooltip=["query:N", "key:N", alt.Tooltip("alpha:Q", format=".3f")])
    frame = (base.transform_filter(matches("t", t, 0.5))
             .mark_rect(fill=None, stroke="#d62728", strokeWidth=2)
             .encode(x=x, y=alt.Y("query:N", sort=alt.SortField("t"))))
    bars = (base.transform_filter(matches("t", t, 0.5)).mark_bar()
            .encode(x=alt.X("key:N", sort=alt.SortField("s"), title="键的位置 i",
                            axis=alt.Axis(labelAngle=0, labelExpr=_SHOW_NAME)),
                    y=alt.Y("alpha:Q", scale=alt.Scale(domain=[0, 1]), title="注意力权重 α_ti"),
                    color=_HIGHLIGHT, tooltip=["key:N", alt.Tooltip("alpha:Q", format=".3f")]))
    left = alt.layer(heat, frame).properties(title="整张注意力图（红框：查询 t）", width=260, height=260)
    right = bars.properties(title="查询 t 对各个键的权重", width=300, height=260)
    return alt.hconcat(left, right).add_params(*params).resolve_scale(color="independent")


PATTERNS = {
    "full": "完整 (full)", "causal": "因果 (causal)", "local": "局部 (local)", "strided": "跨步 (strided)",
    "global": "全局 + 局部 (global)", "clustering": "聚类 (clustering)",
    "learnable": "可学习的块 (learnable)",
}


def pattern_mask(method: str, N: int, window: int = 2, stride: int = 4, n_global: int = 2,
                 clusters: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean (N, N) mask of one efficient-attention pattern, and the order in which to show the positions
    (clustering regroups them by bucket). Built from :mod:`seqcourse.nn.efficient_attention`."""
    from seqcourse.nn.attention import causal_mask
    from seqcourse.nn.efficient_attention import (
        LearnablePatternAttention,
        global_mask,
        kmeans_buckets,
        local_mask,
        strided_mask,
    )

    order = torch.arange(N)
    if method == "full":
        mask = torch.ones(N, N, dtype=torch.bool)
    elif method == "causal":
        mask = causal_mask(N)
    elif method == "local":
        mask = local_mask(N, window)
    elif method == "strided":
        mask = strided_mask(N, stride)
    elif method == "global":
        mask = global_mask(N, min(n_global, N), window)
    elif method == "clustering":
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(N, 2, generator=gen) + 3 * torch.randn(clusters, 2, generator=gen)[
            torch.randint(0, clusters, (N,), generator=gen)]  # (N, 2): points around a few centres
        bucket, _ = kmeans_buckets(x, x, clusters, generator=gen)  # shared queries and keys
        mask = bucket[:, None] == bucket[None, :]
        order = bucket.argsort(stable=True)
    elif method == "learnable":
        pattern = LearnablePatternAttention(max(N, 64), block_size=4, keep=2)
        with torch.no_grad():  # seeded logits, without touching the global random state
            pattern.P.copy_(torch.randn(pattern.P.shape, generator=torch.Generator().manual_seed(seed)))
        mask = pattern.block_bias_and_mask(N)[1]
    else:
        raise ValueError(f"method must be one of {list(PATTERNS)}, got {method!r}")
    return mask, order


def attention_pattern_chart(N: int = 32, seed: int = 0) -> alt.LayerChart:
    """Which (query, key) pairs each efficient-attention pattern computes, for N in {8, 16, 24, 32}.

    Patterns: full, causal, local (|t - i| <= w), strided ((t - i) mod s = 0), global (the first g tokens
    see and are seen by all, the others their window w), clustering (k-means buckets of random 2-D points,
    positions shown regrouped by bucket) and a learned block pattern (random logits, 4 x 4 blocks, 2 kept per
    row). The table holds one row per (t, i) with t, i < 32; the closed-form patterns are evaluated from the
    params in the browser, the clustering and learnable masks are precomputed columns (``cl_N_k``, ``lp_N``)
    from :func:`pattern_mask`. The subtitle counts the computed scores against N^2.
    """
    sizes, n_max = [8, 16, 24, 32], 32
    if N not in sizes:
        raise ValueError(f"N must be one of {sizes}, got {N}")
    cols: dict[str, torch.Tensor] = {}
    for n in sizes:
        for k in range(2, 7):
            mask, order = pattern_mask("clustering", n, clusters=k, seed=seed)
            cols[f"cl_{n}_{k}"] = torch.nn.functional.pad(mask[order][:, order], (0, n_max - n, 0, n_max - n))
        cols[f"lp_{n}"] = torch.nn.functional.pad(pattern_mask("learnable", n, seed=seed)[0],
                                                  (0, n_max - n, 0, n_max - n))
    rows = [{"t": t, "i": i, **{name: int(m[t, i]) for name, m in cols.items()}}
            for t in range(n_max) for i in range(n_max)]
    method = choice("method", PATTERNS, value="local", label="模式", widget="select")
    size = slider("N", sizes, value=N, label="长度 N")
    w = slider("w", range(0, 9), value=2, label="窗口 w")
    s = slider("s", range(1, 9), value=4, label="步长 s")
    g = slider("g", range(0, 5), value=2, label="全局 g")
    k = slider("k", range(2, 7), value=4, label="类别数（聚类）")
    on = ("method == 'full' ? 1 : method == 'causal' ? (datum.i <= datum.t ? 1 : 0)"
          " : method == 'local' ? (abs(datum.t - datum.i) <= w ? 1 : 0)"
          " : method == 'strided' ? ((datum.t - datum.i) % s == 0 ? 1 : 0)"
          " : method == 'global' ? ((datum.t < g || datum.i < g || abs(datum.t - datum.i) <= w) ? 1 : 0)"
          " : method == 'clustering' ? datum['cl_' + N + '_' + k] : datum['lp_' + N]")
    base = (alt.Chart(inline_data(rows)).transform_filter("datum.t < N && datum.i < N")
            .transform_calculate(on=on))
    every4 = alt.Axis(labelExpr="datum.value % 4 == 0 ? datum.label : ''")
    cells = base.mark_rect().encode(
        x=alt.X("i:O", title="键的位置 i", axis=every4), y=alt.Y("t:O", title="查询的位置 t", axis=every4),
        color=alt.Color("on:Q", scale=alt.Scale(domain=[0, 1], range=["#f4f6fb", "#2c6fbb"]), legend=None))
    count = (base.transform_aggregate(computed="sum(on)")
             .transform_calculate(msg="'计算 ' + datum.computed + ' 个分数，是 N² = ' + N * N + ' 的 '"
                                      " + format(datum.computed / (N * N), '.1%')")
             .mark_text(align="left", baseline="bottom", dy=-6, fontSize=12)
             .encode(text="msg:N", x=alt.value(0), y=alt.value(0)))
    return (alt.layer(cells, count).add_params(method, size, w, s, g, k)
            .properties(title="高效注意力：每种模式计算哪些 (查询, 键) 对", width=320, height=320))
