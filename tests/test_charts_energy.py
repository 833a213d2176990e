"""Tests for seqcourse.charts.energy: the rows each control setting shows are the precomputed states.

``visible`` evaluates a chart's Vega-Lite filters (``seqcourse.charts.matches`` expressions) for a given
setting of the params, so the tests check which precomputed rows the reader sees after moving a control;
``test_every_control_value_draws_a_different_figure`` then draws the charts in the real vega runtime.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from seqcourse.charts import energy as ce

EQUAL = re.compile(r'^datum\["(\w+)"\] == (\w+)$')
NEAR = re.compile(r'^abs\(datum\["(\w+)"\] - (\w+)\) < ([0-9.]+)$')


def views(spec: dict, data: list | None = None, filters: tuple = (), datasets: dict | None = None):
    """Yield (rows, filters) of every mark view, with data and filters inherited from layers and facets."""
    datasets = spec.get("datasets", datasets)
    source = spec.get("data", {})
    data = source["values"] if "values" in source else datasets[source["name"]] if "name" in source else data
    filters = filters + tuple(t["filter"] for t in spec.get("transform", []) if "filter" in t)
    for key in ("hconcat", "vconcat", "layer"):
        for child in spec.get(key, []):
            yield from views(child, data, filters, datasets)
    if "spec" in spec:
        yield from views(spec["spec"], data, filters, datasets)
    if "mark" in spec:
        yield data, filters


def visible(spec: dict, setting: dict) -> list[list[dict]]:
    """The rows each mark view keeps when the params take the values in ``setting``."""
    out = []
    for rows, filters in views(spec):
        keep = rows
        for f in filters:
            if m := EQUAL.match(f):
                field, param = m.groups()
                keep = [r for r in keep if r[field] == setting[param]]
            elif m := NEAR.match(f):
                field, param, tol = m.groups()
                keep = [r for r in keep if abs(r[field] - setting[param]) < float(tol)]
            else:
                raise AssertionError(f"unexpected filter {f!r}")
        out.append(keep)
    return out


def params(spec: dict) -> dict:
    return {p["name"]: p["bind"] for p in spec["params"]}


def image_of(rows: list[dict]) -> np.ndarray:
    img = np.full((8, 8), np.nan)
    for r in rows:
        img[r["row"], r["col"]] = r["value"]
    return img.reshape(64)


def test_image_records_layout_and_errors():
    imgs = np.arange(2 * 3 * 64, dtype=float).reshape(2, 3, 64) / 1000
    rows = ce.image_records(imgs, (8, 8), [("a", ["x", "y"]), ("b", [0, 1, 2])])
    assert len(rows) == 2 * 3 * 64
    for r in rows[:: 37]:
        a, b = ["x", "y"].index(r["a"]), r["b"]
        assert r["value"] == pytest.approx(imgs[a, b, 8 * r["row"] + r["col"]])
    with pytest.raises(ValueError, match=r"images must have shape \(2, 3, 64\)"):
        ce.image_records(imgs[:, :2], (8, 8), [("a", ["x", "y"]), ("b", [0, 1, 2])])
    with pytest.raises(TypeError, match="numpy array or a torch.Tensor"):
        ce.image_records([[0.0] * 64], (8, 8), [("a", [0])])


def test_hopfield_recall_chart_shows_the_chosen_state_and_energy():
    rng = np.random.default_rng(0)
    flips = [0, 8, 16]
    S = np.sign(rng.standard_normal((3, 5, 64)))
    E = rng.standard_normal((3, 5))
    spec = ce.hopfield_recall_chart(S, E, flips).to_dict()
    bind = params(spec)
    assert bind["flips"] == {"input": "range", "min": 0, "max": 16, "step": 8, "name": "翻转的像素数 "}
    assert set(bind) == {"flips", "step"}
    assert (bind["step"]["min"], bind["step"]["max"], bind["step"]["step"]) == (0, 4, 1)
    for level, f in enumerate(flips):
        for t in range(5):
            image, line, dot = visible(spec, {"flips": f, "step": t})
            np.testing.assert_allclose(image_of(image), S[level, t])
            assert [r["energy"] for r in line] == pytest.approx(E[level].tolist(), abs=1e-4)
            assert [(r["step"], r["energy"]) for r in dot] == [(t, pytest.approx(E[level, t], abs=1e-4))]
    with pytest.raises(ValueError, match="evenly spaced"):
        ce.hopfield_recall_chart(S, E, [0, 8, 20])
    with pytest.raises(ValueError, match="need states"):
        ce.hopfield_recall_chart(S, E[:2], flips)


def test_denoising_chart_shows_every_panel_at_the_chosen_level():
    rng = np.random.default_rng(1)
    clean, noisy, out = rng.random((4, 64)), rng.random((3, 4, 64)), rng.random((3, 4, 64))
    spec = ce.denoising_chart(clean, noisy, {"去噪自编码器": out}, [0.1, 0.3, 0.5]).to_dict()
    assert params(spec)["noise"]["step"] == 20
    for level, pct in enumerate((10, 30, 50)):
        (rows,) = visible(spec, {"noise": pct})
        assert len(rows) == 3 * 4 * 64
        for kind, ref in (("原图", clean), ("加噪输入", noisy[level]), ("去噪自编码器", out[level])):
            for k in range(4):
                shown = image_of([r for r in rows if r["kind"] == kind and r["digit"] == k])
                np.testing.assert_allclose(shown, ref[k], atol=1e-3)


def test_latent_interpolation_chart_walks_the_chosen_path():
    rng = np.random.default_rng(2)
    codes, labels = rng.standard_normal((30, 2)), np.arange(30) % 10
    paths, images = rng.standard_normal((2, 6, 2)), rng.random((2, 6, 64))
    names = ["0 → 1", "3 → 8"]
    spec = ce.latent_interpolation_chart(codes, labels, paths, images, names).to_dict()
    bind = params(spec)
    assert bind["pair"]["options"] == names and bind["t"]["max"] == 5
    for k, name in enumerate(names):
        for t in range(6):
            scatter, line, here, decoded = visible(spec, {"pair": name, "t": t})
            assert len(scatter) == 30  # every test code stays visible
            walked = [(r["h1"], r["h2"]) for r in sorted(line, key=lambda r: r["t"])]
            np.testing.assert_allclose(walked, paths[k], atol=1e-3)
            np.testing.assert_allclose([(r["h1"], r["h2"]) for r in here], paths[k, t : t + 1], atol=1e-3)
            np.testing.assert_allclose(image_of(decoded), images[k, t], atol=1e-3)
    with pytest.raises(ValueError, match="need codes"):
        ce.latent_interpolation_chart(codes[:, :1], labels, paths, images, names)


def _small_charts():
    rng = np.random.default_rng(3)
    S = np.sign(rng.standard_normal((2, 3, 64)))
    yield ce.hopfield_recall_chart(S, rng.standard_normal((2, 3)), [0, 8])
    outputs = {"去噪自编码器": rng.random((2, 2, 64))}
    yield ce.denoising_chart(rng.random((2, 64)), rng.random((2, 2, 64)), outputs, [0.0, 0.4])
    paths, images = rng.standard_normal((2, 3, 2)), rng.random((2, 3, 64))
    yield ce.latent_interpolation_chart(rng.standard_normal((20, 2)), np.arange(20) % 10, paths, images,
                                        ["0 → 1", "3 → 8"])


@pytest.mark.parametrize("index", range(3))
def test_every_control_value_draws_a_different_figure(index):
    from chart_states import control_values, params, svgs

    chart = list(_small_charts())[index]
    bound = params(chart)
    defaults = {name: p["value"] for name, p in bound.items()}
    for name, p in bound.items():
        states = [{**defaults, name: v} for v in control_values(p)]
        drawn = svgs(chart, states)
        assert len(set(drawn)) == len(drawn), f"moving {name} does not change the figure"
