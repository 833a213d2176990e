"""Launch buttons and install lines follow the two deployment settings, read at build time.

``SEQCOURSE_REPOSITORY_URL`` (the public student edition) and ``SEQCOURSE_HUB_URL`` (the course hub) are
given to real Jupyter Book builds of the intro and one chapter (not executed), and the hrefs of the built
pages are checked; unset, the build must emit no launch button at all and say so.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from bs4 import BeautifulSoup
from seqcourse_site.deployment import HUB_ENV, REPOSITORY_ENV, deployment_urls

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
REPO = "https://github.com/example-course/seqcourse-student"
HUB = "https://hub.example.edu"


def test_environment_wins_over_the_config_and_bad_values_are_refused(monkeypatch):
    monkeypatch.delenv(REPOSITORY_ENV, raising=False)
    monkeypatch.delenv(HUB_ENV, raising=False)
    assert deployment_urls("", "") == ("", "")
    assert deployment_urls(REPO + ".git", HUB + "/") == (REPO, HUB)
    monkeypatch.setenv(REPOSITORY_ENV, "https://github.com/other/repo")
    monkeypatch.setenv(HUB_ENV, "http://127.0.0.1:8100")
    assert deployment_urls(REPO, HUB) == ("https://github.com/other/repo", "http://127.0.0.1:8100")
    for bad in ("<repository url>", "github.com/a/b", "https://github.com/only-org", "file:///srv/course"):
        monkeypatch.setenv(REPOSITORY_ENV, bad)
        with pytest.raises(ValueError, match="github.com/<org>/<repo>"):
            deployment_urls()
    monkeypatch.setenv(REPOSITORY_ENV, REPO)
    monkeypatch.setenv(HUB_ENV, "hub.example.edu")
    with pytest.raises(ValueError, match="http"):
        deployment_urls()


def _build(tmp_path: Path, env: dict[str, str]) -> tuple[Path, str]:
    """Build the intro and rnn_basics (without executing) with ``env``; return the html folder and the log."""
    project = tmp_path / "book-project"
    (project / "book").mkdir(parents=True)
    for name in ("intro.md", "rnn_basics.ipynb", "references.bib"):
        shutil.copy(ROOT / "book" / name, project / "book" / name)
    (project / "book" / "_ext").symlink_to(ROOT / "book" / "_ext")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["execute"]["execute_notebooks"] = "off"
    config["sphinx"]["config"]["html_static_path"] = []
    (project / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    toc = {"format": "jb-book", "root": "book/intro", "chapters": [{"file": "book/rnn_basics"}]}
    (project / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if k not in (REPOSITORY_ENV, HUB_ENV)}
    done = subprocess.run(
        [str(JUPYTER_BOOK), "build", str(project)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return project / "_build" / "html", done.stdout + done.stderr


def _text(page: Path) -> str:
    return " ".join(BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").get_text().split())


def _launch_links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)]
    return [h for h in hrefs if "colab.research.google.com" in h or "git-pull" in h or "8100" in h]


@pytest.mark.book
def test_configured_build_links_colab_and_the_hub_to_the_student_edition(tmp_path):
    site, _ = _build(tmp_path, {REPOSITORY_ENV: REPO, HUB_ENV: HUB})
    links = _launch_links(site / "book" / "rnn_basics.html")
    colab = [h for h in links if "colab" in h]
    assert colab == [
        "https://colab.research.google.com/github/example-course/seqcourse-student/blob/main/book/rnn_basics.ipynb"
    ]
    hub = [urlparse(h) for h in links if "git-pull" in h]
    assert len(hub) == 1 and f"{hub[0].scheme}://{hub[0].netloc}" == HUB
    assert hub[0].path == "/hub/user-redirect/git-pull"
    assert parse_qs(hub[0].query) == {
        "repo": [REPO],
        "urlpath": ["lab/tree/seqcourse-student/book/rnn_basics.ipynb"],
        "branch": ["main"],
    }
    intro = _text(site / "book" / "intro.html")
    assert f'%pip install "seqcourse @ git+{REPO}.git"' in intro
    assert "<组织>" not in intro and "repository url" not in intro


@pytest.mark.book
def test_unconfigured_build_has_no_launch_buttons_and_says_so(tmp_path):
    site, log = _build(tmp_path, {})
    assert not _launch_links(site / "book" / "rnn_basics.html")
    assert "launch-buttons" not in (site / "book" / "rnn_basics.html").read_text(encoding="utf-8")
    assert f"no launch buttons (Colab, JupyterHub): {REPOSITORY_ENV}" in log
    intro = _text(site / "book" / "intro.html")
    assert "没有配置课程公开仓库" in intro and "repository url" not in intro
