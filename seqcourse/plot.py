"""The course's matplotlib style: a CJK font shipped on PyPI, loss curves, heatmaps and graph drawings.

``use_course_style()`` registers Noto Sans CJK (from the ``noto-cjk-sans-otc`` wheel, so no system fonts
are needed) and makes it the default, so Chinese titles and labels render without "Glyph missing" warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager

if TYPE_CHECKING:
    import networkx as nx
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from seqcourse.train import History

__all__ = ["CJK_FONT", "use_course_style", "plot_history", "plot_curves", "attention_heatmap", "draw_graph",
           "show_images"]

CJK_FONT = "Noto Sans CJK SC"


def _register_cjk_font() -> None:
    if any(f.name == CJK_FONT for f in font_manager.fontManager.ttflist):
        return
    try:
        from noto_cjk_sans_otc import FONT_PATH
    except ImportError as err:  # pragma: no cover - the dependency is declared in pyproject.toml
        raise RuntimeError("the CJK font package is missing: pip install noto-cjk-sans-otc") from err
    font_manager.fontManager.addfont(str(FONT_PATH))


def use_course_style() -> None:
    """Apply the course style: CJK-capable sans-serif font, readable sizes, light grid for matplotlib; and the
    offline ``"seqcourse"`` renderer and theme for Altair charts (see :mod:`seqcourse.charts`)."""
    from seqcourse.charts import enable

    enable()
    _register_cjk_font()
    mpl.rcParams.update(
        {
            "font.family": "sans-serif",
            "font.sans-serif": [CJK_FONT, "DejaVu Sans"],
            "axes.unicode_minus": False,  # the ASCII hyphen exists in every font
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def plot_curves(
    curves: dict[str, Sequence[float]],
    *,
    xlabel: str = "轮次 (epoch)",
    ylabel: str = "损失 (loss)",
    title: str | None = None,
    logy: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Plot named curves on one axis and return the figure."""
    use_course_style()
    if ax is None:
        fig, ax = plt.subplots()
    else:
        fig = ax.figure
    for name, ys in curves.items():
        ax.plot(np.arange(1, len(ys) + 1), ys, marker="o" if len(ys) <= 30 else None, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if curves:
        ax.legend()
    return fig


def plot_history(history: History, title: str = "训练曲线") -> Figure:
    """Training (and validation, when recorded) loss per epoch."""
    curves = {"训练集 (train)": history.train_loss}
    if history.val_loss:
        curves["验证集 (validation)"] = history.val_loss
    return plot_curves(curves, title=title)


def attention_heatmap(
    weights: np.ndarray | Sequence[Sequence[float]],
    queries: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    *,
    title: str = "注意力权重",
    ax: Axes | None = None,
) -> Figure:
    """Heatmap of an attention matrix (rows: queries / output steps, columns: keys / input steps)."""
    use_course_style()
    a = np.asarray(getattr(weights, "detach", lambda: weights)(), dtype=float)
    if a.ndim != 2:
        raise ValueError(f"weights must be a 2-D (queries, keys) matrix, got shape {a.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.5 * a.shape[1] + 2.5, 0.5 * a.shape[0] + 1.5))
    else:
        fig = ax.figure
    im = ax.imshow(a, cmap="viridis", vmin=0.0, vmax=max(1e-12, float(a.max())), aspect="auto")
    ax.grid(False)
    for labels, setter, n in ((keys, ax.set_xticks, a.shape[1]), (queries, ax.set_yticks, a.shape[0])):
        if labels is not None:
            if len(labels) != n:
                raise ValueError(f"got {len(labels)} labels for an axis of length {n}")
            setter(range(n), labels)
    ax.set_xlabel("键 (key)")
    ax.set_ylabel("查询 (query)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def draw_graph(
    graph: nx.Graph,
    node_color: Sequence[float] | Sequence[str] | None = None,
    *,
    title: str | None = None,
    seed: int = 0,
    ax: Axes | None = None,
) -> Figure:
    """Draw a networkx graph with a fixed spring layout (``seed``) and optional node colours."""
    import networkx as nx

    use_course_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    else:
        fig = ax.figure
    pos = nx.spring_layout(graph, seed=seed)
    numeric = node_color is not None and not isinstance(next(iter(node_color), ""), str)
    colors = node_color if node_color is not None else "#89b"
    style = {"node_color": colors, "cmap": "coolwarm"} if numeric else {"node_color": colors}
    nx.draw_networkx(graph, pos=pos, ax=ax, node_size=250, font_size=8, **style)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def show_images(images: np.ndarray | Sequence, image_shape: tuple[int, int] = (8, 8), *, ncols: int = 10,
                titles: Sequence[str] | None = None, vmin: float | None = None, vmax: float | None = None,
                suptitle: str | None = None, size: float = 0.9) -> Figure:
    """A grid of small greyscale images (dark = large values), e.g. digits, filters or reconstructions.

    ``images`` (K, H * W) as an array or tensor; one panel per row, ``ncols`` panels per grid row.
    """
    arr = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images, dtype=float)
    H, W = image_shape
    if arr.ndim != 2 or arr.shape[1] != H * W:
        raise ValueError(f"images must have shape (K, {H * W}) for shape {image_shape}, got {arr.shape}")
    if titles is not None and len(titles) != len(arr):
        raise ValueError(f"titles must have {len(arr)} entries, got {len(titles)}")
    ncols = min(ncols, len(arr))
    nrows = -(-len(arr) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(arr):
            ax.imshow(arr[k].reshape(H, W), cmap="gray_r", vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
