"""A throw-away PostgreSQL server for the gradebook tests and benchmarks (Debian's ``postgresql`` package)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BINDIR = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"))), None)


class Unavailable(RuntimeError):
    """No PostgreSQL binaries, or root without the unprivileged ``postgres`` user that initdb needs."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private server on a free port (trust auth on 127.0.0.1); yield its gradebook URL; stop it."""
    if BINDIR is None or not os.path.exists(f"{BINDIR}/initdb"):
        raise Unavailable("PostgreSQL binaries (Debian package postgresql) are not installed")
    run_as = {}
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable(
                "running as root but there is no unprivileged 'postgres' user for initdb"
            ) from None
        run_as = {"user": user.pw_uid, "group": user.pw_gid}
    data = Path(tempfile.mkdtemp(prefix="seqcourse-pg-"))  # pytest's tmp is private to root
    os.chmod(data, 0o700)
    if run_as:
        os.chown(data, run_as["user"], run_as["group"])
    port = _free_port()
    subprocess.run(
        [f"{BINDIR}/initdb", "-D", str(data / "db"), "-U", "grader", "--auth=trust"],
        check=True,
        capture_output=True,
        **run_as,
    )
    server = [f"{BINDIR}/pg_ctl", "-D", str(data / "db"), "-l", str(data / "log")]
    subprocess.run(
        [*server, "-w", "start", "-o", f"-h 127.0.0.1 -p {port} -k {data}"],
        check=True,
        capture_output=True,
        **run_as,
    )
    try:
        subprocess.run(
            [f"{BINDIR}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "gradebook"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://grader@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run([*server, "-m", "immediate", "stop"], capture_output=True, **run_as)
        shutil.rmtree(data, ignore_errors=True)
