"""Shared fixtures: repository paths and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# Tests train tiny models whose matmuls are far too small to profit from intra-op threads; one thread is
# faster for them and keeps results independent of the machine's core count.
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))  # the book's Sphinx extension, seqcourse_site, for its tests
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # tests run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def _github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def broken_links(markdown: Path) -> list[str]:
    """Relative links and images of ``markdown`` that name no file or, after '#', no heading of that file
    (what a reader on GitHub follows); links with a scheme (http:, mailto:) are not followed."""
    broken = []
    for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", markdown.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (markdown.parent / path).resolve() if path else markdown
        if not file.is_file():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), re.M)
            if anchor not in {_github_anchor(h) for h in headings}:
                broken.append(f"{target} (no such heading)")
    return broken


def chromium_path() -> str | None:
    """Debian's chromium (never a Playwright-downloaded browser)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    exe = chromium_path()
    if exe is None:
        pytest.skip("Debian chromium is not installed (make setup installs it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# --- the built site (make book), served on 127.0.0.1 for the browser tests --------------------------------
SITE_HTML = ROOT / "_build" / "html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="session")
def site_url() -> Iterator[str]:
    """The base URL of ``_build/html`` served on 127.0.0.1 (the test fails when the site was not built)."""
    if not (SITE_HTML / "index.html").is_file():
        pytest.fail("no built site in _build/html: run `make book` (make test does it first)")
    handler = functools.partial(_QuietHandler, directory=str(SITE_HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


# --- pytest-xdist: make test runs ``-n 2 --dist loadscope`` -----------------------------------------------
# Each test file stays on one worker (its module fixtures are built once), except the grader matrices, which
# share no fixture and are spread one assignment at a time; the two files that create the demo hub's OS
# accounts (instructor, student1, student2) share a worker, so they never run at the same time. A scheduler
# of our own, because xdist_group marks no longer reach the scheduler under pytest 9 (xdist 3.8 appends the
# group to ``item._nodeid``, which pytest 9 does not read back): every test became its own unit.
_SAME_WORKER = {"test_hub_e2e": "hub-accounts", "test_hub_lifecycle": "hub-accounts"}
_SPREAD = {"test_assignment_graders"}


def work_unit(nodeid: str) -> str:
    """The unit of work ``nodeid`` belongs to: its file, its own test in ``_SPREAD``, or a shared group."""
    path = nodeid.split("::", 1)[0]
    stem = Path(path).stem
    return nodeid if stem in _SPREAD else _SAME_WORKER.get(stem, path)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: only called when tests run with -n
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        """xdist's scope scheduling with :func:`work_unit` as the scope, units in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByWorkUnit(config, log)
