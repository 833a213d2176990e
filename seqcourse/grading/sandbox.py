"""Launch an untrusted Jupyter kernel inside limits: bubblewrap namespaces, cgroups, rlimits, another user.

The kernelspec used for grading starts the kernel through up to three stages (:func:`kernel_argv`)::

    python -I -c <stage> enter --ctl C [--cgroup N ...] --      (the grader's uid, the host's namespaces)
      bwrap --unshare-net --unshare-pid ... --ro-bind / / ...   (bubblewrap: namespaces and mounts)
        python -I -c <stage> drop --workdir W --ctl C [limits] --uid U --gid G --   (root in the sandbox)
          python -I -c <launch ipykernel> -f C/kernel.json       (the slot user: the student's code)

1. ``enter`` puts itself (and so everything below it) into fresh memory and pids cgroups (v1) that the
   engine kills as a whole at the end (:func:`kill_cgroup`), sends its output to ``C/kernel.log``, ignores
   SIGINT (the engine interrupts a cell by signalling the kernel's process group; bubblewrap's monitor must
   survive it, the kernel gets it) and execs bubblewrap.
2. bubblewrap (Debian ``bubblewrap``, :func:`bwrap_args`) gives new network (loopback only), pid, ipc and uts
   namespaces, the host's root read-only, a fresh ``/dev`` and ``/proc``, empty private tmpfs on ``/tmp``,
   ``/var/tmp``, ``/dev/shm`` and ``/run`` (host Unix sockets such as ``/var/run/postgresql`` disappear; any
   other filesystem socket is covered by ``/dev/null``), every path of :attr:`Limits.hide` covered (an
   empty unreadable tmpfs on a folder, ``/dev/null`` on a file), and only the kernel's working and control
   folders writable (bound at the same paths: the grader reaches the kernel's ipc sockets in ``C``).
   ``--new-session`` is not used: the kernel already runs in a session of its own without a controlling
   terminal (jupyter_client starts it with ``start_new_session``; stdin is ``/dev/null``), and a new session
   would put the kernel out of reach of the engine's interrupt.
3. ``drop`` sets the resource limits (address space, processes, open files, CPU seconds, file size), hands
   the connection file to the slot user, drops to that user for good, clears the environment, ``chdir`` s to
   the empty working folder and execs the kernel.

Without root, or without a working ``bwrap``, only ``drop`` runs (plus the cgroups when root): the kernel
shares the grader's namespaces and filesystem view, which :func:`isolation_plan` states and the engine
measures from ``/proc`` (:func:`kernel_process` finds the kernel below bubblewrap's processes).

Each parallel worker owns one *slot*, an unprivileged system user ``seqgrade<k>``, so a fork bomb or a
``kill(-1)`` in one student's kernel only reaches that student's processes; the worker kills every process
of its slot user after each notebook (:func:`kill_user_processes`).
"""

from __future__ import annotations

import argparse
import functools
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Limits",
    "SLOT_USER_PREFIX",
    "slot_user",
    "ensure_slot_users",
    "claim_slot",
    "kernel_argv",
    "bwrap_args",
    "isolation_plan",
    "kernel_process",
    "kernel_keep_paths",
    "kill_user_processes",
    "kill_cgroup",
    "cgroups_available",
    "make_base_dir",
    "sensitive_paths",
    "main",
]

SLOT_USER_PREFIX = "seqgrade"
_SAFE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
NAMESPACES = ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent")
FRESH_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run")  # empty private tmpfs in every sandbox
TMPFS_MB = 256  # size of each private temporary folder (its pages also count in the memory cgroup)
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class Limits:
    """Per-kernel limits. Wall times are enforced by the executor, the rest as rlimits in the wrapper."""

    cell_timeout_s: int = 60
    notebook_timeout_s: int = 600
    memory_mb: int = 4096  # RLIMIT_AS and the memory cgroup: generous because importing torch maps a lot
    nproc: int = 64  # RLIMIT_NPROC and the pids cgroup: processes + threads of the slot user
    nofile: int = 256  # RLIMIT_NOFILE
    cpu_s: int = 900  # RLIMIT_CPU per process
    fsize_mb: int = 64  # RLIMIT_FSIZE: largest file the kernel may write
    max_output_kb: int = 1024  # output kept per cell; the rest is dropped by the executor
    hide: tuple[str, ...] = field(default_factory=tuple)  # instructor paths to hide in the sandbox

    def __post_init__(self) -> None:
        for name in (
            "cell_timeout_s",
            "notebook_timeout_s",
            "memory_mb",
            "nproc",
            "nofile",
            "cpu_s",
            "fsize_mb",
            "max_output_kb",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")


def slot_user(slot: int) -> str:
    """Name of the unprivileged user of worker slot ``slot``."""
    return f"{SLOT_USER_PREFIX}{slot}"


def ensure_slot_users(n: int) -> list[tuple[int, int] | None]:
    """Return ``(uid, gid)`` of the slot users 0..n-1, creating them when running as root.

    When not root, returns ``None`` per slot: kernels then run as the grader's own user, which the
    sandbox report records.
    """
    if os.geteuid() != 0:
        return [None] * n
    return [_slot_ids(k) for k in range(n)]


def _slot_ids(slot: int) -> tuple[int, int]:
    """``(uid, gid)`` of one slot user, created if missing (tolerating a concurrent creation)."""
    name = slot_user(slot)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        cmd = ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent"]
        subprocess.run(
            [*cmd, "--shell", "/usr/sbin/nologin", "--user-group", name], capture_output=True, check=False
        )
        entry = pwd.getpwnam(name)  # created by us or by a concurrent grader; KeyError if neither
    return entry.pw_uid, entry.pw_gid


def claim_slot(first: int = 32, count: int = 64) -> tuple[int, tuple[int, int] | None, int]:
    """Claim a slot user for this process alone: ``(slot, ids or None, lock fd)``; keep the fd open.

    Concurrent graders (the workers of ``seqcourse-grade``, several ``nbgrader autograde`` runs, other runs on
    the machine) must never share a slot user: RLIMIT_NPROC and the clean-up by uid would reach each other's
    kernels. Slots start at 32, clear of older graders that used ``seqgrade0..N-1`` without a lock. An
    ``flock`` on ``/tmp/seqgrade-slot-<k>.lock`` marks the slot taken until the fd is closed (or the process
    dies).
    """
    import fcntl

    for slot in range(first, first + count):
        try:
            fd = os.open(f"/tmp/seqgrade-slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except PermissionError:  # another user's grader (e.g. root's) owns this slot's lock
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return slot, (_slot_ids(slot) if os.geteuid() == 0 else None), fd
    raise RuntimeError(f"all {count} grading slots are taken")


# the kernel imports the same seqcourse as the grader (-I ignores PYTHONPATH; an editable install may point
# at another checkout); the rest of that directory is hidden by the sandbox
_LAUNCH = (
    "import sys; sys.path.insert(0, {package_parent!r}); "
    "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()"
)
# the wrapper stages run this module from the same checkout, whatever the environment says
_STAGE = (
    "import sys; sys.path.insert(0, {package_parent!r}); from seqcourse.grading.sandbox import main; main()"
)


def _stage(name: str) -> list[str]:
    return [sys.executable, "-I", "-c", _STAGE.format(package_parent=_PACKAGE_PARENT), name]


def kernel_argv(
    workdir: str, ctl: str, limits: Limits, ids: tuple[int, int] | None, cgroup: str | None = None
) -> list[str]:
    """The kernelspec ``argv`` that starts an IPython kernel through the stages of this module.

    With bubblewrap (root and a working ``bwrap``): ``enter`` -> ``bwrap`` -> ``drop`` -> kernel; otherwise
    ``drop`` -> kernel, where ``drop`` also joins the cgroup.
    """
    group = ["--cgroup", cgroup, "--memory-mb", str(limits.memory_mb), "--nproc", str(limits.nproc)]
    group = group if cgroup else []
    drop = [
        "--workdir",
        workdir,
        "--ctl",
        ctl,
        "--memory-mb",
        str(limits.memory_mb),
        "--nproc",
        str(limits.nproc),
        "--nofile",
        str(limits.nofile),
        "--cpu-s",
        str(limits.cpu_s),
        "--fsize-mb",
        str(limits.fsize_mb),
    ]
    if ids is not None:
        drop += ["--uid", str(ids[0]), "--gid", str(ids[1])]
    # -I: no user site, no PYTHON* variables, the current directory is not put on sys.path
    kernel = [
        sys.executable,
        "-I",
        "-c",
        _LAUNCH.format(package_parent=_PACKAGE_PARENT),
        "-f",
        "{connection_file}",
        "--IPKernelApp.ignore_cwd=True",
        "--HistoryManager.enabled=False",
    ]
    if not isolation_plan()[0]:
        return [*_stage("drop"), *group, *drop, "--", *kernel]
    return [
        *_stage("enter"),
        "--ctl",
        ctl,
        *group,
        "--",
        shutil.which("bwrap") or "bwrap",
        *bwrap_args(workdir, ctl, limits.hide),
        "--",
        *_stage("drop"),
        *drop,
        "--",
        *kernel,
    ]


@functools.lru_cache(maxsize=1)
def isolation_plan() -> tuple[bool, str]:
    """``(bubblewrap is used, what the kernel gets)``, tried once per process with a real ``bwrap`` run."""
    if os.geteuid() != 0:
        return False, "no namespaces, no hidden paths: the grader is not root"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "no namespaces, no hidden paths: bubblewrap (bwrap) is not installed"
    probe = [bwrap, *NAMESPACES, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--"]
    try:
        done = subprocess.run(
            [*probe, sys.executable, "-I", "-S", "-c", ""], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"no namespaces, no hidden paths: bwrap could not run ({err})"
    if done.returncode != 0:
        return False, f"no namespaces, no hidden paths: bwrap failed ({done.stderr.strip()[:300]})"
    return True, "bubblewrap: private network, pid, ipc, uts and mount namespaces; instructor paths hidden"


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def kernel_keep_paths() -> list[str]:
    """What every kernel must read: the interpreter's prefixes and this package (never hidden)."""
    return [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.join(_PACKAGE_PARENT, "seqcourse")]


def _needed_paths() -> list[str]:
    """Real paths the kernel must reach: the interpreter, its prefixes, the import path and this package."""
    paths = {os.path.realpath(sys.executable), *(os.path.realpath(p) for p in kernel_keep_paths())}
    paths.update(os.path.realpath(p) for p in sys.path if p and os.path.isdir(p))
    return sorted(paths)


def _closed_ancestors(needed: Iterable[str]) -> dict[str, set[str]]:
    """For each needed path under a folder others may not enter (no o+x, e.g. /root): that folder -> children.

    The sandbox replaces such a folder by an empty tmpfs and binds back only the children the kernel needs,
    so the slot user can reach the interpreter and sees nothing else of, e.g., /root.
    """
    blocked: dict[str, set[str]] = {}
    for path in needed:
        parts = path.strip(os.sep).split(os.sep)
        for depth in range(len(parts) - 1):
            ancestor = os.sep + os.sep.join(parts[: depth + 1])
            if not os.stat(ancestor).st_mode & 0o001:
                blocked.setdefault(ancestor, set()).add(parts[depth + 1])
                break
    return blocked


def _host_sockets() -> list[str]:
    """Filesystem Unix sockets of the host (``/proc/net/unix`` of the grader's network namespace)."""
    try:
        with open("/proc/net/unix") as fh:
            lines = fh.readlines()[1:]
    except OSError:
        return []
    return sorted({ln.split()[-1] for ln in lines if len(ln.split()) >= 8 and ln.split()[-1].startswith("/")})


def bwrap_args(workdir: str, ctl: str, hide: Iterable[str]) -> list[str]:
    """bubblewrap's options for one kernel (see the module docstring); mounts are applied in this order."""
    workdir, ctl = os.path.realpath(workdir), os.path.realpath(ctl)
    args = [*NAMESPACES, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    fresh = [p for p in FRESH_DIRS if os.path.isdir(p) and not os.path.islink(p)]
    for path in fresh:
        mode = "0755" if path == "/run" else "1777"
        args += ["--perms", mode, "--size", str(TMPFS_MB * 2**20), "--tmpfs", path]
    needed = _needed_paths()
    closed = _closed_ancestors(needed)
    exposed = []
    for ancestor, children in sorted(closed.items()):
        args += ["--perms", "0755", "--tmpfs", ancestor]
        for child in sorted(children):
            path = os.path.join(ancestor, child)
            args += ["--ro-bind", path, path]
            exposed.append(path)
    made: set[str] = set()

    def rebuild(path: str, root: str, itself: bool = False) -> None:
        """Folders leading to ``path`` under ``root`` (``itself``: and ``path``), open to the slot user."""
        parts = os.path.relpath(path, root).split(os.sep)
        for depth in range(1, len(parts) + itself):
            step = os.path.join(root, *parts[:depth])
            if step not in made:
                made.add(step)
                args.extend(["--perms", "0711", "--dir", step])

    for path in needed:  # sorted: a folder before what lies inside it
        # e.g. a checkout and its .venv in /tmp/course: the private /tmp hid them; bind back just these
        root = next((f for f in fresh if _under(path, f) and path != f), None)
        if root is not None and not any(_under(path, e) for e in exposed):
            rebuild(path, root)
            args += ["--ro-bind", path, path]
            exposed.append(path)

    def gone(path: str) -> bool:  # already replaced by an empty tmpfs
        replaced = [*fresh, *closed]
        return any(_under(path, f) for f in replaced) and not any(_under(path, e) for e in exposed)

    covered: list[str] = []
    for path in sorted({os.path.realpath(p) for p in hide if os.path.lexists(p)}):
        if not os.path.exists(path) or gone(path) or any(_under(path, c) for c in covered):
            continue
        if any(_under(n, path) for n in (*needed, workdir, ctl)):
            continue  # the kernel cannot run without it (kernel_keep_paths keeps these out of hide)
        if os.path.isdir(path):
            args += ["--perms", "0000", "--size", "4096", "--tmpfs", path]
            covered.append(path)
        else:
            args += ["--ro-bind", "/dev/null", path]
    for sock in _host_sockets():
        if os.path.exists(sock) and not gone(sock) and not any(_under(sock, c) for c in covered):
            args += ["--ro-bind", "/dev/null", sock]
    for folder in (workdir, ctl):
        root = next((f for f in fresh if _under(folder, f)), None)
        if root is not None and not any(_under(folder, e) for e in exposed):
            rebuild(folder, root, itself=True)
        args += ["--bind", folder, folder]
    return args


def kernel_process(pid: int) -> int:
    """The kernel below ``pid`` (the process the engine started): follow the oldest child down to a leaf.

    With bubblewrap, ``pid`` is bubblewrap's monitor in the grader's namespaces; the kernel is two levels
    below it, inside the sandbox. Without bubblewrap, ``pid`` is the kernel itself.
    """
    for _ in range(8):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as fh:
                children = [int(c) for c in fh.read().split()]
        except OSError:
            return pid
        if not children:
            return pid
        pid = min(children, key=_start_time)
    return pid


def _start_time(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 1 << 62


def sensitive_paths(roots: Iterable[str], keep: Iterable[str]) -> list[str]:
    """Every entry directly under each of ``roots`` except those leading to a path in ``keep``.

    Used to hide a course repository (solutions/, tests/, .git/, gradebook.db, ...) while keeping the
    virtual environment and the package that kernels import (:func:`kernel_keep_paths`). An entry that is a
    symbolic link is kept when its target leads to a kept path (e.g. ``.venv`` linked to a shared one); an
    entry inside a kept path is never hidden (a package installed into site-packages, not from a checkout,
    makes ``roots`` the interpreter's own library folder).
    """
    keep_real = [os.path.realpath(k) for k in keep]
    hidden: list[str] = []
    for root in roots:
        root = os.path.realpath(root)
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            real = os.path.realpath(path)
            if any(_under(k, p) or _under(p, k) for k in keep_real for p in (path, real)):
                continue  # leads to a kept path, or lies inside one (e.g. the stdlib under base_prefix)
            hidden.append(path)
    return hidden


def kill_user_processes(uid: int, keep: Sequence[int] = ()) -> int:
    """SIGKILL every process whose real uid is ``uid`` (except the pids in ``keep``); return the count."""
    killed = 0
    for _ in range(20):  # a fork bomb may still be spawning while we kill
        found = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in keep:
                continue
            try:
                with open(f"/proc/{entry}/status") as fh:
                    uid_line = next(line for line in fh if line.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if int(uid_line.split()[1]) == uid:
                found += 1
                try:
                    os.kill(int(entry), signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        if not found:
            break
    return killed


# ------------------------------------------------------------------------------------------- cgroups
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_PARENT = "seqgrade"


def _cgroup_dirs(name: str) -> list[str]:
    return [os.path.join(CGROUP_ROOT, ctl, CGROUP_PARENT, name) for ctl in ("memory", "pids")]


def _enter_cgroup(name: str, memory_mb: int, nproc: int) -> None:
    """Put this process (and so the kernel and all its children) into fresh memory and pids cgroups."""
    memory, pids = _cgroup_dirs(name)
    os.makedirs(memory, exist_ok=True)
    os.makedirs(pids, exist_ok=True)
    with open(os.path.join(memory, "memory.limit_in_bytes"), "w") as fh:
        fh.write(str(memory_mb * 1024 * 1024))
    with open(os.path.join(pids, "pids.max"), "w") as fh:
        fh.write(str(nproc))
    for folder in (memory, pids):
        with open(os.path.join(folder, "cgroup.procs"), "w") as fh:
            fh.write(str(os.getpid()))


def _cgroup_pids(dirs: list[str]) -> set[int]:
    pids: set[int] = set()
    for folder in dirs:
        try:
            with open(os.path.join(folder, "cgroup.procs")) as fh:
                pids.update(int(x) for x in fh.read().split())
        except OSError:
            continue
    return pids


def kill_cgroup(name: str) -> int:
    """SIGKILL every process of a kernel's cgroup until none is left, then remove the cgroups; the count."""
    killed: set[int] = set()
    dirs = _cgroup_dirs(name)
    for _ in range(50):  # up to 0.5 s for the kernel's own processes to exit after its shutdown
        if not _cgroup_pids(dirs):
            break
        time.sleep(0.01)
    for _ in range(200):
        pids = _cgroup_pids(dirs)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
    for folder in dirs:
        for _ in range(50):
            try:
                os.rmdir(folder)
                break
            except FileNotFoundError:
                break
            except OSError:  # still busy: the last processes are exiting
                time.sleep(0.01)
    return len(killed)


def cgroups_available() -> bool:
    """Whether per-kernel cgroups (v1 memory and pids) can be used: root and both controllers mounted."""
    return os.geteuid() == 0 and all(os.path.isdir(os.path.join(CGROUP_ROOT, c)) for c in ("memory", "pids"))


def make_base_dir() -> str:
    """A private folder (mode 0711) for the kernels' working and control folders, outside /tmp when root.

    As root, kernels get a private /tmp, so their folders must live elsewhere: ``/run/seqgrade/``.
    """
    import tempfile

    parent = None
    if os.geteuid() == 0:
        parent = "/run/seqgrade"
        os.makedirs(parent, mode=0o711, exist_ok=True)
    base = tempfile.mkdtemp(prefix="seqgrade-", dir=parent)
    os.chmod(base, 0o711)
    return base


# ------------------------------------------------------------------------------------------ the stages
def _set_limits(args: argparse.Namespace) -> None:
    mb = 1024 * 1024
    for which, value in (
        (resource.RLIMIT_AS, args.memory_mb * mb),
        (resource.RLIMIT_NPROC, args.nproc),
        (resource.RLIMIT_NOFILE, args.nofile),
        (resource.RLIMIT_CPU, args.cpu_s),
        (resource.RLIMIT_FSIZE, args.fsize_mb * mb),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))


def _parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    usage = "python -m seqcourse.grading.sandbox enter|drop [options] -- command"
    if len(argv) < 2 or argv[0] not in ("enter", "drop") or "--" not in argv:
        raise SystemExit(f"usage: {usage}")
    cut = list(argv).index("--")
    p = argparse.ArgumentParser(prog="python -m seqcourse.grading.sandbox", usage=usage)
    p.add_argument("stage", choices=("enter", "drop"))
    p.add_argument("--ctl", required=True)
    p.add_argument("--cgroup", help="name of this kernel's memory + pids cgroup (v1), killed as a whole")
    p.add_argument("--memory-mb", type=int)
    p.add_argument("--nproc", type=int)
    if argv[0] == "drop":
        p.add_argument("--workdir", required=True)
        p.add_argument("--uid", type=int)
        p.add_argument("--gid", type=int)
        for name in ("--nofile", "--cpu-s", "--fsize-mb"):
            p.add_argument(name, type=int, required=True)
    args = p.parse_args(argv[:cut])
    cmd = list(argv[cut + 1 :])
    if not cmd:
        raise SystemExit("sandbox: missing command after --")
    if args.cgroup and (args.memory_mb is None or args.nproc is None):
        raise SystemExit("sandbox: --cgroup needs --memory-mb and --nproc")
    return args, cmd


def _log_to(ctl: str) -> None:
    """stdout and stderr to ``ctl/kernel.log`` (the engine shows its tail when a kernel fails to start)."""
    log = os.open(os.path.join(ctl, "kernel.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)


def _exec(cmd: list[str], env: dict[str, str] | None = None) -> None:
    try:
        os.execve(cmd[0], cmd, dict(os.environ) if env is None else env)
    except OSError as err:
        raise SystemExit(f"sandbox: cannot start {cmd[0]}: {err}") from err


def _enter(args: argparse.Namespace, cmd: list[str]) -> None:
    """Stage 1 (grader's uid, host namespaces): cgroups, log, SIGINT ignored, exec bubblewrap."""
    if args.cgroup:
        _enter_cgroup(args.cgroup, args.memory_mb, args.nproc)
    _log_to(args.ctl)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by bwrap's monitor; the kernel resets it
    _exec(cmd)


def _drop(args: argparse.Namespace, cmd: list[str]) -> None:
    """Stage 3 (root inside the sandbox, or the only stage): limits, slot user, clean environment, exec."""
    root = os.geteuid() == 0
    if args.cgroup and root:
        _enter_cgroup(args.cgroup, args.memory_mb, args.nproc)
    _log_to(args.ctl)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    conn = next((c for c in cmd if c.endswith(".json") and os.path.isfile(c)), None)
    drop = root and args.uid is not None
    if drop and conn is not None:
        os.chown(conn, args.uid, args.gid)
    _set_limits(args)
    if drop:
        os.setgroups([])
        os.setgid(args.gid)
        os.setuid(args.uid)
        try:  # prove the drop is irreversible
            os.setuid(0)
        except PermissionError:
            pass
        else:  # pragma: no cover - would mean the drop silently failed
            raise SystemExit("sandbox: could not drop root privileges")
    os.chdir(args.workdir)
    os.umask(0o077)
    env = {k: os.environ[k] for k in _SAFE_ENV if k in os.environ}
    env.update(
        HOME=args.workdir,
        TMPDIR=args.workdir,
        MPLCONFIGDIR=os.path.join(args.workdir, ".mpl"),
        IPYTHONDIR=os.path.join(args.workdir, ".ipython"),
        JUPYTER_RUNTIME_DIR=args.ctl,
        JUPYTER_CONFIG_DIR=os.path.join(args.workdir, ".jupyter"),
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
        NBGRADER_EXECUTION="autograde",
        SEQCOURSE_DEVICE="cpu",
    )
    _exec(cmd, env)


def main(argv: Sequence[str] | None = None) -> None:
    """Wrapper entry point: run one stage (``enter`` or ``drop``), which ends by exec'ing its command."""
    args, cmd = _parse(sys.argv[1:] if argv is None else argv)
    (_enter if args.stage == "enter" else _drop)(args, cmd)


if __name__ == "__main__":
    main()
