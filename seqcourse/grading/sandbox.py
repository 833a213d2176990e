"""Launch an untrusted Jupyter kernel inside limits: rlimits, an empty working directory, another user.

The kernelspec used for grading runs this module as a wrapper around the real kernel::

    python -m seqcourse.grading.sandbox --workdir W --ctl C [limits] -- python -I -m ipykernel_launcher -f F

The wrapper, still running as the grader, (1) enters new mount and network namespaces when it is root,
hides the instructor's paths (solutions, gradebook, submissions, output) under empty read-only tmpfs mounts
and leaves the network namespace without any interface; (2) sets the resource limits (address space,
processes, open files, CPU seconds, file size); (3) hands the connection file to the slot user and drops
to that user; (4) clears the environment, ``chdir`` s to the empty working directory and ``exec`` s the
kernel. What could and could not be done is written to ``C/sandbox.json`` for the grading report.

Each parallel worker owns one *slot*, an unprivileged system user ``seqgrade<k>``, so a fork bomb or a
``kill(-1)`` in one student's kernel only reaches that student's processes; the worker kills every process
of its slot user after each notebook (:func:`kill_user_processes`).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import pwd
import resource
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Limits",
    "SLOT_USER_PREFIX",
    "slot_user",
    "ensure_slot_users",
    "claim_slot",
    "kernel_argv",
    "kill_user_processes",
    "kill_cgroup",
    "cgroups_available",
    "make_base_dir",
    "sensitive_paths",
    "main",
]

SLOT_USER_PREFIX = "seqgrade"
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
_SAFE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Limits:
    """Per-kernel limits. Wall times are enforced by the executor, the rest as rlimits in the wrapper."""

    cell_timeout_s: int = 60
    notebook_timeout_s: int = 600
    memory_mb: int = 4096  # RLIMIT_AS: address space, generous because importing torch maps a lot
    nproc: int = 64  # RLIMIT_NPROC: processes + threads of the slot user
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
        fd = os.open(f"/tmp/seqgrade-slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
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


def kernel_argv(
    workdir: str, ctl: str, limits: Limits, ids: tuple[int, int] | None, cgroup: str | None = None
) -> list[str]:
    """The kernelspec ``argv`` that starts an IPython kernel through this wrapper."""
    argv = [
        sys.executable,
        "-m",
        "seqcourse.grading.sandbox",
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
        argv += ["--uid", str(ids[0]), "--gid", str(ids[1])]
    for path in limits.hide:
        argv += ["--hide", path]
    if cgroup:
        argv += ["--cgroup", cgroup]
    # -I: no user site, no PYTHON* variables, the current directory is not put on sys.path
    return argv + [
        "--",
        sys.executable,
        "-I",
        "-c",
        _LAUNCH.format(package_parent=os.path.dirname(os.path.dirname(os.path.dirname(__file__)))),
        "-f",
        "{connection_file}",
        "--IPKernelApp.ignore_cwd=True",
        "--HistoryManager.enabled=False",
    ]


def sensitive_paths(roots: Iterable[str], keep: Iterable[str]) -> list[str]:
    """Every entry directly under each of ``roots`` except those leading to a path in ``keep``.

    Used to hide a course repository (solutions/, .git/, gradebook.db, ...) while keeping the
    virtual environment and the package that kernels import.
    """
    keep_real = [os.path.realpath(k) for k in keep]
    hidden: list[str] = []
    for root in roots:
        root = os.path.realpath(root)
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if any(k == path or k.startswith(path + os.sep) for k in keep_real):
                continue
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


# ----------------------------------------------------------------------------------------- the wrapper
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _isolate(hide: Sequence[str], report: dict[str, object], stage_parent: str) -> None:
    """New mount + network namespaces; hide ``hide`` under empty read-only mounts."""
    libc = _libc()
    try:
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare(CLONE_NEWNS|CLONE_NEWNET)")
    except OSError as err:
        report["network"] = report["filesystem"] = f"not isolated ({err})"
        return
    report["network"] = "isolated (empty network namespace)"
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    hidden, failed = [], []
    for path in hide:
        if not os.path.lexists(path):
            continue
        try:
            if os.path.isdir(path):
                flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
                _check(libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, b"size=4k,mode=000"), path)
            else:
                _check(libc.mount(b"/dev/null", path.encode(), None, MS_BIND, None), path)
            hidden.append(path)
        except OSError as err:
            failed.append(f"{path}: {err.strerror}")
    report["filesystem"] = f"{len(hidden)} instructor paths hidden" + (
        f"; failed: {failed}" if failed else ""
    )
    exposed = _expose_interpreter(libc, stage_parent)
    if exposed:
        report["exposed"] = exposed


def _interpreter_paths() -> list[str]:
    """Real paths the kernel must reach: the interpreter, its prefixes and the import path."""
    paths = {
        os.path.realpath(sys.executable),
        os.path.realpath(sys.prefix),
        os.path.realpath(sys.base_prefix),
    }
    paths.update(os.path.realpath(p) for p in sys.path if p and os.path.isdir(p))
    return sorted(paths)


def _expose_interpreter(libc: ctypes.CDLL, stage_parent: str) -> list[str]:
    """Make the interpreter reachable for the slot user when it lives under a private folder (e.g. /root).

    For each closed ancestor D (no o+x) of a needed path, the needed children of D are bind-mounted to a
    staging point, an empty tmpfs (mode 0755) replaces D, and the children are mounted back. Everything
    else under D (e.g. the rest of /root) disappears from the sandbox.
    """
    blocked: dict[str, set[str]] = {}
    for path in _interpreter_paths():
        parts = path.strip(os.sep).split(os.sep)
        for depth in range(len(parts) - 1):
            ancestor = os.sep + os.sep.join(parts[: depth + 1])
            if not os.stat(ancestor).st_mode & 0o001:
                blocked.setdefault(ancestor, set()).add(parts[depth + 1])
                break
    exposed = []
    for ancestor, children in sorted(blocked.items()):
        staged = {}
        for child in sorted(children):
            stage = os.path.join(stage_parent, f"stage-{len(exposed)}-{child}")
            os.mkdir(stage, 0o700)
            _check(
                libc.mount(
                    os.path.join(ancestor, child).encode(), stage.encode(), None, MS_BIND | MS_REC, None
                ),
                f"bind {ancestor}/{child}",
            )
            staged[child] = stage
        _check(
            libc.mount(b"tmpfs", ancestor.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=755"),
            f"tmpfs over {ancestor}",
        )
        for child, stage in staged.items():
            target = os.path.join(ancestor, child)
            os.mkdir(target, 0o755)
            _check(
                libc.mount(stage.encode(), target.encode(), None, MS_BIND | MS_REC, None),
                f"bind back {target}",
            )
            exposed.append(target)
    return exposed


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


def kill_cgroup(name: str) -> int:
    """SIGKILL every process of a kernel's cgroup until none is left, then remove the cgroups; the count."""
    killed: set[int] = set()
    dirs = _cgroup_dirs(name)
    for _ in range(200):
        pids = set()
        for folder in dirs:
            try:
                with open(os.path.join(folder, "cgroup.procs")) as fh:
                    pids.update(int(x) for x in fh.read().split())
            except OSError:
                continue
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
                import time

                time.sleep(0.01)
    return len(killed)


def cgroups_available() -> bool:
    """Whether per-kernel cgroups (v1 memory and pids) can be used: root and both controllers mounted."""
    return os.geteuid() == 0 and all(os.path.isdir(os.path.join(CGROUP_ROOT, c)) for c in ("memory", "pids"))


def _hide_sockets(libc: ctypes.CDLL, own: str) -> None:
    """Cover every filesystem Unix socket of the host (e.g. PostgreSQL's) with /dev/null.

    The network namespace already cuts TCP and abstract sockets; sockets bound to a path are reached through
    the filesystem, so each one listed in /proc/net/unix is replaced by a file that refuses connections.
    """
    try:
        with open("/proc/net/unix") as fh:
            paths = {line.split()[-1] for line in fh.readlines()[1:] if len(line.split()) >= 8}
    except OSError:
        return
    for path in sorted(p for p in paths if p.startswith("/") and not p.startswith(own + os.sep)):
        if os.path.exists(path):
            libc.mount(b"/dev/null", path.encode(), None, MS_BIND, None)


def _private_tmp(libc: ctypes.CDLL, own: str, report: dict[str, object]) -> None:
    """Fresh, empty /tmp, /var/tmp and /dev/shm for this kernel (nothing survives it, nothing is shared).

    A folder holding the kernel's own control folder ``own`` cannot be replaced (see :func:`make_base_dir`).
    """
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        if own.startswith(os.path.realpath(path) + os.sep):
            report["tmp"] = f"{path} is shared: the kernel's folders are under it"
            continue
        if os.path.isdir(path):
            flags = MS_NOSUID | MS_NODEV
            _check(libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, b"size=256m,mode=1777"), path)


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
    if "--" not in argv:
        raise SystemExit("usage: python -m seqcourse.grading.sandbox [options] -- kernel command")
    cut = list(argv).index("--")
    p = argparse.ArgumentParser(prog="python -m seqcourse.grading.sandbox")
    p.add_argument("--workdir", required=True)
    p.add_argument("--ctl", required=True)
    p.add_argument("--uid", type=int)
    p.add_argument("--gid", type=int)
    p.add_argument("--memory-mb", type=int, required=True)
    p.add_argument("--nproc", type=int, required=True)
    p.add_argument("--nofile", type=int, required=True)
    p.add_argument("--cpu-s", type=int, required=True)
    p.add_argument("--fsize-mb", type=int, required=True)
    p.add_argument("--hide", action="append", default=[])
    p.add_argument("--cgroup", help="name of this kernel's memory + pids cgroup (v1), killed as a whole")
    cmd = list(argv[cut + 1 :])
    if not cmd:
        raise SystemExit("sandbox: missing kernel command after --")
    return p.parse_args(argv[:cut]), cmd


def main(argv: Sequence[str] | None = None) -> None:
    """Wrapper entry point: isolate, limit, drop privileges, then exec the kernel command."""
    args, cmd = _parse(sys.argv[1:] if argv is None else argv)
    report: dict[str, object] = {"pid": os.getpid()}
    root = os.geteuid() == 0
    if root:
        if args.cgroup:
            _enter_cgroup(args.cgroup, args.memory_mb, args.nproc)
        _isolate(args.hide, report, os.path.dirname(os.path.abspath(args.ctl)))
        _hide_sockets(_libc(), os.path.abspath(args.ctl))
        _private_tmp(_libc(), os.path.realpath(args.ctl), report)
    else:
        report["network"] = report["filesystem"] = "not isolated (grader is not root)"
    conn = next((c for c in cmd if c.endswith(".json") and os.path.isfile(c)), None)
    if root and args.uid is not None:
        if conn is not None:
            os.chown(conn, args.uid, args.gid)
        report["user"] = pwd.getpwuid(args.uid).pw_name
    else:
        report["user"] = f"{pwd.getpwuid(os.geteuid()).pw_name} (not dropped: grader is not root)"
    _set_limits(args)
    if root and args.uid is not None:
        os.setgroups([])
        os.setgid(args.gid)
        os.setuid(args.uid)
        try:  # prove the drop is irreversible
            os.setuid(0)
        except PermissionError:
            pass
        else:  # pragma: no cover - would mean the drop silently failed
            raise SystemExit("sandbox: could not drop root privileges")
    log = os.open(os.path.join(args.ctl, "kernel.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
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
    try:
        os.execve(cmd[0], cmd, env)
    except OSError as err:
        raise SystemExit(f"sandbox: cannot start {cmd[0]}: {err}") from err


if __name__ == "__main__":
    main()
