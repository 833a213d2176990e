import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pytest
from matplotlib import font_manager

from seqcourse.plot import CJK_FONT, attention_heatmap, draw_graph, plot_history, use_course_style
from seqcourse.train import History


def _render(fig):
    fig.canvas.draw()
    plt.close(fig)


def test_chinese_text_renders_with_the_shipped_font_and_no_missing_glyphs():
    use_course_style()
    assert CJK_FONT in {f.name for f in font_manager.fontManager.ttflist}
    sans = font_manager.FontProperties(family=["sans-serif"])
    found = font_manager.findfont(sans, fallback_to_default=False)
    assert "NotoSansCJK" in found
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font" is a UserWarning
        fig, ax = plt.subplots()
        ax.set_title("通过时间反向传播：梯度范数 −1")
        ax.set_xlabel("时间步 t")
        _render(fig)


def test_default_font_would_miss_glyphs():
    """Mutation check for the test above: without the CJK font, matplotlib warns about missing glyphs."""
    with matplotlib.rc_context({"font.family": "DejaVu Sans"}):
        fig, ax = plt.subplots()
        ax.set_title("循环")
        with pytest.warns(UserWarning, match="missing from"):
            _render(fig)


def test_plot_helpers_draw_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_history(History(train_loss=[1.0, 0.5], val_loss=[1.1, 0.7], grad_norm=[2.0, 1.0]))
        assert [line.get_label() for line in fig.axes[0].lines] == ["训练集 (train)", "验证集 (validation)"]
        _render(fig)
        fig = attention_heatmap(np.eye(3), ["汤姆", "追", "杰瑞"], ["Tom", "chases", "Jerry"])
        _render(fig)
        _render(draw_graph(nx.karate_club_graph(), title="空手道俱乐部"))


def test_attention_heatmap_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        attention_heatmap(np.zeros(3))
    with pytest.raises(ValueError, match="2 labels for an axis of length 3"):
        attention_heatmap(np.eye(3), queries=["a", "b"])


def test_show_images_draws_each_image_in_its_panel():
    from seqcourse.plot import show_images

    imgs = np.arange(3 * 64, dtype=float).reshape(3, 64)
    fig = show_images(imgs, ncols=2, titles=["a", "b", "c"])
    axes = fig.axes
    assert len(axes) == 4 and not axes[3].images  # 2 x 2 grid, the last panel empty
    for k in range(3):
        np.testing.assert_array_equal(axes[k].images[0].get_array(), imgs[k].reshape(8, 8))
        assert axes[k].get_title() == "abc"[k]
    plt.close(fig)
    with pytest.raises(ValueError, match=r"shape \(K, 64\)"):
        show_images(np.zeros((2, 63)))
    with pytest.raises(ValueError, match="titles must have 2"):
        show_images(np.zeros((2, 64)), titles=["x"])
