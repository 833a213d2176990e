"""The demo hub's life cycle (``make hub`` / ``make hub-stop``): every run starts clean, stop leaves nothing.

Runs ``hub/demo.py``'s setup and stop for real (root: it creates OS accounts), without starting the hub
itself; the browser test (``test_hub_e2e.py``) covers the running hub.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_demo import demo

from seqcourse.grading.sandbox import SLOT_USER_PREFIX

pytestmark = pytest.mark.slow

ASSIGNMENT = "a00_warmup"


def _accounts() -> dict[str, pwd.struct_passwd]:
    found = {}
    for user in demo.USERS:
        try:
            found[user] = pwd.getpwnam(user)
        except KeyError:
            pass
    return found


def _slot(name: str) -> bool:
    return name.startswith(SLOT_USER_PREFIX)


def _machine_snapshot() -> dict:
    """What stop must leave exactly as it found it: other accounts, groups and home folders (the grader's
    slot users aside: a grading test running at the same time, under pytest-xdist, may add one)."""
    return {
        "users": sorted(
            e.pw_name for e in pwd.getpwall() if e.pw_name not in demo.USERS and not _slot(e.pw_name)
        ),
        "groups": sorted(
            g.gr_name for g in grp.getgrall() if g.gr_name != demo.INSTRUCTORS_GROUP and not _slot(g.gr_name)
        ),
        "home": sorted(os.listdir("/home")) if os.path.isdir("/home") else [],
    }


@pytest.fixture(scope="module")
def state() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("the demo hub needs root: one OS account per hub user (run make test as root)")
    folder = Path(tempfile.mkdtemp(prefix="seqcourse-hub-life-"))
    try:
        yield folder
    finally:
        demo.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


def test_setup_starts_clean_releases_and_stop_removes_everything(state: Path) -> None:
    before = _machine_snapshot()
    group_existed = any(g.gr_name == demo.INSTRUCTORS_GROUP for g in grp.getgrall())

    demo.setup(state, [ASSIGNMENT])
    accounts = _accounts()
    assert set(accounts) == set(demo.USERS)
    for user, entry in accounts.items():
        assert entry.pw_dir == str(state / "home" / user), f"{user}: home {entry.pw_dir} is outside the state"
        assert Path(entry.pw_dir).stat().st_uid == entry.pw_uid
    outbound = state / "exchange" / demo.COURSE_ID / "outbound" / ASSIGNMENT
    assert sorted(p.name for p in outbound.glob("*.ipynb")) == [f"{ASSIGNMENT}.ipynb"], "not released"
    for role in ("instructor", "student"):
        page = json.loads((state / "jupyter" / role / "labconfig" / "page_config.json").read_text())
        assert page["disabledExtensions"].get("@jupyterlab/apputils-extension:announcements") is True, role

    # what an earlier run left in a user's home (nbgrader's submission cache, settings) must not survive
    cache = state / "home" / "student1" / ".local" / "share" / "jupyter" / "nbgrader_cache" / "old.ipynb"
    cache.parent.mkdir(parents=True)
    cache.write_text("{}")
    demo.setup(state, [ASSIGNMENT])
    assert not cache.exists(), "a second setup kept the first run's files"
    assert (state / "exchange" / demo.COURSE_ID / "outbound" / ASSIGNMENT).is_dir()

    demo.stop(state)
    assert _accounts() == {}, "stop left demo accounts behind"
    assert not state.exists(), "stop left the state folder behind"
    group_now = any(g.gr_name == demo.INSTRUCTORS_GROUP for g in grp.getgrall())
    assert group_now == group_existed, "stop removed a group it did not create, or kept one it did"
    assert _machine_snapshot() == before, "setup/stop changed accounts, groups or homes not the demo's"


def test_setup_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    with pytest.raises(SystemExit, match="not made by hub/demo.py"):
        demo.setup(tmp_path, [ASSIGNMENT])
    assert precious.read_text() == "keep me"
    demo.stop(tmp_path)  # no marker: stop must not delete anything here
    assert precious.read_text() == "keep me"
