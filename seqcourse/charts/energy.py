"""Interactive figures of the chapters 能量模型 and 自编码器与径向基函数网络 (Altair / Vega-Lite).

Every state a control can reach is computed in Python beforehand and stored as tidy rows (one row per
pixel per state); the controls are Vega-Lite params bound to sliders or drop-downs, and ``transform_filter``
keeps the rows of the chosen state. The figures therefore respond in the static site, without a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import torch

from seqcourse.charts import choice, inline_data, matches, slider

__all__ = ["image_records", "hopfield_recall_chart", "denoising_chart", "latent_interpolation_chart"]

Array = np.ndarray | torch.Tensor
PIXEL = 18  # screen pixels per image pixel
INK = ["white", "black"]  # colour range: low values white, high values black (ink on paper)


def _numpy(x: Array, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name} must be a numpy array or a torch.Tensor, got {type(x).__name__}")


def image_records(images: Array, image_shape: tuple[int, int],
                  keys: Sequence[tuple[str, Sequence]]) -> list[dict]:
    """Tidy rows {key_1, ..., key_m, row, col, value} for ``images`` of shape (K_1, ..., K_m, H * W).

    ``keys`` names each leading axis and gives its labels, e.g. [("flips", [0, 8, 16]), ("step", range(9))].
    """
    arr = _numpy(images, "images")
    H, W = image_shape
    lead = tuple(len(labels) for _, labels in keys)
    if arr.shape != (*lead, H * W):
        raise ValueError(f"images must have shape {(*lead, H * W)} for these keys and image_shape, "
                         f"got {arr.shape}")
    rows = []
    for idx in np.ndindex(*lead):
        base = {name: labels[i] for (name, labels), i in zip(keys, idx, strict=True)}
        for p, value in enumerate(arr[idx].tolist()):
            rows.append({**base, "row": p // W, "col": p % W, "value": round(float(value), 3)})
    return rows


def _heatmap(values: list[dict], title: str, domain: tuple[float, float]) -> alt.Chart:
    return alt.Chart(inline_data(values), title=title).mark_rect(stroke="#dddddd", strokeWidth=0.5).encode(
        x=alt.X("col:O", axis=None),
        y=alt.Y("row:O", axis=None),
        color=alt.Color("value:Q", scale=alt.Scale(domain=list(domain), range=INK), legend=None),
    ).properties(width=8 * PIXEL, height=8 * PIXEL)


def _slider(name: str, grid: Sequence[int], label: str) -> tuple[alt.Parameter, str]:
    """A slider over the integer ``grid`` and the filter expression that keeps the rows of its value."""
    param = slider(name, [int(g) for g in grid], value=int(grid[0]), label=label)
    step = int(grid[1]) - int(grid[0]) if len(grid) > 1 else 1
    return param, matches(name, param, tolerance=step / 2)


def hopfield_recall_chart(states: Array, energies: Array, flips: Sequence[int],
                          image_shape: tuple[int, int] = (8, 8)) -> alt.HConcatChart:
    """Recall of a stored image from ``flips[l]`` flipped pixels, step by step.

    ``states`` (L, T, N) in {-1, +1}: the network state at T snapshots of the dynamics for each of the L
    corruption levels; ``energies`` (L, T) the energy of each snapshot. Two sliders choose the corruption
    level and the snapshot; the figure shows that state beside the energy curve of its run.
    """
    S, E = _numpy(states, "states"), _numpy(energies, "energies")
    if S.ndim != 3 or E.shape != S.shape[:2] or len(flips) != S.shape[0]:
        raise ValueError(f"need states (L, T, N), energies (L, T) and L flips; got {S.shape}, {E.shape} "
                         f"and {len(flips)} flips")
    steps = list(range(S.shape[1]))
    level, at_level = _slider("flips", list(flips), "翻转的像素数")
    step, at_step = _slider("step", steps, "更新快照")
    pixels = image_records(S, image_shape, [("flips", list(flips)), ("step", steps)])
    image = _heatmap(pixels, "网络状态", (-1.0, 1.0)).add_params(level, step) \
        .transform_filter(at_level).transform_filter(at_step)
    curve_rows = [{"flips": int(f), "step": t, "energy": round(float(E[l_, t]), 4)}
                  for l_, f in enumerate(flips) for t in steps]
    base = alt.Chart(inline_data(curve_rows), title="能量 E(s)").transform_filter(at_level)
    line = base.mark_line().encode(x=alt.X("step:Q", title="更新快照"), y=alt.Y("energy:Q", title="能量",
                                                                                scale=alt.Scale(zero=False)))
    dot = base.mark_point(size=90, filled=True, color="#d62728").encode(x="step:Q", y="energy:Q") \
        .transform_filter(at_step)
    return alt.hconcat(image, (line + dot).properties(width=260, height=8 * PIXEL))


def denoising_chart(clean: Array, noisy: Array, outputs: dict[str, Array], levels: Sequence[float],
                    image_shape: tuple[int, int] = (8, 8)) -> alt.Chart:
    """Corrupted inputs and each model's reconstruction, one noise level at a time (a slider).

    ``clean`` (K, H*W) the clean images; ``noisy`` (L, K, H*W) their corrupted copies at the L ``levels``;
    ``outputs`` maps a model name to its reconstructions (L, K, H*W) of those copies.
    """
    C, Xn = _numpy(clean, "clean"), _numpy(noisy, "noisy")
    L, K = len(levels), C.shape[0]
    panels = {"原图": np.broadcast_to(C, (L, *C.shape)), "加噪输入": Xn}
    panels.update({name: _numpy(out, name) for name, out in outputs.items()})
    percents = [round(100 * p) for p in levels]
    stacked = np.stack([np.asarray(v) for v in panels.values()], axis=1)  # (L, kinds, K, H*W)
    rows = image_records(stacked, image_shape,
                         [("noise", percents), ("kind", list(panels)), ("digit", list(range(K)))])
    noise, at_noise = _slider("noise", percents, "遮盖比例（%）")
    H, W = image_shape
    return alt.Chart(inline_data(rows)).mark_rect(stroke="#dddddd", strokeWidth=0.5).encode(
        x=alt.X("col:O", axis=None),
        y=alt.Y("row:O", axis=None),
        color=alt.Color("value:Q", scale=alt.Scale(domain=[0, 1], range=INK), legend=None),
        column=alt.Column("digit:O", title=None, header=alt.Header(labels=False)),
        row=alt.Row("kind:N", title=None, sort=list(panels),
                    header=alt.Header(labelAngle=0, labelAlign="left")),
    ).properties(width=W * 9, height=H * 9).add_params(noise).transform_filter(at_noise)


def latent_interpolation_chart(codes: Array, labels: Array, paths: Array, images: Array,
                               pair_names: Sequence[str],
                               image_shape: tuple[int, int] = (8, 8)) -> alt.HConcatChart:
    """A 2-D latent space with interpolation paths: a drop-down picks the path, a slider walks along it.

    ``codes`` (n, 2) latent means of test images with class ``labels`` (n,); ``paths`` (P, T, 2) points on
    each of the P paths named ``pair_names``; ``images`` (P, T, H*W) the decoded images at those points.
    """
    Z, y, Pth, Im = (_numpy(codes, "codes"), _numpy(labels, "labels"), _numpy(paths, "paths"),
                     _numpy(images, "images"))
    if Z.shape[1:] != (2,) or Pth.ndim != 3 or Pth.shape[2] != 2 or len(pair_names) != Pth.shape[0]:
        raise ValueError(f"need codes (n, 2), paths (P, T, 2) and P pair names; got {Z.shape}, {Pth.shape} "
                         f"and {len(pair_names)} names")
    steps = list(range(Pth.shape[1]))
    pair = choice("pair", {name: name for name in pair_names}, value=pair_names[0], label="插值的两端",
                  widget="select")
    at_pair = matches("pair", pair)
    t, at_t = _slider("t", steps, "插值位置")
    points = [{"h1": round(float(a), 3), "h2": round(float(b), 3), "digit": str(int(c))}
              for (a, b), c in zip(Z.tolist(), y.tolist(), strict=True)]
    scatter = alt.Chart(inline_data(points), title="测试图像的隐变量均值 μ(x)").mark_circle(
        size=18, opacity=0.6).encode(
        x=alt.X("h1:Q", title="h₁"), y=alt.Y("h2:Q", title="h₂"),
        color=alt.Color("digit:N", title="数字", scale=alt.Scale(scheme="category10")))
    path_rows = [{"pair": name, "t": s, "h1": round(float(Pth[k, s, 0]), 3),
                  "h2": round(float(Pth[k, s, 1]), 3)}
                 for k, name in enumerate(pair_names) for s in steps]
    path = alt.Chart(inline_data(path_rows)).transform_filter(at_pair)
    line = path.mark_line(color="black", strokeDash=[4, 3]).encode(x="h1:Q", y="h2:Q", order="t:Q")
    here = path.mark_point(size=160, filled=True, color="black", shape="diamond").encode(
        x="h1:Q", y="h2:Q").transform_filter(at_t)
    left = (scatter + line + here).add_params(pair, t).properties(width=300, height=300)
    decoded = _heatmap(image_records(Im, image_shape, [("pair", list(pair_names)), ("t", steps)]),
                       "解码得到的图像", (0.0, 1.0))
    decoded = decoded.transform_filter(at_pair).transform_filter(at_t)
    return alt.hconcat(left, decoded)
