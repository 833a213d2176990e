"""``seqcourse-grade similarity``: planted copies are found, independent work and starter code are not.

The corpus is an assignment in miniature (an RNN forward pass and BPTT in NumPy, plus a written answer):
a template with starter code, one original solution, a disguised copy of it (variables renamed, functions
reordered, comments rewritten, the written answer re-punctuated), two solutions written independently in
other styles, two untouched templates, an earlier term's copy and a malformed notebook.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest

from seqcourse.grading import cli, similarity

TEMPLATE_CODE = [
    '''import numpy as np


def rnn_forward(params, xs, h0):
    """h_t = tanh(W h_{t-1} + U x_t + b) for every step; return the stacked states (T, n)."""
    # YOUR CODE HERE
    raise NotImplementedError()''',
    '''def rnn_backward(params, xs, hs, h0, grad_hs):
    """Gradients of a loss L w.r.t. U, W, b given dL/dh_t for every step (BPTT)."""
    # YOUR CODE HERE
    raise NotImplementedError()''',
]
TEMPLATE_TEXT = "YOUR ANSWER HERE"

ORIGINAL = [
    '''import numpy as np


def rnn_forward(params, xs, h0):
    U, W, b = params["U"], params["W"], params["b"]
    states = []
    h = h0
    for x in xs:
        # new state from the previous one and the input
        h = np.tanh(W @ h + U @ x + b)
        states.append(h)
    return np.stack(states)''',
    '''def rnn_backward(params, xs, hs, h0, grad_hs):
    U, W = params["U"], params["W"]
    dU, dW, db = np.zeros_like(U), np.zeros_like(W), np.zeros_like(params["b"])
    carry = np.zeros_like(h0)
    for t in reversed(range(len(xs))):
        # total gradient reaching h_t: its own loss term plus what flows back from t+1
        total = grad_hs[t] + carry
        da = total * (1.0 - hs[t] ** 2)
        prev = hs[t - 1] if t > 0 else h0
        dU += np.outer(da, xs[t])
        dW += np.outer(da, prev)
        db += da
        carry = W.T @ da
    return {"U": dU, "W": dW, "b": db}''',
]
ORIGINAL_TEXT = (
    "梯度沿时间反向传播时，每一步都要乘上 W 的转置和 tanh 的导数，"
    "所以当 W 的谱半径小于一时，远处的梯度按指数衰减，这就是梯度消失；"
    "谱半径大于一时则可能爆炸，需要梯度裁剪。截断 BPTT 只保留最近的若干步，代价是看不到长程依赖。"
)

DISGUISED = [
    '''def rnn_backward(theta, inputs, hidden, start, upstream):
    Umat, Wmat = theta["U"], theta["W"]
    gU, gW, gb = np.zeros_like(Umat), np.zeros_like(Wmat), np.zeros_like(theta["b"])
    running = np.zeros_like(start)
    for step in reversed(range(len(inputs))):
        # gradient arriving at this hidden state (local + from the future)
        acc = upstream[step] + running
        pre = acc * (1.0 - hidden[step] ** 2)
        before = hidden[step - 1] if step > 0 else start
        gU += np.outer(pre, inputs[step])
        gW += np.outer(pre, before)
        gb += pre
        running = Wmat.T @ pre
    return {"U": gU, "W": gW, "b": gb}''',
    '''import numpy as np


def rnn_forward(theta, inputs, start):
    Umat, Wmat, bias = theta["U"], theta["W"], theta["b"]
    out = []
    state = start
    for inp in inputs:
        # recurrence step
        state = np.tanh(Wmat @ state + Umat @ inp + bias)
        out.append(state)
    return np.stack(out)''',
]
DISGUISED_TEXT = (
    "梯度沿时间反向传播时, 每一步都要乘上W的转置和tanh的导数. "
    "所以当W的谱半径小于一时, 远处的梯度按指数衰减, 这就是梯度消失! "
    "谱半径大于一时则可能爆炸, 需要梯度裁剪; 截断BPTT只保留最近的若干步, 代价是看不到长程依赖."
)

INDEPENDENT_1 = [
    '''import numpy as np


def rnn_forward(params, xs, h0):
    T = xs.shape[0]
    n = h0.shape[0]
    H = np.empty((T, n))
    pre_inputs = xs @ params["U"].T + params["b"]  # (T, n): the input part of every step at once
    for t in range(T):
        H[t] = np.tanh(pre_inputs[t] + params["W"] @ (H[t - 1] if t else h0))
    return H''',
    '''def rnn_backward(params, xs, hs, h0, grad_hs):
    T = xs.shape[0]
    previous = np.vstack([h0[None, :], hs[:-1]])  # (T, n): h_{t-1} for every t
    delta = np.zeros_like(hs)
    nxt = np.zeros(hs.shape[1])
    for t in range(T - 1, -1, -1):
        delta[t] = (grad_hs[t] + params["W"].T @ nxt) * (1 - np.square(hs[t]))
        nxt = delta[t]
    return {"U": delta.T @ xs, "W": delta.T @ previous, "b": delta.sum(axis=0)}''',
]
INDEPENDENT_1_TEXT = (
    "反向传播经过很多个时间步以后，雅可比矩阵连乘，它的范数由权重矩阵的最大奇异值和激活函数的斜率决定。"
    "奇异值偏小时信号迅速变弱，偏大时数值会溢出。实际训练里常用门控结构或者把梯度的范数限制在阈值以内。"
)

INDEPENDENT_2 = [
    '''import numpy as np


class Recurrence:
    def __init__(self, params):
        self.p = params

    def step(self, h, x):
        return np.tanh(self.p["U"] @ x + self.p["W"] @ h + self.p["b"])


def rnn_forward(params, xs, h0):
    cell = Recurrence(params)
    trajectory = [h0]
    for x_t in xs:
        trajectory.append(cell.step(trajectory[-1], x_t))
    return np.array(trajectory[1:])''',
    '''def rnn_backward(params, xs, hs, h0, grad_hs):
    grads = {name: np.zeros_like(value) for name, value in params.items() if name in ("U", "W", "b")}
    chain = 0.0
    padded = [h0, *hs]
    t = len(xs)
    while t > 0:
        t -= 1
        g = (grad_hs[t] + chain) * (1 - padded[t + 1] * padded[t + 1])
        grads["b"] = grads["b"] + g
        grads["U"] = grads["U"] + g[:, None] * xs[t][None, :]
        grads["W"] = grads["W"] + g[:, None] * padded[t][None, :]
        chain = params["W"].T.dot(g)
    return grads''',
]
INDEPENDENT_2_TEXT = (
    "可以把展开后的网络看成一个很深的前馈网络，只是每层共享参数。链式法则给出的乘积项如果始终小于一就会让早期输入"
    "几乎得不到学习信号；LSTM 用加法更新细胞状态，缓解了这个问题。"
)


def _notebook(code_cells: list[str], answer: str) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_markdown_cell("# 作业：BPTT\n\n实现前向传播与反向传播。")]
    cells += [nbformat.v4.new_code_cell(src) for src in code_cells]
    cells.append(nbformat.v4.new_code_cell("assert rnn_forward is not None"))
    written = nbformat.v4.new_markdown_cell(answer)
    written.metadata["nbgrader"] = {"solution": True, "grade": True, "grade_id": "written", "points": 2}
    cells.append(written)
    return nbformat.v4.new_notebook(cells=cells)


def _write(folder: Path, student: str, nb: nbformat.NotebookNode) -> None:
    (folder / student / "hw").mkdir(parents=True)
    nbformat.write(nb, folder / student / "hw" / "hw.ipynb")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("similarity")
    template = root / "release" / "hw" / "hw.ipynb"
    template.parent.mkdir(parents=True)
    nbformat.write(_notebook(TEMPLATE_CODE, TEMPLATE_TEXT), template)
    subs = root / "submissions"
    _write(subs, "alice", _notebook(ORIGINAL, ORIGINAL_TEXT))
    _write(subs, "bob", _notebook(DISGUISED, DISGUISED_TEXT))
    _write(subs, "carol", _notebook(INDEPENDENT_1, INDEPENDENT_1_TEXT))
    _write(subs, "dave", _notebook(INDEPENDENT_2, INDEPENDENT_2_TEXT))
    _write(subs, "erin", _notebook(TEMPLATE_CODE, TEMPLATE_TEXT))
    _write(subs, "frank", _notebook(TEMPLATE_CODE, TEMPLATE_TEXT))
    (subs / "mallory" / "hw").mkdir(parents=True)
    (subs / "mallory" / "hw" / "hw.ipynb").write_text("{ not json", encoding="utf-8")
    earlier = root / "2025-fall"
    _write(earlier, "grace", _notebook(ORIGINAL, ORIGINAL_TEXT))
    _write(earlier, "heidi", _notebook(ORIGINAL, ORIGINAL_TEXT))  # earlier students: never compared together
    found = similarity.load_submissions(subs) + similarity.load_submissions(earlier, term="2025-fall")
    pairs = similarity.compare(found, [template])
    return {"root": root, "template": template, "subs": subs, "earlier": earlier, "pairs": pairs}


def _pair(pairs, a: str, b: str):
    (match,) = [p for p in pairs if {p.a.student, p.b.student} == {a, b}]
    return match


def test_a_disguised_copy_is_found_in_code_and_in_the_written_answer(corpus) -> None:
    pair = _pair(corpus["pairs"], "alice", "bob")
    assert min(pair.code) >= 0.8, pair.code
    assert min(pair.text) >= 0.8, pair.text
    first = corpus["pairs"][0]
    assert first is pair or {first.a.student, first.b.student} & {"grace", "heidi"}


@pytest.mark.parametrize("a, b", [("alice", "carol"), ("alice", "dave"), ("carol", "dave"), ("bob", "carol")])
def test_independent_solutions_are_not_found(corpus, a: str, b: str) -> None:
    assert _pair(corpus["pairs"], a, b).score < 0.3


def test_starter_code_never_counts(corpus) -> None:
    assert _pair(corpus["pairs"], "erin", "frank").score == 0.0
    assert _pair(corpus["pairs"], "erin", "alice").score == 0.0


def test_without_the_template_the_starter_code_would_count(corpus) -> None:
    subs = similarity.load_submissions(corpus["subs"])
    pairs = similarity.compare(subs)  # no template: the untouched notebooks match each other
    assert _pair(pairs, "erin", "frank").score > 0.9


def test_earlier_terms_are_compared_with_this_term_only(corpus) -> None:
    pairs = corpus["pairs"]
    assert min(_pair(pairs, "alice", "grace").code) >= 0.99
    assert _pair(pairs, "grace", "alice").b.term in ("2025-fall", "current")
    assert not [p for p in pairs if {p.a.student, p.b.student} == {"grace", "heidi"}]


def test_a_malformed_notebook_is_reported_and_compared_as_empty(corpus) -> None:
    (mallory,) = [s for p in corpus["pairs"] for s in (p.a, p.b) if s.student == "mallory"][:1]
    assert "not a readable notebook" in mallory.problem
    assert all(p.score == 0 for p in corpus["pairs"] if "mallory" in (p.a.student, p.b.student))


def test_cli_writes_the_csv_and_an_offline_html_report(corpus, tmp_path: Path) -> None:
    out = tmp_path / "report"
    release = corpus["template"].parents[1]
    argv = ["hw", str(corpus["subs"]), "--out", str(out), "--earlier", str(corpus["earlier"])]
    argv += ["--release", str(release)]
    assert cli.main(["similarity", *argv]) == 0  # through seqcourse-grade's entry point
    with (out / "similarity.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == similarity.CSV_COLUMNS
    top = {rows[0]["student_a"], rows[0]["student_b"]}
    assert top in ({"alice", "bob"}, {"alice", "grace"}, {"bob", "grace"})
    assert all(float(r["score"]) > 0 for r in rows)
    page = (out / "similarity.html").read_text(encoding="utf-8")
    assert "<mark>" in page and "<svg" in page and "alice" in page and "mallory" in page
    remote = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
    assert remote == [] and "<script" not in page, "the report must work offline"


def test_student_names_are_escaped_in_the_report(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    _write(subs, "<img src=x onerror=alert(1)>", _notebook(ORIGINAL, ORIGINAL_TEXT))
    _write(subs, "bob", _notebook(DISGUISED, DISGUISED_TEXT))
    pairs = similarity.compare(similarity.load_submissions(subs))
    similarity.write_html(pairs, tmp_path / "r.html", "hw")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_missing_submissions_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="one folder per student"):
        similarity.load_submissions(tmp_path / "nope")


@pytest.mark.browser
def test_report_in_chromium_loads_nothing_remote(browser, corpus, tmp_path: Path) -> None:
    """The report as an instructor opens it; the screenshot goes to test-artifacts/instructor/."""
    out = tmp_path / "report"
    release = str(corpus["template"].parents[1])
    similarity.main(["hw", str(corpus["subs"]), "--out", str(out), "--release", release])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((out / "similarity.html").as_uri())
    assert page.locator("table tr").count() > 1
    assert page.locator("mark").first.is_visible()
    shots = Path(__file__).resolve().parents[1] / "test-artifacts" / "instructor"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "similarity.png"), full_page=True)
    page.close()
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
