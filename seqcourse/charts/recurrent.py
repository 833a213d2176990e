"""Interactive charts of the recurrent-network chapters: unrolling, gradient norms, temperature, forget gate.

Every function precomputes all states of its figure with the course's own modules and returns an Altair
chart whose sliders / radio buttons filter that table (see :mod:`seqcourse.charts`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import altair as alt
import torch

from seqcourse.charts import choice, inline_data, matches, slider
from seqcourse.nn.elman import ElmanRNN

__all__ = ["rnn_unroll_chart", "gradient_norm_chart", "temperature_chart", "forget_gate_chart"]

ACTIVATIONS = {"identity": "线性 (identity)", "tanh": "tanh"}
DEFAULT_SEQUENCES: dict[str, tuple[float, ...]] = {
    "1, 1, 2": (1.0, 1.0, 2.0),
    "1, 0, 0": (1.0, 0.0, 0.0),
    "0, 0, 1": (0.0, 0.0, 1.0),
    "2, -1, 1": (2.0, -1.0, 1.0),
    "-1, 1, -1": (-1.0, 1.0, -1.0),
}


def _grid(lo: float, hi: float, step: float) -> list[float]:
    return [round(lo + k * step, 10) for k in range(round((hi - lo) / step) + 1)]


def _all_ones_rnn(weight: float, activation: str) -> ElmanRNN:
    """The 2-2-2 Elman network without biases whose every weight equals ``weight``."""
    rnn = ElmanRNN(2, 2, 2, activation=activation, bias=False)
    with torch.no_grad():
        for p in rnn.parameters():
            p.fill_(weight)
    return rnn


def elman_state_norms(net: ElmanRNN, x: torch.Tensor, activation: str) -> list[float]:
    """||∂h_t/∂h_0||_F of an ElmanRNN with hidden ``activation`` ("tanh" or "identity") reading x (1, T, n_in)
    from h_0 = 0, by the chain rule ∂h_t/∂h_0 = diag(f'(a_t)) W ∂h_{t-1}/∂h_0 (f' = 1 - h_t^2 for tanh)."""
    if activation not in ("tanh", "identity"):
        raise ValueError(f"activation must be 'tanh' or 'identity', got {activation!r}")
    with torch.no_grad():
        _, hs = net(x)  # (1, T, n)
        slopes = 1 - hs[0] ** 2 if activation == "tanh" else torch.ones_like(hs[0])  # (T, n)
        J = torch.eye(net.hidden_size, dtype=hs.dtype, device=hs.device)  # (n, n)
        norms = []
        for d in slopes:
            J = d[:, None] * (net.W @ J)  # (n, n)
            norms.append(max(float(J.norm()), 1e-30))
    return norms


def lstm_cell_norms(cell: torch.nn.Module, x: torch.Tensor) -> list[float]:
    """||∂c_t/∂c_0||_F of a seqcourse LSTMCell reading x (T, m) from h_0 = c_0 = 0, h_0 held fixed.

    Forward propagation of the Jacobians J^c_t = ∂c_t/∂c_0 and J^h_t = ∂h_t/∂c_0 (J^c_0 = I, J^h_0 = 0), with
    z = W h_{t-1} + U x_t + b, gates i, f, o = σ(z_·), g = tanh(z_g), c_t = f ⊙ c_{t-1} + i ⊙ g,
    h_t = o ⊙ tanh(c_t):

        dz = W J^h_{t-1}
        J^c_t = f ⊙ J^c_{t-1} + c_{t-1} ⊙ f(1-f) ⊙ dz_f + g ⊙ i(1-i) ⊙ dz_i + i ⊙ (1-g²) ⊙ dz_g
        J^h_t = tanh(c_t) ⊙ o(1-o) ⊙ dz_o + o ⊙ (1 - tanh²(c_t)) ⊙ J^c_t

    (⊙ scales the rows). The same numbers as ``cell_state_jacobian_norms`` (one backward pass per step).
    """
    n = cell.hidden_size
    with torch.no_grad():
        ux = cell.project_input(x)  # (T, 4n)
        h, c = x.new_zeros(n), x.new_zeros(n)  # (n,) each
        Jc, Jh = torch.eye(n, dtype=x.dtype, device=x.device), x.new_zeros(n, n)  # (n, n) each
        norms = []
        for t in range(x.shape[0]):
            z = ux[t] + cell.W @ h  # (4n,)
            i, f, o = (torch.sigmoid(z[k * n : (k + 1) * n]) for k in (0, 1, 3))
            g = torch.tanh(z[2 * n : 3 * n])
            dz = (cell.W @ Jh).split(n)  # 4 x (n, n)
            Jc = (f[:, None] * Jc + (c * f * (1 - f))[:, None] * dz[1] + (g * i * (1 - i))[:, None] * dz[0]
                  + (i * (1 - g**2))[:, None] * dz[2])
            c = f * c + i * g
            tc = torch.tanh(c)
            Jh = (tc * o * (1 - o))[:, None] * dz[3] + (o * (1 - tc**2))[:, None] * Jc
            h = o * tc
            norms.append(max(float(Jc.norm()), 1e-30))
    return norms


def rnn_unroll_chart(sequences: Mapping[str, Sequence[float]] | None = None) -> alt.LayerChart:
    """x_t, h_t and y_t (first components) of the all-ones Elman RNN at each step, for a chosen input
    sequence, weight w (every weight of ``ElmanRNN(2, 2, 2, bias=False)``) and hidden activation.

    Step t reads the 2-vector [x_t, x_t]. With the sequence 1, 1, 2, w = 1 and the linear activation the
    outputs are [4, 4], [12, 12], [32, 32]. ``sequences`` maps a label to the inputs (1 to 8 steps each).
    """
    sequences = dict(DEFAULT_SEQUENCES if sequences is None else sequences)
    if not sequences or any(not 1 <= len(xs) <= 8 for xs in sequences.values()):
        raise ValueError("sequences must map labels to 1 to 8 inputs each")
    weights = _grid(-1.5, 1.5, 0.25)
    rows = []
    for label, inputs in sequences.items():
        xs = torch.tensor([[float(v), float(v)] for v in inputs])  # (T, 2)
        for w in weights:
            for act in ACTIVATIONS:
                with torch.no_grad():
                    ys, hs = _all_ones_rnn(w, act)(xs[None])  # (1, T, 2) each
                for t in range(len(inputs)):
                    values = (("输入 x_t", xs[t, 0]), ("记忆 h_t", hs[0, t, 0]), ("输出 y_t", ys[0, t, 0]))
                    for series, v in values:
                        rows.append({"seq": label, "w": w, "act": act, "t": t + 1, "量": series,
                                     "value": round(float(v), 6)})
    seq = choice("seq", {k: k for k in sequences}, value=next(iter(sequences)), label="输入序列 x_1..x_T",
                 widget="select")
    w = slider("w", weights, value=1.0, label="权重 w")
    act = choice("act", ACTIVATIONS, value="identity", label="激活函数")
    base = (alt.Chart(inline_data(rows))
            .transform_filter(matches("seq", seq)).transform_filter(matches("w", w, 0.125))
            .transform_filter(matches("act", act))
            .encode(x=alt.X("t:O", title="时间步 t", axis=alt.Axis(labelAngle=0)),
                    y=alt.Y("value:Q", title="第一个分量的取值"),
                    color=alt.Color("量:N", title=None)))
    lines = base.mark_line(point=True)
    labels = base.mark_text(dy=-9, fontSize=11).encode(text=alt.Text("value:Q", format=".3~g"))
    return (alt.layer(lines, labels).add_params(seq, w, act)
            .properties(title="展开后每一步的输入、记忆与输出", width=420, height=260))


def gradient_norm_chart(hidden_size: int = 16, seed: int = 0) -> alt.LayerChart:
    """||∂h_t/∂h_0||_F against t (log scale) for W = ρ Q (Q a fixed random orthogonal matrix, so every
    eigenvalue of W has modulus ρ), reading a fixed random input; controls ρ, the length T and the activation.

    The dashed line ρ^t sqrt(n) is exact for the linear activation; tanh bends the curve down where the units
    saturate.
    """
    gen = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(hidden_size, hidden_size, generator=gen))[0]  # (n, n) orthogonal
    x = torch.randn(1, 100, 1, generator=gen)  # (1, T_max, 1)
    rhos = _grid(0.5, 1.5, 0.05)
    rows = []
    for act in ("tanh", "identity"):
        for rho in rhos:
            net = ElmanRNN(1, hidden_size, 1, activation=act)
            with torch.no_grad():
                net.W.copy_(rho * Q)
            rows += [{"act": act, "rho": rho, "t": t + 1, "norm": v}
                     for t, v in enumerate(elman_state_norms(net, x, act))]
    rho = slider("rho", rhos, value=1.0, label="谱半径 ρ")
    length = slider("T", _grid(10, 100, 10), value=50, label="长度 T")
    act = choice("act", {"tanh": "tanh", "identity": "线性 (identity)"}, value="tanh", label="激活函数")
    base = (alt.Chart(inline_data(rows))
            .transform_filter(matches("act", act)).transform_filter(matches("rho", rho, 0.025))
            .transform_filter(f"datum.t <= {length.name}")
            .transform_calculate(theory=f"pow({rho.name}, datum.t) * sqrt({hidden_size})"))
    y = alt.Y("norm:Q", scale=alt.Scale(type="log"), title="雅可比矩阵的范数")
    measured = base.mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("t:Q", title="距离 t（时间步）"), y=y, tooltip=["t:Q", alt.Tooltip("norm:Q", format=".3g")])
    theory = base.mark_line(strokeDash=[5, 4], color="#888").encode(x="t:Q", y=alt.Y("theory:Q"))
    last = base.transform_filter(f"datum.t == {length.name}").mark_text(align="right", dy=-10).encode(
        x="t:Q", y="norm:Q", text=alt.Text("norm:Q", format=".3g"))
    return (alt.layer(measured, theory, last).add_params(rho, length, act)
            .properties(title="梯度沿时间反传时的大小（虚线：线性网络的理论值 ρ^t √n）",
                        width=460, height=280))


def temperature_chart(logits: torch.Tensor, labels: Sequence[str], temperature: float = 1.0,
                      top: int = 12) -> alt.LayerChart:
    """The next-token distribution p_i = exp(o_i / T) / Σ_j exp(o_j / T) of the ``top`` most likely tokens
    (by logit, so the order never changes) under a slider for log10 T, with the entropy in bits
    (T is the temperature; τ stays the symbol of sequence lengths).

    ``logits`` (V,) are one step's scores o, ``labels`` the V token names.
    """
    o = torch.as_tensor(logits).detach().double().cpu().reshape(-1)  # (V,)
    if len(labels) != o.numel():
        raise ValueError(f"labels must name all {o.numel()} tokens, got {len(labels)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    order = o.argsort(descending=True)[:top].tolist()
    names = [(repr(labels[i])[1:-1] or "␣").replace(" ", "␣") for i in order]
    grid = _grid(-1.3, 0.7, 0.1)
    rows = []
    for lg in grid:
        p = torch.softmax(o / 10**lg, dim=0)  # (V,)
        entropy = float(-(p * torch.log2(p.clamp_min(1e-300))).sum())
        rows += [{"logtau": lg, "rank": r, "token": f"{r + 1}:{names[r]}", "p": float(p[i]),
                  "entropy": entropy} for r, i in enumerate(order)]
    start = min(grid, key=lambda g: abs(g - math.log10(temperature)))
    tau = slider("logtau", grid, value=start, label="温度 log₁₀T")
    base = alt.Chart(inline_data(rows)).transform_filter(matches("logtau", tau, 0.05))
    bars = base.mark_bar().encode(
        x=alt.X("token:N", sort=alt.SortField("rank"), title="候选的下一个字符（按得分排序）",
                axis=alt.Axis(labelAngle=0, labelExpr="split(datum.label, ':')[1]")),
        y=alt.Y("p:Q", scale=alt.Scale(domain=[0, 1]), title="概率"),
        tooltip=["token:N", alt.Tooltip("p:Q", format=".3f")])
    uniform = math.log2(o.numel())
    text = (base.transform_filter("datum.rank == 0")
            .transform_calculate(msg=f"'T = ' + format(pow(10, {tau.name}), '.2f') + '，熵 ' + "
                                 f"format(datum.entropy, '.2f') + ' 比特（均匀分布 {uniform:.2f} 比特）'")
            .mark_text(align="right", baseline="top", fontSize=12)
            .encode(text="msg:N", x=alt.value(520), y=alt.value(4)))
    return (alt.layer(bars, text).add_params(tau)
            .properties(title="温度如何改变下一字符的分布", width=520, height=260))


def forget_gate_chart(hidden_size: int = 8, length: int = 60, seed: int = 0) -> alt.LayerChart:
    """||∂c_t/∂c_0||_F of an LSTM cell next to ||∂h_t/∂h_0||_F of a tanh RNN (log scale), with sliders for
    the forget-gate bias b_f and the scale of the recurrent weights; both read one random input sequence.

    The dashed line σ(b_f)^t sqrt(n) is the exact LSTM curve when the gates ignore the input and the state
    (U = W = 0): memory then decays only through the product of forget gates. Every second step is drawn.
    """
    from seqcourse.nn.gated_memory import set_forget_bias
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
    biases, scales = _grid(-2, 6, 1), _grid(0, 4, 1)
    steps = range(1, length + 1, 2)
    rows = []
    for s in scales:
        rnn = ElmanRNN(1, n, 1)
        with torch.no_grad():
            rnn.W.copy_(s * Q)
        r = elman_state_norms(rnn, x[None], "tanh")  # T values
        rows += [{"model": "tanh RNN ||∂h_t/∂h_0||", "b": None, "scale": s, "t": t, "norm": r[t - 1]}
                 for t in steps]
        with torch.no_grad():
            cell.W.copy_(s * W_lstm)
        for b in biases:
            set_forget_bias(cell, b)
            c = lstm_cell_norms(cell, x)  # T values
            rows += [{"model": "LSTM ||∂c_t/∂c_0||", "b": b, "scale": s, "t": t, "norm": c[t - 1]}
                     for t in steps]
    b = slider("b_f", biases, value=1.0, label="遗忘门偏置 b_f")
    scale = slider("scale", scales, value=1.0, label="W 的缩放")
    base = (alt.Chart(inline_data(rows)).transform_filter(matches("scale", scale, 0.25))
            .transform_filter(f"datum.b === null || abs(datum.b - {b.name}) < 0.5"))
    y = alt.Y("norm:Q", scale=alt.Scale(type="log"), title="雅可比矩阵的范数")
    color = alt.Color("model:N", title=None, legend=alt.Legend(orient="bottom"))
    curves = base.mark_line().encode(x=alt.X("t:Q", title="距离 t（时间步）"), y=y, color=color)
    exact = (base.transform_filter("datum.b !== null")
             .transform_calculate(exact=f"pow(1 / (1 + exp(-{b.name})), datum.t) * sqrt({n})")
             .mark_line(strokeDash=[5, 4], color="#888").encode(x="t:Q", y="exact:Q"))
    return (alt.layer(curves, exact).add_params(b, scale)
            .properties(title="记忆能保留多久（虚线：U = W = 0 时的精确值 σ(b_f)^t √n）",
                        width=460, height=280))
