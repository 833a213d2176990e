"""The convolution chapters' interactive charts (seqcourse.charts.cnn): the precomputed states against the
convolution itself, and the controls that pick them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from chart_states import svgs

from seqcourse.charts import cnn as charts
from seqcourse.scratch.conv import lecture_image, sobel_kernel


def _params(spec: dict) -> dict[str, dict]:
    return {p["name"]: p for p in spec["params"]}


@pytest.mark.parametrize("paddings", [(0,), (0, 1), (2,)])
def test_sliding_window_states_are_the_convolution(paddings):
    image, kernel = lecture_image(), sobel_kernel()
    rows = charts.sliding_window_rows(image, kernel, paddings)
    for p in paddings:
        x, w = torch.from_numpy(image[None, None]).double(), torch.from_numpy(kernel[None, None])
        expected = F.conv2d(x, w, padding=p)[0, 0].numpy()  # (H_out, W_out)
        steps = [s for s in rows["steps"] if s["padding"] == p]
        assert [s["k"] for s in steps] == list(range(expected.size))  # reading order, one step per output
        x_pad = np.pad(image, p)
        for s in steps:
            assert s["value"] == expected[s["i"], s["j"]]
            window = x_pad[s["row0"] : s["row1"], s["col0"] : s["col1"]]
            assert window.shape == kernel.shape
            assert float(np.sum(window * kernel)) == s["value"]  # the outlined window gives the value
            assert s["formula"].endswith(f"= {s['value']:g}")
        cells = [c for c in rows["cells"] if c["padding"] == p]
        assert len(cells) == x_pad.size
        assert all(c["value"] == x_pad[c["row"], c["col"]] for c in cells)
        assert sum(c["pad"] for c in cells) == x_pad.size - image.size
        outputs = [o for o in rows["outputs"] if o["padding"] == p]
        def key(row):
            return row["i"], row["j"], row["value"]

        assert [key(o) for o in outputs] == [key(t) for t in steps]


def test_lecture_worked_values_appear_in_the_states():
    steps = charts.sliding_window_rows(lecture_image(), sobel_kernel(), (0,))["steps"]
    value = {(s["i"], s["j"]): s["value"] for s in steps}
    assert (value[0, 0], value[0, 1], value[0, 2], value[6, 6]) == (0, 8, 8, 6)  # the four done by hand
    assert steps[0]["formula"] == "y[0,0] = 0×1 + 2×2 + 3×1 + 0×0 + 1×0 + 4×0 + 3×(-1) + 2×(-2) + 0×(-1) = 0"


def test_sliding_window_chart_controls_pick_the_states():
    spec = charts.sliding_window_chart(lecture_image(), sobel_kernel(), (0, 1)).to_dict()
    params = _params(spec)
    assert params["step"]["bind"]["input"] == "range"
    # 9 x 9 outputs with p = 1
    assert (params["step"]["bind"]["min"], params["step"]["bind"]["max"]) == (0, 80)
    assert params["pad"]["bind"]["options"] == ["0", "1"]
    text = json.dumps(spec)
    assert "datum.padding == toNumber(pad)" in text and "min(step, datum.n - 1)" in text
    assert len(text) < 200_000  # small enough to inline in a page


def test_sliding_window_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        charts.sliding_window_rows(np.zeros((1, 9, 9)), sobel_kernel())
    with pytest.raises(ValueError, match="non-negative"):
        charts.sliding_window_rows(lecture_image(), sobel_kernel(), (-1,))


def test_darts_alpha_rows_and_chart():
    torch.manual_seed(0)
    history = [torch.softmax(torch.randn(2, 3), -1) for _ in range(10)]
    rows = charts.darts_alpha_rows(history, ["a", "b", "c"], every=4)
    assert sorted({r["step"] for r in rows}) == [1, 5, 9, 10]  # every 4th step and the last
    assert len(rows) == 4 * 2 * 3
    for r in rows:
        weight = history[r["step"] - 1][r["edge"] - 1, "abc".index(r["op"])]
        assert r["weight"] == pytest.approx(float(weight))
    spec = charts.darts_alpha_chart(history, ["a", "b", "c"], every=4).to_dict()
    params = _params(spec)
    assert params["edge"]["bind"]["options"] == ["1", "2"]
    assert (params["step"]["bind"]["min"], params["step"]["bind"]["max"]) == (1, 10)
    assert "datum.edge == toNumber(edge)" in json.dumps(spec)
    with pytest.raises(ValueError, match="op_names has 2 names"):
        charts.darts_alpha_rows(history, ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        charts.darts_alpha_rows([], ["a"])


def test_sliding_window_every_position_draws_a_different_figure():
    """Drawn by the real vega runtime: each slider stop and each padding gives its own figure; past the
    last output of p = 0 the slider keeps showing that last output."""
    chart = charts.sliding_window_chart(lecture_image(), sobel_kernel(), (0, 1))
    no_pad = [{"step": k, "pad": "0"} for k in range(49)]
    padded = [{"step": k, "pad": "1"} for k in range(81)]
    drawn = svgs(chart, no_pad + padded + [{"step": 80, "pad": "0"}])
    assert len(set(drawn[:49])) == 49 and len(set(drawn[49:130])) == 81
    assert not set(drawn[:49]) & set(drawn[49:130])
    assert drawn[-1] == drawn[48]  # clamped to the last output of the 7 x 7 map
    assert "y[1,2] = 4×1 + 3×2" in drawn[9]  # the formula of the chosen window is written out


def test_darts_chart_every_edge_and_step_draws_a_different_figure():
    torch.manual_seed(1)
    history = [torch.softmax(torch.randn(2, 3), -1) for _ in range(6)]
    chart = charts.darts_alpha_chart(history, ["a", "b", "c"])
    states = [{"edge": e, "step": t} for e in ("1", "2") for t in range(1, 7)]
    drawn = svgs(chart, states)
    assert len(set(drawn)) == len(states)
