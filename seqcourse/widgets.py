"""Interactive ipywidgets demos used by the chapters; one public function per demo, each returns the widget.

The demos update ordinary widgets (``HTML``, ``Image``) from slider callbacks, so they work with a live
kernel and also render statically in the built book (the widget state is saved when the notebook runs).
"""

from __future__ import annotations

import io
import math

import ipywidgets as widgets
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqcourse.nn.elman import ElmanRNN
from seqcourse.plot import use_course_style
from seqcourse.utils import check_ndim

__all__ = [
    "rnn_unroll_demo",
    "gradient_norm_demo",
    "temperature_demo",
    "forget_gate_demo",
    "attention_step_demo",
    "attention_query_demo",
    "attention_pattern_demo",
]


def _detached_figure(width: float, height: float) -> Figure:
    """A figure outside pyplot (so the notebook never shows it twice), in the course style."""
    use_course_style()
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A detached figure with one axis."""
    fig = _detached_figure(width, height)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def _all_ones_rnn(weight: float, activation: str) -> ElmanRNN:
    """The lecture's 2-2-2 Elman network without biases, every weight equal to ``weight``."""
    rnn = ElmanRNN(2, 2, 2, activation=activation, bias=False)
    with torch.no_grad():
        for p in rnn.parameters():
            p.fill_(weight)
    return rnn


def _table_html(xs: torch.Tensor, hs: torch.Tensor, ys: torch.Tensor) -> str:
    """An HTML table with one row per time step: x_t, h_t, y_t (each a 2-vector)."""

    def vec(v: torch.Tensor) -> str:
        return "[" + ", ".join(f"{float(e):.3g}" for e in v) + "]"

    rows = "".join(
        f"<tr><td>{t + 1}</td><td>{vec(x)}</td><td>{vec(h)}</td><td>{vec(y)}</td></tr>"
        for t, (x, h, y) in enumerate(zip(xs, hs, ys, strict=True))
    )
    head = "<tr><th>t</th><th>输入 x_t</th><th>记忆 h_t</th><th>输出 y_t</th></tr>"
    return f"<table>{head}{rows}</table>"


def _plot_png(hs: torch.Tensor, ys: torch.Tensor) -> bytes:
    """PNG bytes of h_t and y_t (first component) against the time step."""
    fig, ax = _figure(4.8, 3.0)
    steps = range(1, len(hs) + 1)
    ax.plot(steps, hs[:, 0].tolist(), marker="o", label="记忆 h_t")
    ax.plot(steps, ys[:, 0].tolist(), marker="s", label="输出 y_t")
    ax.set_xticks(list(steps))
    ax.set_xlabel("时间步 t")
    ax.set_ylabel("第一个分量的取值")
    ax.set_title("展开后每一步的记忆与输出")
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def rnn_unroll_demo(inputs: tuple[float, ...] = (1.0, 1.0, 2.0)) -> widgets.VBox:
    """Sliders for the inputs and the weight of the all-ones Elman RNN; a live table and plot of h_t, y_t.

    Step t feeds the 2-vector ``[x_t, x_t]`` into ``ElmanRNN(2, 2, 2, bias=False)`` whose weights all equal
    the ``w`` slider, with a linear (``identity``) or ``tanh`` hidden activation. With the defaults
    (inputs 1, 1, 2; w = 1; linear) the outputs are the lecture's [4, 4], [12, 12], [32, 32].
    Returns a ``VBox`` of the controls, an ``HTML`` table and an ``Image`` plot.
    """
    if not 1 <= len(inputs) <= 8:
        raise ValueError(f"inputs must hold 1 to 8 numbers (one per time step), got {len(inputs)}")
    sliders = [
        widgets.FloatSlider(
            value=float(v), min=-3.0, max=3.0, step=0.5, description=f"x_{t + 1}", continuous_update=False
        )
        for t, v in enumerate(inputs)
    ]
    weight = widgets.FloatSlider(
        value=1.0, min=-1.5, max=1.5, step=0.1, description="权重 w", continuous_update=False
    )
    activation = widgets.Dropdown(
        options=[("线性 (identity)", "identity"), ("tanh", "tanh")], value="identity", description="激活函数"
    )
    table = widgets.HTML()
    plot = widgets.Image(format="png")

    def update(_change: object = None) -> None:
        xs = torch.tensor([[s.value, s.value] for s in sliders])  # (T, 2)
        with torch.no_grad():
            ys, hs = _all_ones_rnn(weight.value, activation.value)(xs[None])  # (1, T, 2) each
        table.value = _table_html(xs, hs[0], ys[0])
        plot.value = _plot_png(hs[0], ys[0])

    for control in (*sliders, weight, activation):
        control.observe(update, names="value")
    update()
    controls = widgets.HBox([widgets.VBox(sliders), widgets.VBox([weight, activation])])
    return widgets.VBox([controls, widgets.HBox([table, plot])])


def gradient_norm_demo(hidden_size: int = 16, seed: int = 0) -> widgets.VBox:
    """Sliders for the spectral radius ρ of W and the length T; a log plot of ||∂h_t/∂h_0||_F against t.

    The network is ``ElmanRNN(1, hidden_size, 1)`` with W = ρ Q (Q a fixed random orthogonal matrix, so every
    eigenvalue of W has modulus ρ) reading a fixed random input sequence. For the linear activation the curve
    is exactly ρ^t sqrt(n) (the dashed line); tanh bends it down where the units saturate.
    """
    from seqcourse.nn.elman import state_jacobian_norms

    gen = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(hidden_size, hidden_size, generator=gen))[0]  # (n, n) orthogonal
    x_all = torch.randn(1, 100, 1, generator=gen)  # (1, T_max, 1)
    rho = widgets.FloatSlider(
        value=1.0, min=0.5, max=1.5, step=0.05, description="谱半径 ρ", continuous_update=False
    )
    length = widgets.IntSlider(
        value=50, min=10, max=100, step=10, description="长度 T", continuous_update=False
    )
    activation = widgets.Dropdown(
        options=[("tanh", "tanh"), ("线性 (identity)", "identity")], value="tanh", description="激活函数"
    )
    text = widgets.HTML()
    plot = widgets.Image(format="png")

    def update(_change: object = None) -> None:
        net = ElmanRNN(1, hidden_size, 1, activation=activation.value)
        with torch.no_grad():
            net.W.copy_(rho.value * Q)
        norms = state_jacobian_norms(net, x_all[:, : length.value])  # (T,)
        steps = torch.arange(1, length.value + 1)
        fig, ax = _figure(5.2, 3.2)
        ax.semilogy(steps.tolist(), norms.tolist(), marker=".", label="实测 ||∂h_t/∂h_0||")
        ref = (rho.value ** steps.double()) * hidden_size**0.5  # (T,)
        ax.semilogy(steps.tolist(), ref.tolist(), "--", label="线性网络的理论值 ρ^t √n")
        ax.set_xlabel("距离 t（时间步）")
        ax.set_ylabel("雅可比矩阵的范数")
        ax.set_title("梯度沿时间反传时的大小")
        ax.legend()
        fig.tight_layout()
        plot.value = _png(fig)
        text.value = f"t = {length.value} 时范数为 {float(norms[-1]):.3g}，t = 1 时为 {float(norms[0]):.3g}"

    for control in (rho, length, activation):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([rho, length, activation]), text, plot])


def temperature_demo(
    logits: torch.Tensor, labels: list[str], temperature: float = 1.0, top: int = 12
) -> widgets.VBox:
    """A temperature slider over one next-token distribution p_i = exp(o_i / T) / Σ_j exp(o_j / T).

    ``logits`` (V,) are the scores o of one step, ``labels`` the V token names. The bar chart shows the
    ``top`` most likely tokens (by logit, so the order never changes) and the text gives the entropy in bits.
    """
    logits = torch.as_tensor(logits).detach().double().cpu().reshape(-1)  # (V,)
    if len(labels) != logits.numel():
        raise ValueError(f"labels must name all {logits.numel()} tokens, got {len(labels)}")
    order = logits.argsort(descending=True)[:top].tolist()
    names = [repr(labels[i])[1:-1] or "␣" for i in order]
    slider = widgets.FloatLogSlider(
        value=temperature,
        base=10,
        min=-1.3,
        max=0.7,
        step=0.05,
        description="温度 T",
        continuous_update=False,
    )
    text = widgets.HTML()
    plot = widgets.Image(format="png")

    def update(_change: object = None) -> None:
        probs = torch.softmax(logits / slider.value, dim=0)  # (V,)
        entropy = float(-(probs * torch.log2(probs.clamp_min(1e-300))).sum())
        fig, ax = _figure(5.6, 3.0)
        ax.bar(range(len(order)), probs[order].tolist())
        ax.set_xticks(range(len(order)), [n.replace(" ", "␣") for n in names])
        ax.set_ylim(0, 1)
        ax.set_xlabel("候选的下一个字符")
        ax.set_ylabel("概率")
        ax.set_title(f"温度 T = {slider.value:.2f} 时的下一字符分布")
        fig.tight_layout()
        plot.value = _png(fig)
        uniform = math.log2(logits.numel())
        text.value = f"熵 {entropy:.2f} 比特（{logits.numel()} 个字符均匀分布时为 {uniform:.2f} 比特）"

    slider.observe(update, names="value")
    update()
    return widgets.VBox([slider, text, plot])


def forget_gate_demo(hidden_size: int = 8, length: int = 60, seed: int = 0) -> widgets.VBox:
    """Sliders for the LSTM forget-gate bias b_f and the scale of the recurrent weights; a log plot of
    ||∂c_t/∂c_0||_F (LSTM cell path) next to ||∂h_t/∂h_0||_F of a tanh RNN with recurrent weights of the same
    scale, both reading one fixed random input sequence of ``length`` steps.

    The dashed line σ(b_f)^t sqrt(n) is the exact LSTM curve when the gates ignore the input and the state
    (U = W = 0): memory then decays only through the product of forget gates.
    """
    from seqcourse.nn.elman import ElmanRNN, state_jacobian_norms
    from seqcourse.nn.gated_memory import cell_state_jacobian_norms, set_forget_bias
    from seqcourse.nn.recurrent import LSTMCell

    gen = torch.Generator().manual_seed(seed)
    n = hidden_size
    x = torch.randn(length, 1, generator=gen)  # (T, m = 1)
    cell = LSTMCell(1, n)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) / n**0.5)  # torch's uniform init, seeded
    W_lstm = cell.W.detach().clone()  # (4n, n)
    Q = torch.linalg.qr(torch.randn(n, n, generator=gen))[0]  # (n, n) orthogonal, for the RNN
    bias = widgets.FloatSlider(
        value=1.0, min=-2.0, max=6.0, step=0.5, description="遗忘门偏置 b_f", continuous_update=False
    )
    scale = widgets.FloatSlider(
        value=1.0, min=0.0, max=4.0, step=0.25, description="W 的缩放", continuous_update=False
    )
    text = widgets.HTML()
    plot = widgets.Image(format="png")

    def update(_change: object = None) -> None:
        with torch.no_grad():
            cell.W.copy_(scale.value * W_lstm)
        set_forget_bias(cell, bias.value)
        lstm_norms = cell_state_jacobian_norms(cell, x)  # (T,)
        rnn = ElmanRNN(1, n, 1)
        with torch.no_grad():
            rnn.W.copy_(scale.value * Q)
        rnn_norms = state_jacobian_norms(rnn, x)  # (T,)
        steps = torch.arange(1, length + 1, dtype=torch.float64)
        ref = torch.sigmoid(torch.tensor(bias.value, dtype=torch.float64)) ** steps * n**0.5  # (T,)
        fig, ax = _figure(5.6, 3.4)
        ax.semilogy(steps.tolist(), lstm_norms.clamp_min(1e-30).tolist(), label="LSTM ||∂c_t/∂c_0||")
        ax.semilogy(steps.tolist(), ref.tolist(), "--", label="σ(b_f)^t √n（U = W = 0 时的精确值）")
        ax.semilogy(steps.tolist(), rnn_norms.clamp_min(1e-30).tolist(), label="tanh RNN ||∂h_t/∂h_0||")
        ax.set_xlabel("距离 t（时间步）")
        ax.set_ylabel("雅可比矩阵的范数")
        ax.set_title("记忆能保留多久：LSTM 细胞状态与普通 RNN")
        ax.legend(fontsize=8)
        fig.tight_layout()
        plot.value = _png(fig)
        text.value = (
            f"σ(b_f) = {float(torch.sigmoid(torch.tensor(bias.value))):.3f}；t = {length} 时 LSTM 为 "
            f"{float(lstm_norms[-1]):.3g}，普通 RNN 为 {float(rnn_norms[-1]):.3g}"
        )

    for control in (bias, scale):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([bias, scale]), text, plot])


def attention_step_demo(
    weights: torch.Tensor, queries: list[str], keys: list[str], step: int = 1
) -> widgets.VBox:
    """A slider over the output steps i of an attention matrix (T_out, T_in); a bar chart of the row α_i.

    ``weights[i, j]`` is α_ij, the weight output step i + 1 gives input position j + 1 (each row sums to 1);
    ``queries`` names the T_out outputs and ``keys`` the T_in inputs. The text names the input with the
    largest weight.
    """
    a = torch.as_tensor(weights).detach().double().cpu()  # (T_out, T_in)
    check_ndim("weights", a, 2)
    if len(queries) != a.shape[0] or len(keys) != a.shape[1]:
        raise ValueError(
            f"need {a.shape[0]} query labels and {a.shape[1]} key labels for weights of shape "
            f"{tuple(a.shape)}, got {len(queries)} and {len(keys)}"
        )
    if not 1 <= step <= a.shape[0]:
        raise ValueError(f"step must lie in [1, {a.shape[0]}], got {step}")
    slider = widgets.IntSlider(
        value=step, min=1, max=a.shape[0], step=1, description="输出步 i", continuous_update=False
    )
    text = widgets.HTML()
    plot = widgets.Image(format="png")

    def update(_change: object = None) -> None:
        i = slider.value - 1
        row = a[i]  # (T_in,)
        best = int(row.argmax())
        fig, ax = _figure(0.32 * a.shape[1] + 2.4, 2.8)
        colors = ["#d62728" if j == best else "#4c72b0" for j in range(a.shape[1])]
        ax.bar(range(a.shape[1]), row.tolist(), color=colors)
        ax.set_xticks(range(a.shape[1]), [k if k.strip() else "␣" for k in keys])
        ax.set_ylim(0, 1)
        ax.set_xlabel("输入位置 j")
        ax.set_ylabel("注意力权重 α_ij")
        ax.set_title(f"第 {i + 1} 个输出 “{queries[i]}” 的注意力分布")
        fig.tight_layout()
        plot.value = _png(fig)
        text.value = (
            f"输出 “{queries[i]}” 最关注输入第 {best + 1} 个字符 “{keys[best]}”"
            f"（α = {float(row[best]):.2f}），权重之和 {float(row.sum()):.2f}"
        )

    slider.observe(update, names="value")
    update()
    return widgets.VBox([slider, text, plot])


def attention_query_demo(
    maps: dict[str, tuple[torch.Tensor, list[str], list[str]]], position: int = 1
) -> widgets.VBox:
    """Choose an attention map and a head, move the query position t; see the whole map with row t framed
    and the bar chart of α_t over the keys (a convex combination: the bars sum to 1).

    ``maps`` names each map (e.g. "编码器自注意力") and gives ``(weights (H, L, S), query labels (L),
    key labels (S))``, the per-head weights of one sequence as :func:`seqcourse.nn.attention.record_attention`
    records them (take ``records[name][0][b]``).
    """
    from matplotlib.patches import Rectangle

    tables = {}
    for name, (w, queries, keys) in maps.items():
        a = torch.as_tensor(w).detach().double().cpu()  # (H, L, S)
        check_ndim(f"maps[{name!r}] weights", a, 3)
        if len(queries) != a.shape[1] or len(keys) != a.shape[2]:
            raise ValueError(f"map {name!r}: weights {tuple(a.shape)} need {a.shape[1]} query and "
                             f"{a.shape[2]} key labels, got {len(queries)} and {len(keys)}")
        tables[name] = (a, queries, keys)
    if not tables:
        raise ValueError("maps must hold at least one attention map")
    first = next(iter(tables.values()))[0]
    which = widgets.Dropdown(options=list(tables), description="注意力")
    head = widgets.Dropdown(options=list(range(1, first.shape[0] + 1)), description="头 h")
    slider = widgets.IntSlider(value=min(max(position, 1), first.shape[1]), min=1, max=first.shape[1],
                               description="查询位置 t", continuous_update=False)
    text = widgets.HTML()
    plot = widgets.Image(format="png")

    def update(_change: object = None) -> None:
        a, queries, keys = tables[which.value]
        head.options = list(range(1, a.shape[0] + 1))  # keeps the value when it still exists
        slider.max = a.shape[1]
        t, h = slider.value - 1, (head.value or 1) - 1
        row = a[h, t]  # (S,)
        best = int(row.argmax())
        fig = _detached_figure(8.4, 3.2)
        ax_map, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
        ax_map.imshow(a[h].numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax_map.add_patch(Rectangle((-0.5, t - 0.5), a.shape[2], 1, fill=False, edgecolor="#d62728", lw=2))
        ax_map.set_xticks(range(a.shape[2]), keys, fontsize=7)
        ax_map.set_yticks(range(a.shape[1]), queries, fontsize=7)
        ax_map.set_xlabel("键 (key)")
        ax_map.set_ylabel("查询 (query)")
        ax_map.set_title(f"{which.value}，第 {h + 1} 个头")
        ax_map.grid(False)
        colors = ["#d62728" if j == best else "#4c72b0" for j in range(a.shape[2])]
        ax_bar.bar(range(a.shape[2]), row.tolist(), color=colors)
        ax_bar.set_xticks(range(a.shape[2]), keys, fontsize=7)
        ax_bar.set_ylim(0, 1)
        ax_bar.set_xlabel("键的位置 i")
        ax_bar.set_ylabel("注意力权重 α_ti")
        ax_bar.set_title(f"查询 t = {t + 1}（“{queries[t]}”）的权重")
        fig.tight_layout()
        plot.value = _png(fig)
        entropy = float(-(row * torch.log2(row.clamp_min(1e-300))).sum())
        text.value = (f"查询 “{queries[t]}” 最关注键 “{keys[best]}”"
                      f"（第 {best + 1} 个，α = {float(row[best]):.2f}）；"
                      f"权重之和 {float(row.sum()):.2f}，熵 {entropy:.2f} 比特")

    for control in (which, head, slider):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([which, head, slider]), text, plot])


def _pattern_mask(method: str, N: int, window: int, stride: int, n_global: int, clusters: int, seed: int):
    """Boolean (N, N) mask of one attention pattern, plus the order in which to show the positions."""
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
        raise ValueError(f"unknown pattern {method!r}")
    return mask, order


def attention_pattern_demo(N: int = 32, seed: int = 0) -> widgets.VBox:
    """Which (query, key) pairs each efficient-attention pattern computes, as a heatmap, for a chosen N.

    Patterns: full, causal, local (|t - i| <= w), strided ((t - i) mod s = 0), global (the first g tokens
    see and are seen by all, the rest their window w), clustering (k-means buckets of random 2-D points,
    positions regrouped by bucket) and a learned block pattern (random logits, 4 x 4 blocks, 2 kept per
    row). The text gives the number of computed scores against N^2.
    """
    method = widgets.Dropdown(
        options=[("完整 (full)", "full"), ("因果 (causal)", "causal"), ("局部 (local)", "local"),
                 ("跨步 (strided)", "strided"), ("全局 + 局部 (global)", "global"),
                 ("聚类 (clustering)", "clustering"), ("可学习的块 (learnable)", "learnable")],
        value="local", description="模式",
    )
    size = widgets.IntSlider(value=N, min=8, max=64, step=4, description="长度 N", continuous_update=False)
    window = widgets.IntSlider(value=2, min=0, max=8, description="窗口 w", continuous_update=False)
    stride = widgets.IntSlider(value=4, min=1, max=8, description="步长 s", continuous_update=False)
    n_global = widgets.IntSlider(value=2, min=0, max=4, description="全局 g", continuous_update=False)
    clusters = widgets.IntSlider(value=4, min=2, max=6, description="类别数", continuous_update=False)
    text = widgets.HTML()
    plot = widgets.Image(format="png")

    def update(_change: object = None) -> None:
        n = size.value
        mask, order = _pattern_mask(method.value, n, window.value, stride.value, n_global.value,
                                    clusters.value, seed)
        shown = mask[order][:, order]  # (N, N), rows and columns in display order
        fig, ax = _figure(4.2, 4.0)
        ax.imshow(shown.numpy(), cmap="Blues", vmin=0, vmax=1.4)
        ax.grid(False)
        regrouped = "（位置按类别重排）" if method.value == "clustering" else ""
        ax.set_xlabel("键的位置 i" + regrouped)
        ax.set_ylabel("查询的位置 t")
        ax.set_title(f"{method.label}：计算的注意力分数")
        fig.tight_layout()
        plot.value = _png(fig)
        count = int(mask.sum())
        text.value = (f"计算 {count} 个分数，是完整注意力 N² = {n * n} 的 {count / (n * n):.1%}；"
                      f"每个查询平均看 {count / n:.1f} 个键")

    for control in (method, size, window, stride, n_global, clusters):
        control.observe(update, names="value")
    update()
    sliders = widgets.VBox([size, window, stride, n_global, clusters])
    return widgets.VBox([widgets.HBox([widgets.VBox([method, text]), sliders]), plot])
