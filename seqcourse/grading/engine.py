"""Grade one notebook with two processes: the student's kernel and the checker (this process).

Cells are taken in notebook order and routed by their nbgrader metadata:

- autograded test cells (``grade`` and not ``solution``) run **only in the checker**, with the instructor's
  source (``trusted[grade_id]``, from the source notebook or the gradebook, never from the submission); the
  student process never receives their text;
- locked instructor cells (set-up: imports, data, helpers) run in both: in the student's kernel, so the
  notebook behaves as in JupyterLab, and in the checker from the trusted source, so the tests see trusted
  set-up objects;
- every other code cell is the student's and runs only in the student's kernel.

A test cell passes when its code raises nothing in the checker. Its outputs are written by the checker (the
text the test printed, the student's prints during its calls, and an ``error`` output when it failed), so no
output the student controls can give credit. Output kept per student cell is capped over every kind
(streams, rich data, tracebacks, metadata).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nbformat
import zmq
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbformat import NotebookNode

from seqcourse.grading.checker import Namespace, Session, run_test_cell
from seqcourse.grading.rules import Rules
from seqcourse.grading.sandbox import (
    Limits,
    cgroups_available,
    kernel_argv,
    kernel_process,
    kill_cgroup,
    kill_user_processes,
)

__all__ = ["KernelSupply", "RunResult", "run_notebook", "is_test_cell", "is_setup_cell", "trusted_sources"]

_KERNEL_NAME = "seqcourse-sandbox"


@dataclass
class RunResult:
    """What happened while grading one notebook."""

    nb: NotebookNode
    completed: set[int] = field(default_factory=set)  # indices of cells whose execution finished
    died_at: int | None = None  # cell index during which the student's kernel died
    deadline_at: int | None = None  # cell index at which the notebook deadline was reached
    unresponsive_at: int | None = None  # the kernel did not come back after an interrupt
    start_error: str | None = None  # the kernel could not be started at all
    sandbox: dict[str, Any] = field(default_factory=dict)  # isolation measured from /proc, not reported
    strays_killed: int = 0
    seconds: float = 0.0  # the whole notebook
    startup_seconds: float = 0.0  # waited for a ready kernel (0 when one was started in advance)
    kernel_start_seconds: float = 0.0  # the kernel's own start + agent install, wherever it overlapped
    student_seconds: float = 0.0  # student cells in the kernel
    checker_seconds: float = 0.0  # test cells, proxies included
    test_seconds: dict[str, float] = field(default_factory=dict)  # grade id -> seconds of that test cell
    notes: list[str] = field(default_factory=list)
    session: Any = None


def is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_setup_cell(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return (
        cell.cell_type == "code"
        and bool(meta.get("locked"))
        and not meta.get("grade")
        and not meta.get("solution")
    )


def trusted_sources(source_nb: NotebookNode) -> dict[str, str]:
    """``grade_id -> source`` of the instructor's test and set-up cells of a source notebook."""
    return {
        c.metadata.nbgrader["grade_id"]: c.source
        for c in source_nb.cells
        if (is_test_cell(c) or is_setup_cell(c)) and "grade_id" in c.metadata.get("nbgrader", {})
    }


# ------------------------------------------------------------------------------------------ the kernel
def _make_dirs(base: str, ids: tuple[int, int] | None) -> tuple[str, str, str]:
    top = tempfile.mkdtemp(prefix="k-", dir=base)
    os.chmod(top, 0o711)
    work, ctl, spec = (os.path.join(top, name) for name in ("work", "ctl", "spec"))
    for path in (work, ctl):
        os.mkdir(path, 0o700)
        if ids is not None:
            os.chown(path, *ids)
    os.makedirs(os.path.join(spec, _KERNEL_NAME), 0o700)
    return top, work, ctl


def _measure_isolation(pid: int | None) -> dict[str, str]:
    """What the kernel process really got, read from /proc (nothing the student process writes)."""
    if pid is None:
        return {"measured": "no kernel pid"}
    facts: dict[str, str] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            uid = next(line.split()[1] for line in fh if line.startswith("Uid:"))
        facts["user"] = f"uid {uid}" + (" (the grader's own uid)" if int(uid) == os.geteuid() else "")
        if os.path.isdir("/sys/fs/cgroup/memory/seqgrade"):
            with open(f"/proc/{pid}/cgroup") as fh:
                groups = [ln.split(":", 2)[2].strip() for ln in fh if ":memory:" in ln or ":pids:" in ln]
            facts["cgroups"] = ", ".join(groups) or "none"
        for ns in ("net", "mnt", "pid"):
            same = os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/self/ns/{ns}")
            facts[f"{ns} namespace"] = "shared with the grader" if same else "separate"
    except (OSError, StopIteration, ValueError) as err:
        facts["measured"] = f"could not read /proc/{pid}: {err}"
    return facts


class _Kernel:
    """A sandboxed IPython kernel and a blocking client to it."""

    def __init__(self, limits: Limits, base_dir: str, ids: tuple[int, int] | None) -> None:
        self.top, work, ctl = _make_dirs(base_dir, ids)
        self.channel = os.path.join(ctl, "agent")  # the agent's socket (see checker.Session)
        spec_dir = os.path.join(self.top, "spec")
        self.cgroup = os.path.basename(self.top) if cgroups_available() else None
        argv = kernel_argv(work, ctl, limits, ids, self.cgroup)
        spec = {"argv": argv, "display_name": "sandbox", "language": "python"}
        with open(os.path.join(spec_dir, _KERNEL_NAME, "kernel.json"), "w") as fh:
            json.dump(spec, fh)
        self.km = KernelManager(
            kernel_name=_KERNEL_NAME,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[spec_dir], ensure_native_kernel=False),
            transport="ipc",
            ip=os.path.join(ctl, "k"),
            connection_file=os.path.join(ctl, "kernel.json"),
        )
        try:
            self.km.start_kernel()
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=60)
        except Exception as err:
            log = os.path.join(ctl, "kernel.log")
            tail = open(log, errors="replace").read()[-1500:] if os.path.isfile(log) else ""
            with contextlib.suppress(Exception):
                self.km.shutdown_kernel(now=True)
            if self.cgroup:
                kill_cgroup(self.cgroup)
            shutil.rmtree(self.top, ignore_errors=True)
            raise RuntimeError(f"{err}; kernel log: {tail}") from None
        self.pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        self.ids = ids
        self.isolation: dict[str, str] = {}
        self.start_seconds = 0.0

    @classmethod
    def ready(
        cls, limits: Limits, base_dir: str, ids: tuple[int, int] | None, blocked: Sequence[str]
    ) -> _Kernel:
        """A started kernel with the agent installed (``blocked`` modules refused); raises RuntimeError."""
        start = time.perf_counter()
        kernel = cls(limits, base_dir, ids)
        # with bubblewrap the process started is bubblewrap's monitor: measure the kernel below it
        kernel.isolation = _measure_isolation(kernel_process(kernel.pid) if kernel.pid else None)
        install = _INSTALL.format(blocked=list(blocked), channel=kernel.channel)
        outs, status = _execute(kernel, install, 120, 1 << 16)
        if status != "ok":
            kernel.close()
            text = " ".join(str(o.get("evalue", o.get("text", ""))) for o in outs)
            raise RuntimeError(f"the grading agent could not be installed ({status}): {text}")
        kernel.start_seconds = time.perf_counter() - start
        return kernel

    def close(self) -> int:
        """Stop the kernel and everything it started; return how many stray processes were killed."""
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        except Exception:  # already dead
            pass
        killed = kill_cgroup(self.cgroup) if self.cgroup else 0
        if self.ids is not None:  # anything of the slot user outside the cgroup (no cgroups: the only kill)
            killed += kill_user_processes(self.ids[0])
        shutil.rmtree(self.top, ignore_errors=True)
        return killed


class KernelSupply:
    """Ready kernels for one grading worker: each is started in the background while the previous notebook
    is graded, so a notebook does not wait for kernel start-up (most of its fixed cost).

    The slot users in ``slots`` take turns: the kernel started early never runs as the user whose student is
    being graded, and the end-of-notebook kill by uid reaches only that student's processes. With one slot
    (or none: ``[None]``, a grader without root) kernels are started one at a time, on demand.
    """

    def __init__(
        self, limits: Limits, base_dir: str, slots: Sequence[tuple[int, int] | None], rules: Rules
    ) -> None:
        self.limits, self.base_dir, self.slots = limits, base_dir, list(slots)
        self.blocked = list(rules.blocked_modules)
        self.turn = 0
        self.ahead = len(self.slots) > 1 and self.slots[0] is not None
        self.pool = cf.ThreadPoolExecutor(1, thread_name_prefix="kernel-start")
        self.next: cf.Future | None = None

    def _start(self) -> cf.Future:
        ids = self.slots[self.turn % len(self.slots)]
        self.turn += 1
        return self.pool.submit(_Kernel.ready, self.limits, self.base_dir, ids, self.blocked)

    def take(self, ahead: bool = True) -> _Kernel:
        """A ready kernel (raises RuntimeError when none could be started); unless ``ahead`` is false (no more
        notebooks are expected), the next one starts now."""
        future, self.next = self.next or self._start(), None
        kernel = future.result()
        if not kernel.km.is_alive():  # died while it waited: start a fresh one
            kernel.close()
            kernel = self._start().result()
        if self.ahead and ahead:
            self.next = self._start()
        return kernel

    def close(self) -> None:
        """Stop the kernel started in advance, if any."""
        if self.next is not None:
            with contextlib.suppress(Exception):
                self.next.result().close()
            self.next = None
        self.pool.shutdown()


def _execute(kernel: _Kernel, code: str, timeout: float, max_bytes: int) -> tuple[list, str]:
    """Run student code; return ``(outputs, status)`` with status ok | error | timeout | dead | wedged."""
    kc, km = kernel.kc, kernel.km
    msg_id = kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
    outputs: list = []
    size, dropped = 0, False
    deadline = time.monotonic() + timeout
    poller = zmq.Poller()
    poller.register(kc.iopub_channel.socket, zmq.POLLIN)
    poller.register(kc.shell_channel.socket, zmq.POLLIN)
    status, replied, idle = "ok", False, False
    interrupted_at = None
    while not (replied and idle):
        now = time.monotonic()
        if interrupted_at is None and now >= deadline:
            km.interrupt_kernel()
            interrupted_at, status = now, "timeout"
        if interrupted_at is not None and now - interrupted_at > 10:
            return outputs, "wedged"
        ready = dict(poller.poll(500))
        if not ready:
            if not km.is_alive():
                return outputs, "dead"
            continue
        if kc.shell_channel.socket in ready:
            msg = kc.shell_channel.get_msg(timeout=0)
            if msg["parent_header"].get("msg_id") == msg_id:
                replied = True
                if msg["content"].get("status") == "error" and status == "ok":
                    status = "error"
        if kc.iopub_channel.socket in ready:
            msg = kc.iopub_channel.get_msg(timeout=0)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status":
                idle = content.get("execution_state") == "idle"
            elif kind == "clear_output":
                outputs.clear()
            elif kind in ("stream", "display_data", "execute_result", "error"):
                cost = len(json.dumps(content, default=str))  # every kind counts: tracebacks, metadata, data
                size += cost
                if size > max_bytes:
                    if not dropped:
                        dropped = True
                        outputs.append(_stream(f"\n[grader: output beyond {max_bytes} bytes dropped]\n"))
                    continue
                outputs.append(nbformat.v4.output_from_msg(msg))
    return outputs, status


def _stream(text: str, name: str = "stdout") -> NotebookNode:
    return nbformat.v4.new_output("stream", name=name, text=text)


def _error(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


_INSTALL = (
    "import seqcourse.grading.agent as _seqcourse_agent\n"
    "_seqcourse_agent.install({blocked!r}, get_ipython().user_ns, {channel!r})\n"
    "del _seqcourse_agent"
)


def run_notebook(
    nb: NotebookNode,
    trusted: dict[str, str],
    limits: Limits,
    base_dir: str,
    ids: tuple[int, int] | None = None,
    rules: Rules | None = None,
    kernels: KernelSupply | None = None,
    ahead: bool = True,
) -> RunResult:
    """Grade ``nb`` (its outputs are replaced in place); never raises for anything the student did.

    ``trusted`` maps grade ids to the instructor's source of test and set-up cells; ``ids`` is the slot
    user's ``(uid, gid)`` (``None``: the kernel runs as the grader's user); ``base_dir`` must be traversable
    by that user (mode 0711). With ``kernels`` the kernel comes from that supply (its slots, not ``ids``),
    which starts the next kernel in advance when ``ahead``.
    """
    rules = rules or Rules()
    start = time.perf_counter()
    result = RunResult(nb=nb)
    try:
        kernel = (
            kernels.take(ahead) if kernels else _Kernel.ready(limits, base_dir, ids, rules.blocked_modules)
        )
    except Exception as err:  # an infrastructure problem, not the student's
        result.start_error = f"{type(err).__name__}: {err}"
        result.seconds = time.perf_counter() - start
        return result
    result.sandbox = kernel.isolation
    result.startup_seconds = time.perf_counter() - start
    result.kernel_start_seconds = kernel.start_seconds
    try:
        _run_cells(nb, trusted, kernel, limits, result)
    finally:
        if result.session is not None:
            result.session.close()
        result.strays_killed += kernel.close()
        result.seconds = time.perf_counter() - start
    return result


def _run_cells(
    nb: NotebookNode,
    trusted: dict[str, str],
    kernel: _Kernel,
    limits: Limits,
    result: RunResult,
) -> None:
    session = Session(kernel.kc, kernel.km, limits.cell_timeout_s, kernel.channel)
    session.max_output_chars = limits.max_output_kb * 1024
    ns = Namespace(session)
    result.session = session
    deadline = time.monotonic() + limits.notebook_timeout_s
    max_bytes = limits.max_output_kb * 1024
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if time.monotonic() >= deadline:
            result.deadline_at = index
            return
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if is_test_cell(cell):
            t0 = time.perf_counter()
            if grade_id not in trusted:
                cell.outputs = [_error("UnknownTest", f"no instructor source for test cell {grade_id!r}")]
            else:
                passed, text, error = run_test_cell(trusted[grade_id], ns, grade_id)
                if text:
                    cell.outputs.append(_stream(text[:max_bytes]))
                if error is not None:
                    cell.outputs.append(_error(*error))
            result.test_seconds[grade_id] = time.perf_counter() - t0
            result.checker_seconds += result.test_seconds[grade_id]
            result.completed.add(index)
            if session.dead:
                result.died_at = index
                return
            continue
        t0 = time.perf_counter()
        left = min(limits.cell_timeout_s, deadline - time.monotonic())
        cell.outputs, status = _execute(kernel, cell.source, left, max_bytes)
        result.student_seconds += time.perf_counter() - t0
        if status == "dead":
            result.died_at = index
            return
        if status == "wedged":
            result.unresponsive_at = index
            return
        if status == "timeout":
            name = grade_id or f"cell {index}"
            result.notes.append(f"{name} exceeded the cell time limit")
            cell.outputs.append(_error("CellTimeoutError", f"the cell ran longer than {left:.0f} s"))
        result.completed.add(index)
        if is_setup_cell(cell) and grade_id in trusted:
            t0 = time.perf_counter()
            passed, _, error = run_test_cell(trusted[grade_id], ns, grade_id, setup=True)
            result.checker_seconds += time.perf_counter() - t0
            if not passed:
                result.notes.append(f"the checker's copy of set-up cell {grade_id} failed: {error}")
