"""The course hub end to end in a real browser (issue 8): release, fetch, type, validate, submit, grade.

The test starts its own hub (``hub/jupyterhub_config.py`` through ``hub/demo.py``) on free ports of 127.0.0.1
with a fresh state folder, drives Debian chromium through Playwright as the instructor and two students,
and stops every process (hub, proxy, the users' servers and kernels) afterwards, also when a step fails.
It needs root (one OS account per hub user, as nbgrader requires). Screenshots: ``test-artifacts/hub/``.
"""

from __future__ import annotations

import html
import json
import os
import pwd
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import nbformat
import pytest
import yaml
from hub_demo import demo
from seqcourse_site.deployment import deployment_urls  # the book's Sphinx extension (conftest: book/_ext)

from seqcourse.grading.release import secret_lines

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "a02_bptt"
SHOTS = ROOT / "test-artifacts" / "hub"
STUDENTS = ("student1", "student2")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def hub() -> Iterator[dict]:
    if os.geteuid() != 0:
        pytest.skip("the course hub needs root: one OS account per hub user (run make test as root)")
    state = Path(tempfile.mkdtemp(prefix="seqcourse-hub-test-"))
    proc = None
    try:
        passwords = demo.setup(state, [ASSIGNMENT])
        port = _free_port()
        proc = demo.launch(state, "127.0.0.1", port, _free_port(), _free_port())
        url = f"http://127.0.0.1:{port}"
        demo.wait_until_up(url, proc)
        yield {"url": url, "state": state, "passwords": passwords}
    finally:
        try:
            demo.stop(state, proc)
        finally:
            shutil.rmtree(state, ignore_errors=True)


# --- browser helpers ----------------------------------------------------------------------------------------
def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _login(browser, hub: dict, user: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(f"{hub['url']}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub["passwords"][user])
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=150_000)  # includes spawning the server
    page.wait_for_selector(".jp-LabShell")
    return context, page


def _open_assignment_list(page):
    page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
    page.click(".lm-Menu-itemLabel:text-is('Assignment List')")
    page.wait_for_selector("#released_assignments_list")


def _row(page, list_id: str, name: str):
    return page.locator(f"#{list_id} .list_item").filter(has_text=name)


def _click_in_list(page, list_id: str, button: str, then_list: str) -> None:
    """Click ``button`` on the assignment's row in ``list_id``; wait for it to appear in ``then_list``."""
    page.click("#refresh_assignments_list")
    row = _row(page, list_id, ASSIGNMENT)
    row.locator(f"button:text-is('{button}')").first.click()
    _row(page, then_list, ASSIGNMENT).first.wait_for()


def _solution_cells() -> dict[str, str]:
    """``{grade_id: text}`` of every answer cell of the source (code and written), minus the markers."""
    answers = {}
    for path in sorted((ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution"):
                lines = "".join(cell["source"]).splitlines()
                answers[meta["grade_id"]] = "\n".join(x for x in lines if x.strip() not in SOLUTION_MARKERS)
    return answers


def _type_into_cell(page, index: int, code: str) -> None:
    """Replace the content of cell ``index`` through the notebook editor, as a student types it."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    if "jp-MarkdownCell" in (cell.get_attribute("class") or ""):
        cell.dblclick()  # a rendered markdown cell opens its editor on double click
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    # insert_text types the whole block as one text input (no per-key auto-indent / bracket closing)
    page.keyboard.insert_text(code)
    page.wait_for_function(
        "([el, n]) => el.innerText.replace(/\\u200b/g, '').trim().split('\\n').length >= n",
        arg=[editor.element_handle(), len(code.strip().splitlines())],
    )


def _status(page, path: str) -> int:
    """HTTP status of ``path`` for the page's logged-in user, after following the hub's OAuth redirects."""
    return page.request.get(page.url.split("/user/")[0] + path).status


def _as_student_can_read(hub: dict, user: str, paths: dict[str, Path]) -> dict[str, str]:
    """Try to list/read each path as ``user`` (OS permissions); return ``{name: "ok" | error class}``."""
    probe = (
        "import json, os, sys\n"
        "out = {}\n"
        "for name, p in json.loads(sys.argv[1]).items():\n"
        "    try:\n"
        "        os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(1)\n"
        "        out[name] = 'ok'\n"
        "    except OSError as e:\n"
        "        out[name] = type(e).__name__\n"
        "print(json.dumps(out))\n"
    )
    python = demo.runtime_info(hub["state"])["python"]
    arg = json.dumps({k: str(v) for k, v in paths.items()})
    out = demo.run_as(hub["state"], user, [python, "-c", probe, arg], demo.home(hub["state"], user))
    return json.loads(out.strip().splitlines()[-1])


def _book_launch_link(hub_url: str, repo_url: str, page_path: str) -> str:
    """The JupyterHub launch link of a book page, built as sphinx-book-theme builds it from _config.yml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    branch = config["repository"].get("branch", "main")
    ui = "lab/tree" if config["launch_buttons"]["notebook_interface"] == "jupyterlab" else "tree"
    repo = repo_url.rstrip("/").removesuffix(".git").split("/")[-1]  # the folder nbgitpuller clones into
    params = urlencode({"repo": repo_url, "urlpath": f"{ui}/{repo}/{page_path}", "branch": branch}, safe="/")
    return f"{hub_url.rstrip('/')}/hub/user-redirect/git-pull?{params}"


# --- the test -----------------------------------------------------------------------------------------------
def test_release_fetch_submit_grade_feedback_in_the_browser(browser, hub):
    try:
        _flow(browser, hub)
    except BaseException:
        for i, context in enumerate(browser.contexts):  # what each user saw when it failed
            for j, page in enumerate(context.pages):
                _shot(page, f"failure-{i}-{j}")
        raise


def _flow(browser, hub: dict) -> None:
    state, course = hub["state"], demo.course_dir(hub["state"])
    started = time.monotonic()

    # 1. the instructor releases the assignment to the exchange (nbgrader as the instructor's OS account)
    demo.nbgrader_as(state, "instructor", "release_assignment", ASSIGNMENT, "--force")
    ins_ctx, ins = _login(browser, hub, "instructor")
    ins.goto(f"{hub['url']}/user/instructor/formgrader")
    ins.wait_for_selector(f"text={ASSIGNMENT}")
    _shot(ins, "1-instructor-released")
    outbound = state / "exchange" / demo.COURSE_ID / "outbound" / ASSIGNMENT
    assert sorted(p.name for p in outbound.glob("*.ipynb")), "nothing was released to the exchange"

    # 2. student1 fetches, types the solutions into the answer cells, validates and submits
    ctx1, s1 = _login(browser, hub, "student1")
    _open_assignment_list(s1)
    _click_in_list(s1, "released_assignments_list", "Fetch", "fetched_assignments_list")
    _shot(s1, "2a-student1-fetched")
    fetched = sorted((demo.home(state, "student1") / ASSIGNMENT).glob("*.ipynb"))
    assert fetched, "fetch did not put the notebook in student1's folder"
    answers = _solution_cells()
    assert answers, f"no autograded answer cells in solutions/{ASSIGNMENT}"
    for nb_path in fetched:
        cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
        ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells]
        s1.goto(f"{hub['url']}/user/student1/lab/tree/{ASSIGNMENT}/{nb_path.name}")
        s1.wait_for_selector(".jp-Notebook .jp-Cell")
        s1.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus", state="attached")
        for grade_id, code in answers.items():
            if grade_id in ids:
                _type_into_cell(s1, ids.index(grade_id), code)
        s1.keyboard.press("Control+s")
        s1.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')")
        _shot(s1, "2b-student1-typed")
        saved = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
        for grade_id, code in answers.items():
            if grade_id in ids:
                assert "".join(saved[ids.index(grade_id)]["source"]).strip() == code.strip(), grade_id
        s1.locator(".validate-button:visible").first.click()
        s1.wait_for_selector(".jp-Dialog", timeout=180_000)
        dialog = s1.locator(".jp-Dialog").inner_text()
        _shot(s1, "2c-student1-validated")
        assert "passes all the tests" in dialog, dialog
        s1.locator(".jp-Dialog button").last.click()
    _open_assignment_list(s1)
    _click_in_list(s1, "fetched_assignments_list", "Submit", "submitted_assignments_list")
    _shot(s1, "2d-student1-submitted")

    # 3. student2 fetches and submits the notebook unchanged
    ctx2, s2 = _login(browser, hub, "student2")
    _open_assignment_list(s2)
    _click_in_list(s2, "released_assignments_list", "Fetch", "fetched_assignments_list")
    _click_in_list(s2, "fetched_assignments_list", "Submit", "submitted_assignments_list")
    _shot(s2, "3-student2-submitted")

    # a student can reach neither formgrader, nor other users' servers, nor others' files
    assert _status(s2, "/user/student2/lab") == 200  # the probe itself works
    assert _status(s2, "/user/student2/formgrader") == 404  # no formgrader on a student's server
    assert _status(s2, "/user/instructor/formgrader") == 403  # nor through the instructor's
    assert _status(s2, "/user/student1/lab") == 403
    assert _status(s2, "/user/student1/api/contents") == 403
    inbound = state / "exchange" / demo.COURSE_ID / "inbound"
    owners = {pwd.getpwuid(p.stat().st_uid).pw_name for p in inbound.iterdir()}
    assert owners == set(STUDENTS), f"inbound submissions are owned by {owners}"
    sub1 = next(p for p in inbound.iterdir() if p.name.startswith("student1+"))

    # 4. the instructor collects, autogrades and generates and releases feedback
    for step in (
        ["collect"],
        ["autograde", "--force"],
        ["generate_feedback", "--force"],
        ["release_feedback"],
    ):
        demo.nbgrader_as(state, "instructor", step[0], ASSIGNMENT, *step[1:], timeout=600)
    from seqcourse.grading.course import scores

    grades = scores(course, ASSIGNMENT)
    ins.goto(f"{hub['url']}/user/instructor/formgrader/manage_students")
    ins.wait_for_selector("text=student1")
    _shot(ins, "4-instructor-gradebook")
    ins_ctx.close()

    denied = _as_student_can_read(
        hub,
        "student2",
        {
            "inbound listing": inbound,
            "student1 inbound submission": sub1 / fetched[0].name,
            "student1 collected submission": course / "submitted" / "student1" / ASSIGNMENT / fetched[0].name,
            "instructor course": course,
            "gradebook": course / "gradebook.db",
            "solutions": course / "solutions" / ASSIGNMENT,
            "student1 folder": demo.home(state, "student1"),
        },
    )
    # nbgrader's exchange makes submitted files world-readable (mode 644) inside inbound/, which is writable
    # but not listable (733), and each submission folder ends in a random string: a student who cannot list
    # inbound/ cannot find another's submission. So the listing must fail; the file itself is not asserted.
    leaked = {k: v for k, v in denied.items() if v == "ok" and k != "student1 inbound submission"}
    assert not leaked, f"student2 could read {leaked}"

    # 5. both students fetch their feedback
    feedback_text = {}
    for user, page in (("student1", s1), ("student2", s2)):
        _open_assignment_list(page)
        page.click("#refresh_assignments_list")
        _row(page, "submitted_assignments_list", ASSIGNMENT).locator(
            "button:text-is('Fetch Feedback')"
        ).first.click()
        files = _wait_for_files(demo.home(state, user) / ASSIGNMENT / "feedback", "*.html")
        assert files, f"no feedback for {user}"
        rel = files[0].relative_to(demo.home(state, user))
        page.goto(f"{hub['url']}/user/{user}/files/{rel}")
        page.wait_for_selector("body")
        feedback_text[user] = page.locator("body").inner_text()
        _shot(page, f"5-{user}-feedback")

    ids = set(grades)
    assert ids == set(STUDENTS), f"gradebook student ids {ids}"
    g1, g2 = grades["student1"], grades["student2"]
    assert g1["autograded_max"] > 0
    assert g1["autograded_score"] == g1["autograded_max"], g1["cells"]
    assert g2["autograded_score"] == 0, g2["cells"]
    hidden = _hidden_test_lines()
    for user, text in feedback_text.items():
        assert "BEGIN HIDDEN TESTS" not in text
        shown = [line for line in hidden if line in text]
        assert not shown, f"{user}'s feedback shows hidden test code: {shown[:3]}"

    # 6. a launch link built like the book's opens the pilot chapter for a logged-in student
    _check_the_built_book_has_the_same_link()
    link = _book_launch_link(hub["url"], f"file://{demo.public_repo(state)}", "book/rnn_basics.ipynb")
    s1.goto(link)
    s1.wait_for_url("**/lab/tree/seqcourse/book/rnn_basics.ipynb", timeout=120_000)
    chapter = s1.locator(".jp-Notebook:visible")  # the a02 notebook stays open in a hidden tab
    chapter.locator(".jp-Cell").first.wait_for()
    chapter.locator(".jp-RenderedMarkdown h1", has_text="循环神经网络基础").first.wait_for()
    _shot(s1, "6-student1-nbgitpuller-chapter")
    pulled = demo.home(state, "student1") / "seqcourse" / "book" / "rnn_basics.ipynb"
    assert pulled.is_file() and pwd.getpwuid(pulled.stat().st_uid).pw_name == "student1"
    ctx1.close()
    ctx2.close()
    print(f"hub end-to-end steps took {time.monotonic() - started:.0f} s")


def _check_the_built_book_has_the_same_link() -> None:
    """When the book is built (make test builds it first), its chapter page carries exactly our link.

    A build older than ``_config.yml`` (e.g. under ``make unit``) says nothing about the current config. With
    no public repository configured (``SEQCOURSE_REPOSITORY_URL``), the book must have no hub link at all.
    """
    built = ROOT / "_build" / "html" / "book" / "rnn_basics.html"
    if not built.is_file() or built.stat().st_mtime < (ROOT / "_config.yml").stat().st_mtime:
        return
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repository, hub = deployment_urls(config["repository"]["url"], config["launch_buttons"]["jupyterhub_url"])
    found = re.findall(r'href="([^"]*/hub/user-redirect/git-pull[^"]*)"', built.read_text(encoding="utf-8"))
    hrefs = [html.unescape(h) for h in found]
    if not (repository and hub):
        assert not hrefs, f"no repository or hub is configured, yet the book links to {hrefs}"
        return
    expected = _book_launch_link(hub, repository, "book/rnn_basics.ipynb")
    assert expected in hrefs, f"the book's JupyterHub link differs: {hrefs} vs {expected}"


def _wait_for_files(folder: Path, pattern: str, timeout: float = 60) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(folder.rglob(pattern)) if folder.is_dir() else []
        if files:
            return files
        time.sleep(0.5)
    return []


def _hidden_test_lines() -> list[str]:
    """Distinctive code lines that only exist inside the source's hidden-test blocks."""
    lines = []
    for path in (ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"):
        hidden = secret_lines(nbformat.read(path, as_version=4), regions=("HIDDEN TESTS",))
        lines += sorted(x for x in hidden if len(x) > 25)
    return lines
