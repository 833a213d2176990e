"""The demo course hub: set it up, start it, stop it, and run nbgrader as one of its users (run as root).

    python hub/demo.py setup  [--dir D] [--assignment a00_warmup ...]
    python hub/demo.py start  [--dir D] [--ip 127.0.0.1] [--port 8100]   (setup, then start in the background)
    python hub/demo.py stop   [--dir D]

``make hub`` / ``make hub-stop`` call ``start`` / ``stop``. Everything lives under one state folder ``D``
(default ``/tmp/seqcourse-hub``, mode 0755, owned by root)::

    D/runtime/venv/          hard-linked copy of the course's .venv (+ python/ when its base interpreter is
                             private, e.g. under /root; src/ holds the package source)
    D/jupyter/<role>/        read-only Jupyter config of each role (nbgrader, server extensions, lab plugins)
    D/exchange/              the nbgrader exchange: root-owned, 1777 (nbgrader makes inbound/ 733 under it)
    D/home/<user>/           each user's notebook folder (0700, owned by the user)
    D/home/instructor/course/  the instructor's nbgrader course: solutions/, assignments/, gradebook.db
    D/public/seqcourse/      a bare git repository of the public files (book/, assignments/) for nbgitpuller
    D/hub/                   the hub's private state (root, 0700): database, cookie secret, logs, logins.txt

Every run starts clean: ``setup`` wipes ``D`` and points each demo account's home at ``D/home/<user>``
(so nbgrader's per-user cache, Jupyter settings and files never outlive the run), then releases every
assignment. ``stop`` removes everything ``setup`` created and nothing else: the processes of the demo
accounts, the accounts themselves (only those marked with ``GECOS``), the ``instructors`` group when setup
created it, the runtime copy and ``D``.

Why copies: nbgrader tells students apart by their OS user name, so every hub user runs as their own OS
account; those accounts must run the course's Python and import seqcourse, but the checkout itself may be
private (CI clones into a 0700 ``mktemp -d`` folder) and holds solutions/ and hidden tests. So the users get a
world-readable copy of exactly what they need (hard links: seconds, no extra space) and the checkout's
permissions are left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = Path(os.environ.get("SEQCOURSE_HUB_DIR", "/tmp/seqcourse-hub"))
COURSE_ID = "seqcourse"
#: Demo accounts and their role; the role picks the Jupyter configuration (see ``write_role_configs``).
USERS = {"instructor": "instructor", "student1": "student", "student2": "student"}
INSTRUCTORS_GROUP = "instructors"
GECOS = "seqcourse demo user"  # marks accounts this script created; others are never touched
#: nbgrader lab plugins a student must not get (the assignment list and Validate stay).
STUDENT_DISABLED_PLUGINS = [
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
]
#: JupyterLab plugins nobody in the course needs: the "official Jupyter news" pop-up asks on first start.
DISABLED_PLUGINS = ["@jupyterlab/apputils-extension:announcements"]
STUDENT_DISABLED_SERVER_EXTENSIONS = [
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
]


def log(msg: str) -> None:
    print(f"[hub] {msg}", flush=True)


# --- paths --------------------------------------------------------------------------------------------------
def home(state: Path, user: str) -> Path:
    return state / "home" / user


def course_dir(state: Path) -> Path:
    return home(state, "instructor") / "course"


def public_repo(state: Path) -> Path:
    return state / "public" / "seqcourse"


def runtime_info(state: Path) -> dict:
    """``{"python": ..., "ld_library_path": ...}`` written by :func:`build_runtime`."""
    return json.loads((state / "runtime.json").read_text(encoding="utf-8"))


# --- permissions helpers ------------------------------------------------------------------------------------
def others_can_reach(path: Path) -> bool:
    """Whether a user with no special rights can traverse every folder up to ``path`` and read it."""
    path = path.resolve()
    for folder in [*reversed(path.parents), path] if path.is_dir() else reversed(path.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IROTH)


STATE_MARKER = ".seqcourse-hub"


def _fresh_state_dir(state: Path) -> None:
    """Empty ``state`` (only if a previous setup made it, or it is empty); make it reachable by the users."""
    if state.exists() and any(state.iterdir()):
        if not (state / STATE_MARKER).exists():
            raise SystemExit(f"{state} is not empty and was not made by hub/demo.py; pick another --dir")
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)
    (state / STATE_MARKER).write_text("made by hub/demo.py (stop removes it)\n", encoding="utf-8")
    os.chown(state, 0, 0)
    state.chmod(0o755)
    if not others_can_reach(state):
        raise SystemExit(f"{state}: the hub users cannot reach this folder (a parent is not o+x); pick --dir")


def _chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, pw.pw_uid, pw.pw_gid)


# --- accounts -----------------------------------------------------------------------------------------------
def _demo_accounts() -> list[pwd.struct_passwd]:
    """The demo accounts that exist on this machine and were created by this script."""
    found = []
    for user in USERS:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            continue
        if entry.pw_gecos.split(",")[0] == GECOS:
            found.append(entry)
    return found


def ensure_users(state: Path) -> dict[str, str]:
    """Create the demo accounts, homed in ``state/home``, with fresh random passwords; return the logins.

    An existing account is reused only when this script created it (its comment field is ``GECOS``) and no
    other running demo hub uses it; its home directory is moved to this state folder.
    """
    import grp

    try:
        grp.getgrnam(INSTRUCTORS_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", INSTRUCTORS_GROUP], check=True)
        (state / "hub" / "created-group").write_text(INSTRUCTORS_GROUP, encoding="utf-8")
    for user, role in USERS.items():
        target = str(home(state, user))
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            cmd = ["useradd", "--no-create-home", "--home-dir", target, "--shell", "/bin/bash"]
            subprocess.run([*cmd, "--comment", GECOS, user], check=True)
            entry = pwd.getpwnam(user)
        if entry.pw_gecos.split(",")[0] != GECOS:
            raise SystemExit(f"account {user!r} exists and was not created by the demo; refusing to touch it")
        other = Path(entry.pw_dir).parent.parent
        if entry.pw_dir != target and (other / "hub" / "hub.pid").exists():
            raise SystemExit(f"the demo hub in {other} uses the demo accounts: stop it first (make hub-stop)")
        if entry.pw_dir != target:
            subprocess.run(["usermod", "--home", target, user], check=True)
        if role == "instructor":
            subprocess.run(["usermod", "--append", "--groups", INSTRUCTORS_GROUP, user], check=True)
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    lines = "".join(f"{u}:{p}\n" for u, p in passwords.items())
    subprocess.run(["chpasswd"], input=lines, text=True, check=True)
    logins = state / "hub" / "logins.txt"
    logins.write_text(lines, encoding="utf-8")
    logins.chmod(0o600)
    return passwords


def remove_users(state: Path) -> list[str]:
    """Delete the demo accounts homed in ``state`` (and the group setup created); return the names removed."""
    removed = []
    for entry in _demo_accounts():
        if not entry.pw_dir.startswith(f"{state}/"):
            continue  # homed in another demo's state folder: that demo's stop removes it
        subprocess.run(["pkill", "--signal", "KILL", "--uid", str(entry.pw_uid)], check=False)
        for _ in range(50):  # userdel refuses while a process of the account is still alive
            if subprocess.run(["userdel", entry.pw_name], capture_output=True).returncode == 0:
                removed.append(entry.pw_name)
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"could not delete the demo account {entry.pw_name!r}")
    marker = state / "hub" / "created-group"
    if marker.exists():
        subprocess.run(["groupdel", marker.read_text(encoding="utf-8").strip()], check=False)
    return removed


# --- the users' Python: a world-readable copy of the course environment -------------------------------------
def _link_copy(src: Path, dest: Path) -> None:
    """Copy a tree with hard links (same file system) or plain copies; the originals are never modified."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["cp", "-al", str(src), str(dest)], capture_output=True).returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(["cp", "-a", str(src), str(dest)], check=True)


def _replace(path: Path, text: str) -> None:
    """Write a new file in place of ``path`` (unlink first: ``path`` may be a hard link to the original)."""
    path.unlink(missing_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)


def build_runtime(state: Path) -> dict:
    """Copy the course's environment to ``state/runtime`` where every hub user can run it; describe it.

    Hard links make the copy take seconds (more on a loaded machine); the package source is copied as files.
    """
    runtime = state / "runtime"
    runtime.mkdir(mode=0o755)
    info = _copy_environment(runtime)
    _copy_package(runtime, Path(info["site"]))
    _replace(state / "runtime.json", json.dumps(info, indent=2))
    return info


def _copy_environment(runtime: Path) -> dict:
    venv = Path(sys.prefix).resolve()  # a symlinked .venv must be copied, never written through
    base = Path(sys.base_prefix)
    if venv == base:
        raise SystemExit("run hub/demo.py with the course's virtual environment (.venv/bin/python)")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base_exe = Path(sys._base_executable).resolve()
    ld_path = ""
    if not (others_can_reach(base_exe) and os.access(base_exe, os.X_OK)):
        log(f"the base interpreter {base_exe} is private: copying {base}")
        _link_copy(base, runtime / "python")
        base_exe = runtime / "python" / base_exe.relative_to(base)
        ld_path = str(runtime / "python" / "lib")  # its RUNPATH names the private original
    log(f"copying {venv} (hard links)")
    _link_copy(venv, runtime / "venv")
    copy = runtime / "venv"
    (copy / "bin" / "python").unlink()
    (copy / "bin" / "python").symlink_to(base_exe)
    for alias in ("python3", version):
        (copy / "bin" / alias).unlink(missing_ok=True)
        (copy / "bin" / alias).symlink_to("python")
    _replace(copy / "pyvenv.cfg", f"home = {base_exe.parent}\ninclude-system-site-packages = false\n")
    # console scripts (alembic, jupyter, nbgrader...) name the original interpreter in their shebang
    for script in (copy / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        head = script.read_bytes()[:512]
        if head.startswith(b"#!") and str(venv).encode() in head:
            text = script.read_text(encoding="utf-8").replace(str(venv), str(copy))
            _replace(script, text)
            script.chmod(0o755)
    site = Path(sysconfig.get_paths(vars={"base": str(copy), "platbase": str(copy)})["purelib"])
    for leftover in site.glob("__editable__*seqcourse*"):  # the editable install points into the checkout
        leftover.unlink()
    bin_dir = copy / "bin"
    return {
        "python": str(bin_dir / "python"),
        "bin": str(bin_dir),
        "site": str(site),
        "ld_library_path": ld_path,
    }


def _copy_package(runtime: Path, site: Path) -> None:
    """A world-readable copy of the seqcourse package, importable from the runtime's interpreter."""
    src = runtime / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "seqcourse", src / "seqcourse", ignore=ignore, copy_function=shutil.copyfile)
    for folder, _dirs, files in os.walk(src):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    _replace(site / "seqcourse-hub.pth", f"{src}\n")


def user_environment(state: Path, user: str) -> dict[str, str]:
    """Environment of a user's single-user server and of nbgrader commands run as that user."""
    info = runtime_info(state)
    env = {
        "PATH": f"{info['bin']}:/usr/local/bin:/usr/bin:/bin",
        "JUPYTER_CONFIG_PATH": str(state / "jupyter" / USERS.get(user, "student")),
        "PYTHONIOENCODING": "utf-8",
        "SEQCOURSE_NOTEBOOK_DIR": str(home(state, user)),
        # git refuses repositories owned by someone else unless they are listed as safe (nbgitpuller's
        # clone of the root-owned public repository); env-var config is dropped by the local transport
        "GIT_CONFIG_SYSTEM": str(state / "jupyter" / "gitconfig"),
    }
    if info["ld_library_path"]:
        env["LD_LIBRARY_PATH"] = info["ld_library_path"]
    return env


# --- Jupyter configuration of each role ---------------------------------------------------------------------
def write_role_configs(state: Path) -> None:
    course_config = (REPO / "nbgrader_config.py").read_text(encoding="utf-8")
    common = (
        f"\n# --- added by hub/demo.py for the course hub ---\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(state / 'exchange')!r}\n"
        "# fetch into the notebook folder (the spawner sets it), not into the process's working directory\n"
        "import os  # noqa: E402\n"
        "c.Exchange.assignment_dir = os.environ.get('SEQCOURSE_NOTEBOOK_DIR', '.')\n"
    )
    gitconfig = state / "jupyter" / "gitconfig"
    gitconfig.parent.mkdir(parents=True, exist_ok=True)
    gitconfig.write_text(f"[safe]\n\tdirectory = {public_repo(state)}\n", encoding="utf-8")
    gitconfig.chmod(0o644)
    for role in ("instructor", "student"):
        folder = state / "jupyter" / role
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "labconfig").mkdir(parents=True)
        if role == "instructor":
            nbgrader = (
                course_config
                + common
                + f"c.CourseDirectory.root = {str(course_dir(state))!r}\n"
            )
            page = {"disabledExtensions": dict.fromkeys(DISABLED_PLUGINS, True)}
            server = {}
        else:
            nbgrader = "c = get_config()  # noqa: F821\n" + common
            page = {"disabledExtensions": dict.fromkeys(DISABLED_PLUGINS + STUDENT_DISABLED_PLUGINS, True)}
            server = {
                "ServerApp": {"jpserver_extensions": dict.fromkeys(STUDENT_DISABLED_SERVER_EXTENSIONS, False)}
            }
        (folder / "nbgrader_config.py").write_text(nbgrader, encoding="utf-8")
        (folder / "labconfig" / "page_config.json").write_text(json.dumps(page, indent=2), encoding="utf-8")
        (folder / "jupyter_server_config.json").write_text(json.dumps(server, indent=2), encoding="utf-8")
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


# --- homes, the course, the exchange, the public repository -------------------------------------------------
def run_as(state: Path, user: str, args: list[str], cwd: Path, timeout: float = 600) -> str:
    """Run ``args`` as ``user`` with the hub's environment for that user; return stdout (raise on failure)."""
    pw = pwd.getpwnam(user)
    env = {**user_environment(state, user), "HOME": pw.pw_dir, "USER": user, "LOGNAME": user}
    cmd = ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} as {user} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout + proc.stderr


def nbgrader_as(state: Path, user: str, *args: str, timeout: float = 600) -> str:
    """``nbgrader ARGS`` as ``user`` (the instructor: from the course directory)."""
    cwd = course_dir(state) if USERS.get(user) == "instructor" else home(state, user)
    python = runtime_info(state)["python"]
    return run_as(state, user, [python, "-m", "nbgrader", *args], cwd, timeout=timeout)


def make_homes(state: Path) -> None:
    for user in USERS:
        folder = home(state, user)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        _chown_tree(folder, user)
        folder.chmod(0o700)
    (state / "home").chmod(0o755)


def make_exchange(state: Path) -> None:
    exchange = state / "exchange"
    if exchange.exists():
        shutil.rmtree(exchange)
    exchange.mkdir()
    os.chown(exchange, 0, 0)
    exchange.chmod(0o1777)  # like /tmp: anyone may create, nobody may remove others' entries


def make_course(state: Path, assignments: list[str]) -> Path:
    """The instructor's course folder, with ``assignments`` generated by nbgrader as the instructor."""
    course = course_dir(state)
    course.mkdir()
    shutil.copyfile(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    for sub in ("solutions", "assignments"):
        for name in assignments:
            ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")
            shutil.copytree(
                REPO / sub / name, course / sub / name, ignore=ignore, copy_function=shutil.copyfile
            )
    _chown_tree(course, "instructor")
    course.chmod(0o700)
    for name in assignments:  # records the assignment in the gradebook (needed to autograde it later)
        nbgrader_as(state, "instructor", "generate_assignment", name, "--force")
    return course


def make_public_repo(state: Path) -> Path:
    """A bare git repository holding only what is public (the book and the released assignments)."""
    bare = public_repo(state)
    if bare.exists():
        shutil.rmtree(bare)
    bare.parent.mkdir(parents=True, exist_ok=True)
    git = [
        "git",
        "-c",
        "user.name=seqcourse hub",
        "-c",
        "user.email=hub@localhost",
        "-c",
        "init.defaultBranch=main",
    ]
    with tempfile.TemporaryDirectory(prefix="seqcourse-public-") as tmp:
        work = Path(tmp) / "seqcourse"
        ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "_build")
        for sub in ("book", "assignments"):
            shutil.copytree(REPO / sub, work / sub, ignore=ignore)
        for name in ("_config.yml", "_toc.yml"):
            shutil.copyfile(REPO / name, work / name)
        subprocess.run([*git, "init", "-q", str(work)], check=True)
        subprocess.run([*git, "-C", str(work), "add", "."], check=True)
        subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "public course files"], check=True)
        subprocess.run([*git, "clone", "-q", "--bare", str(work), str(bare)], check=True)
    for folder, _dirs, files in os.walk(bare):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return bare


def released_assignments() -> list[str]:
    return sorted(
        p.name
        for p in (REPO / "assignments").iterdir()
        if p.is_dir() and (REPO / "solutions" / p.name).is_dir()
    )


def release_all(state: Path, assignments: list[str]) -> None:
    """Release every assignment of the course, so students see them in the Assignments tab at once."""
    for name in assignments:
        nbgrader_as(state, "instructor", "release_assignment", name, "--force")


def setup(state: Path, assignments: list[str] | None = None) -> dict[str, str]:
    """Prepare a clean hub under ``state``; return the demo logins ``{user: password}``."""
    if os.geteuid() != 0:
        raise SystemExit("the course hub gives every user their own OS account: run this as root")
    state = state.resolve()
    if (state / "hub" / "hub.pid").exists():
        stop(state)
    group_marker = state / "hub" / "created-group"
    created_group = group_marker.read_text(encoding="utf-8") if group_marker.exists() else None
    _fresh_state_dir(state)
    (state / "hub").mkdir(mode=0o700)
    if created_group is not None:  # an earlier setup in this folder created the group: stop still removes it
        group_marker.write_text(created_group, encoding="utf-8")
    passwords = ensure_users(state)
    build_runtime(state)
    write_role_configs(state)
    make_homes(state)
    make_exchange(state)
    names = assignments if assignments is not None else released_assignments()
    make_course(state, names)
    release_all(state, names)
    make_public_repo(state)
    return passwords


# --- start / stop -------------------------------------------------------------------------------------------
def hub_environment(state: Path, ip: str, port: int, hub_port: int, api_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "SEQCOURSE_HUB_DIR": str(state),
        "SEQCOURSE_HUB_IP": ip,
        "SEQCOURSE_HUB_PORT": str(port),
        "SEQCOURSE_HUB_API_PORT": str(hub_port),
        "SEQCOURSE_PROXY_API_PORT": str(api_port),
    }


def launch(state: Path, ip: str, port: int, hub_port: int, api_port: int) -> subprocess.Popen:
    """Start JupyterHub (and through it the proxy) in its own process group; log to ``state/hub/hub.log``."""
    hub_dir = state / "hub"
    logfile = open(hub_dir / "hub.log", "ab")
    cmd = [sys.executable, "-m", "jupyterhub", "-f", str(REPO / "hub" / "jupyterhub_config.py")]
    env = hub_environment(state, ip, port, hub_port, api_port)
    proc = subprocess.Popen(
        cmd, cwd=hub_dir, env=env, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
    )
    (hub_dir / "hub.pid").write_text(str(proc.pid), encoding="utf-8")
    return proc


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"jupyterhub exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/hub/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the hub did not answer at {url} within {timeout} s")


def _pids_of(state: Path) -> list[int]:
    """Processes of the demo users whose command line names this state folder (their servers, kernels)."""
    uids = set()
    for user in USERS:
        try:
            uids.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            pass
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid in uids and str(state) in (entry / "environ").read_bytes().decode(
                errors="replace"
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def stop(state: Path, proc: subprocess.Popen | None = None, timeout: float = 20) -> None:
    """Stop the hub (it stops the proxy and the users' servers), then any leftover process of its users."""
    pidfile = state / "hub" / "hub.pid"
    pid = proc.pid if proc is not None else int(pidfile.read_text()) if pidfile.exists() else None
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            if proc is not None and proc.poll() is not None:
                pass
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        if proc is not None:
            proc.wait(timeout=5)
        pidfile.unlink(missing_ok=True)
    for leftover in _pids_of(state):
        try:
            os.kill(leftover, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if (state / STATE_MARKER).exists():
        remove_users(state)
        shutil.rmtree(state)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hub/demo.py", description="the seqcourse demo hub")
    p.add_argument("command", choices=["setup", "start", "stop"])
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state folder (default %(default)s)")
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--assignment", action="append", help="assignments to put in the course (default: all)")
    args = p.parse_args(argv)
    state = args.dir.resolve()
    if args.command == "stop":
        stop(state)
        log("stopped")
        return 0
    passwords = setup(state, args.assignment)
    if args.command == "setup":
        return 0
    proc = launch(state, args.ip, args.port, args.port + 1, args.port + 2)
    url = f"http://{args.ip}:{args.port}"
    wait_until_up(url, proc)
    print(next_steps(url, state, passwords), flush=True)
    return 0


def next_steps(url: str, state: Path, passwords: dict[str, str]) -> str:
    """What to do once the hub is up (printed by ``make hub``)."""
    logins = "\n".join(f"    {USERS[u]:10s} {u:10s} password {p}" for u, p in passwords.items())
    return f"""
The course hub is running at {url}  (log: {state / 'hub' / 'hub.log'})
Every assignment is released. Log in with one of these accounts (also in {state / 'hub' / 'logins.txt'}):
{logins}

  As a student:    open {url}, log in as student1, then in JupyterLab choose Nbgrader > Assignments,
                   Fetch an assignment, work on it, Validate, Submit.
  As the instructor: log in as instructor, choose Nbgrader > Formgrader to collect, grade, give feedback.
  Stop everything:  make hub-stop  (removes the demo accounts, their files and the state folder)
"""


if __name__ == "__main__":
    sys.exit(main())
