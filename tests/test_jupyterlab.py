"""Each chapter notebook opened in a real JupyterLab (no extension) in Debian Chromium, as students meet it.

The test starts ``jupyter lab`` from the running environment on 127.0.0.1 with a token, opens every chapter
and asserts: no raw MyST markup in the rendered Markdown, exercise answers folded (``<details>`` closed, its
content hidden), math typeset by JupyterLab's MathJax (no literal ``$$`` left). It also executes a small
notebook that displays a ``seqcourse.charts`` chart and checks that JupyterLab draws it natively with
vega-embed (an SVG), offline.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
MYST = ["{term}", "{cite}", "{doc}", "{ref}", "{admonition}", ":class:", ":::", "```{"]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chart_notebook(path: Path) -> None:
    """A notebook whose one output is a seqcourse chart, executed with a real kernel."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import altair as alt\n"
        "from seqcourse.charts import inline_data, slider, matches\n"
        "from seqcourse.plot import use_course_style\n"
        "use_course_style()\n"
        "k = slider('k', [1, 2], value=1, label='k')\n"
        "rows = [{'x': x, 'y': k * x, 'k': k} for k in (1, 2) for x in range(4)]\n"
        "alt.Chart(inline_data(rows), title='图').mark_line().encode(x='x:Q', y='y:Q')"
        ".add_params(k).transform_filter(matches('k', k, 0.5))"
    )]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
                   ).execute()
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[tuple[str, str]]:
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("jupyterlab is not installed (the dev extra installs it)")
    root = tmp_path_factory.mktemp("lab-root")
    for nb in CHAPTERS:
        shutil.copy(nb, root / nb.name)
    _chart_notebook(root / "chart_demo.ipynb")
    settings = tmp_path_factory.mktemp("lab-settings") / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # render every cell (JupyterLab 4 attaches only the visible ones by default)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings.parents[1]), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.user_settings_dir={settings.parents[1]}", "--LabApp.news_url=",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter lab exited: {proc.stderr.read()[-2000:]}") from None
                time.sleep(0.5)
        else:
            raise RuntimeError("jupyter lab did not start within 60 s")
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _open(browser, lab, name: str):
    base, token = lab
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    remote = []
    page.route("**/*", lambda route: (route.continue_() if route.request.url.startswith(base)
                                      else (remote.append(route.request.url), route.abort())))
    # a fresh workspace per page: otherwise JupyterLab reopens the notebooks of the previous pages
    workspace = f"t{secrets.token_hex(4)}"
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{name}?reset&token={token}",
              wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached", timeout=60_000)
    return page, remote


@pytest.mark.parametrize("chapter", [p.name for p in CHAPTERS], ids=lambda n: n.removesuffix(".ipynb"))
def test_chapter_reads_cleanly_in_jupyterlab(browser, lab, chapter):
    page, _ = _open(browser, lab, chapter)
    n_markdown = sum(c.cell_type == "markdown" for c in nbformat.read(ROOT / "book" / chapter, 4).cells)
    page.wait_for_function(f"document.querySelectorAll('.jp-MarkdownOutput').length >= {n_markdown}",
                           timeout=60_000)
    # MathJax typesets asynchronously: wait until no display delimiter is left
    page.wait_for_function(
        "() => document.querySelectorAll('mjx-container').length > 0 && ![...document.querySelectorAll("
        "'.jp-MarkdownOutput')].some(e => e.innerText.includes('$$'))", timeout=60_000)
    text = "\n".join(page.locator(".jp-MarkdownOutput").all_inner_texts())
    leftovers = [m for m in MYST if m in text]
    assert not leftovers, f"raw MyST in the rendered Markdown: {leftovers}"
    assert "$$" not in text
    details = page.locator(".jp-MarkdownOutput details")
    assert details.count() >= 1, "the exercise answers must be <details> elements"
    for i in range(details.count()):
        d = details.nth(i)
        d.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_function("e => e.getBoundingClientRect().height > 0", arg=d.element_handle())
        assert d.get_attribute("open") is None, f"answer {i + 1} is open"
        assert d.locator("summary").inner_text().strip() == "答案"
        hidden = d.evaluate("e => [...e.children].filter(c => c.tagName !== 'SUMMARY')"
                            ".every(c => !c.checkVisibility())")
        assert hidden, f"the content of answer {i + 1} is visible while folded"
    d = details.first
    d.evaluate("e => e.scrollIntoView({block: 'center'})")
    if os.environ.get("SEQCOURSE_LAB_SHOTS"):
        page.screenshot(path=f"{os.environ['SEQCOURSE_LAB_SHOTS']}/{chapter}-folded.png")
    d.locator("summary").click()
    assert d.get_attribute("open") is not None
    assert d.evaluate("e => [...e.children].filter(c => c.tagName !== 'SUMMARY')"
                      ".some(c => c.checkVisibility())"), "the unfolded answer is not shown"
    if os.environ.get("SEQCOURSE_LAB_SHOTS"):
        page.screenshot(path=f"{os.environ['SEQCOURSE_LAB_SHOTS']}/{chapter}-open.png")
    page.close()


def test_altair_chart_renders_natively_offline(browser, lab):
    page, remote = _open(browser, lab, "chart_demo.ipynb")
    page.wait_for_selector(".jp-OutputArea-output .vega-embed svg", timeout=60_000)
    assert page.locator(".vega-embed svg .mark-line path").count() >= 1, "the line was not drawn"
    assert page.locator(".vega-bindings input[type=range]").count() == 1, "the slider is missing"
    assert not remote, f"JupyterLab requested remote resources: {remote}"
    page.close()
