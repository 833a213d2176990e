"""The chapters' interactive figures (seqcourse.charts.recurrent / attention): their numbers agree with the
course's modules, and every value of every control draws a different figure in the real vega runtime."""

from __future__ import annotations

import re

import pytest
import torch
from chart_states import control_values, params, svgs

from seqcourse.charts.attention import (
    attention_pattern_chart,
    attention_query_chart,
    attention_step_chart,
    pattern_mask,
)
from seqcourse.charts.recurrent import (
    elman_state_norms,
    forget_gate_chart,
    gradient_norm_chart,
    lstm_cell_norms,
    rnn_unroll_chart,
    temperature_chart,
)
from seqcourse.nn.elman import ElmanRNN, state_jacobian_norms
from seqcourse.nn.gated_memory import cell_state_jacobian_norms, set_forget_bias
from seqcourse.nn.recurrent import LSTMCell


def _rows(chart) -> list[dict]:
    (values,) = chart.to_dict()["datasets"].values()
    return values


def assert_every_control_changes_the_figure(chart, base: dict | None = None, only: set | None = None):
    """For each param (or those in ``only``), every value it offers, the others at ``base`` / defaults,
    draws its own figure."""
    ps = params(chart)
    states, groups = [], []
    for name, p in ps.items():
        if only is not None and name not in only:
            continue
        values = control_values(p)
        groups.append((name, len(states), len(values)))
        states += [{**(base or {}), name: v} for v in values]
    drawn = svgs(chart, states)
    for name, start, n in groups:
        assert len(set(drawn[start:start + n])) == n, f"some values of {name!r} draw the same figure"
    return dict(zip([repr(s) for s in states], drawn, strict=True))


def test_rnn_unroll_chart_reproduces_the_worked_example_and_responds():
    chart = rnn_unroll_chart()
    assert set(params(chart)) == {"seq", "w", "act"}
    rows = _rows(chart)

    def outputs(seq, w, act):
        key = (seq, w, act, "输出 y_t")
        return [r["value"] for r in rows if (r["seq"], r["w"], r["act"], r["量"]) == key]

    assert outputs("1, 1, 2", 1.0, "identity") == [4.0, 12.0, 32.0]  # inputs 1, 1, 2 with every weight 1
    y2 = outputs("2, -1, 1", 0.5, "tanh")
    with torch.no_grad():
        rnn = ElmanRNN(2, 2, 2, activation="tanh", bias=False)
        for p in rnn.parameters():
            p.fill_(0.5)
        ref = rnn(torch.tensor([[[2.0, 2.0], [-1.0, -1.0], [1.0, 1.0]]]))[0][0, :, 0]
    assert y2 == pytest.approx(ref.tolist(), abs=1e-6)
    drawn = assert_every_control_changes_the_figure(chart)
    default = drawn[repr({"seq": "1, 1, 2"})]
    assert ">32<" in default and ">12<" in default
    with pytest.raises(ValueError, match="1 to 8"):
        rnn_unroll_chart({"empty": ()})


def test_jacobian_norms_agree_with_the_autograd_versions():
    gen = torch.Generator().manual_seed(3)
    net = ElmanRNN(1, 6, 1)
    x = torch.randn(1, 40, 1, generator=gen)
    assert torch.tensor(elman_state_norms(net, x, "tanh")) == pytest.approx(state_jacobian_norms(net, x),
                                                                           rel=1e-4)
    lin = ElmanRNN(1, 6, 1, activation="identity")
    assert torch.tensor(elman_state_norms(lin, x, "identity")) == pytest.approx(state_jacobian_norms(lin, x),
                                                                               rel=1e-4)
    cell = LSTMCell(1, 5)
    with torch.no_grad():
        cell.W.mul_(3)
    set_forget_bias(cell, 1.5)
    xs = torch.randn(40, 1, generator=gen)
    ref = cell_state_jacobian_norms(cell, xs)
    assert torch.tensor(lstm_cell_norms(cell, xs)) == pytest.approx(ref, rel=1e-4)
    with pytest.raises(ValueError, match="activation"):
        elman_state_norms(net, x, "relu")


def test_gradient_norm_chart_is_exact_for_the_linear_network_and_responds():
    chart = gradient_norm_chart(hidden_size=4)
    assert set(params(chart)) == {"rho", "T", "act"}
    lin = [r for r in _rows(chart) if r["act"] == "identity" and r["rho"] == 0.95]
    assert [r["norm"] for r in lin] == pytest.approx([0.95 ** r["t"] * 2 for r in lin], rel=1e-4)
    assert_every_control_changes_the_figure(chart)


def test_temperature_chart_gives_the_tempered_softmax_and_its_entropy():
    logits = torch.log(torch.tensor([0.5, 0.25, 0.25]))
    chart = temperature_chart(logits, ["a", "b", " "])
    rows = [r for r in _rows(chart) if r["logtau"] == 0.0]
    assert [r["p"] for r in rows] == pytest.approx([0.5, 0.25, 0.25])
    assert rows[0]["entropy"] == pytest.approx(1.5)  # bits
    assert rows[2]["token"] == "3:␣"  # the space is shown
    drawn = assert_every_control_changes_the_figure(chart)
    assert "熵 1.50 比特" in drawn[repr({"logtau": 0.0})]
    with pytest.raises(ValueError, match="labels"):
        temperature_chart(logits, ["a", "b"])


def test_forget_gate_chart_matches_the_exact_product_of_forget_gates():
    chart = forget_gate_chart(hidden_size=4, length=20)
    assert set(params(chart)) == {"b_f", "scale"}
    rows = _rows(chart)
    # with W = 0 the gates ignore the state: ∂c_t/∂c_0 = Π_s diag(f_s), shrinking with t, growing with b_f
    def lstm(b):
        return [r["norm"] for r in rows if r["scale"] == 0.0 and r["b"] == b]

    for b in (-2.0, 2.0):
        assert all(later < earlier for earlier, later in zip(lstm(b), lstm(b)[1:], strict=False))
        assert all(hi > lo for lo, hi in zip(lstm(b), lstm(b + 1.0), strict=True))
    assert lstm(6.0)[-1] > 0.5 * lstm(6.0)[0]  # σ(6) ≈ 0.9975: the memory survives 20 steps
    rnn = [r for r in rows if r["scale"] == 0.0 and r["b"] is None]
    assert all(r["norm"] == 1e-30 for r in rnn)  # the RNN forgets h_0 at once (clamped for the log axis)
    assert_every_control_changes_the_figure(chart)


def test_attention_step_chart_names_the_strongest_input_of_each_output():
    weights = torch.tensor([[0.6, 0.2, 0.2], [0.2, 0.7, 0.1], [0.3, 0.2, 0.5]])  # the Tom-chases-Jerry rows
    chart = attention_step_chart(weights, ["汤姆", "追逐", "杰瑞"], ["Tom", "Chase", "Jerry"])
    drawn = assert_every_control_changes_the_figure(chart)
    for i, (word, alpha) in enumerate((("Tom", "0.60"), ("Chase", "0.70"), ("Jerry", "0.50")), start=1):
        assert f"最关注输入 “{word}”（α = {alpha}）" in drawn[repr({"i": float(i)})]
    with pytest.raises(ValueError, match="query labels"):
        attention_step_chart(weights, ["a"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="step"):
        attention_step_chart(weights, ["a", "b", "c"], ["x", "y", "z"], step=4)


def test_attention_query_chart_follows_the_map_head_and_query():
    gen = torch.Generator().manual_seed(0)
    enc = torch.softmax(torch.randn(2, 4, 4, generator=gen), dim=-1)  # (H, L, S)
    cross = torch.softmax(torch.randn(2, 3, 4, generator=gen), dim=-1)
    keys = ["a", "b", "c", "d"]
    chart = attention_query_chart({"enc": (enc, keys, keys), "cross": (cross, ["x", "y", "z"], keys)})
    assert set(params(chart)) == {"map", "head", "t"}
    rows = _rows(chart)
    for name, w in (("enc", enc), ("cross", cross)):
        for h in range(w.shape[0]):
            for t in range(w.shape[1]):
                row = [r for r in rows if (r["map"], r["head"], r["t"]) == (name, h + 1, t + 1)]
                assert [r["alpha"] for r in row] == pytest.approx(w[h, t].tolist())
                assert [r["best"] for r in row].index(True) == int(w[h, t].argmax())
    assert_every_control_changes_the_figure(chart)
    with pytest.raises(ValueError, match="key labels"):
        attention_query_chart({"m": (torch.ones(1, 2, 3) / 3, ["p", "q"], ["a", "b"])})


ALLOWED = {
    "full": lambda t, i: True,
    "causal": lambda t, i: i <= t,
    "local": lambda t, i: abs(t - i) <= 2,
    "strided": lambda t, i: (t - i) % 4 == 0,
    "global": lambda t, i: t < 2 or i < 2 or abs(t - i) <= 2,
}


def _count(svg: str) -> int:
    return int(re.search(r"计算 (\d+) 个分数", svg).group(1))


def test_attention_pattern_chart_counts_the_scores_of_every_pattern():
    chart = attention_pattern_chart()
    states = [{"method": m, "N": n} for m in (*ALLOWED, "clustering", "learnable") for n in (8, 32)]
    for state, svg in zip(states, svgs(chart, states), strict=True):
        m, n = state["method"], state["N"]
        expected = (sum(ALLOWED[m](t, i) for t in range(n) for i in range(n)) if m in ALLOWED
                    else int(pattern_mask(m, n, clusters=4)[0].sum()))
        assert _count(svg) == expected, state
        assert f"N² = {n * n}" in svg


@pytest.mark.parametrize(("method", "param"), [("local", "w"), ("strided", "s"), ("global", "g"),
                                               ("clustering", "k"), ("learnable", "N"), ("local", "method")])
def test_attention_pattern_chart_responds_to_each_control(method, param):
    assert_every_control_changes_the_figure(attention_pattern_chart(), base={"method": method}, only={param})
    with pytest.raises(ValueError, match="N must be one of"):
        attention_pattern_chart(N=12)
