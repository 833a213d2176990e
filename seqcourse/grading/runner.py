"""Execute one prepared notebook in a sandboxed kernel (see :mod:`seqcourse.grading.sandbox`).

The notebook arrives in memory (with hidden tests restored and probe cells added by the pipeline) and
never touches the disk the kernel can see. Execution uses nbgrader's own ``Execute`` preprocessor (an
nbclient ``NotebookClient``), driven cell by cell so that

- each cell has a wall-time limit (nbclient interrupts the kernel) and the whole notebook a deadline;
- output beyond ``Limits.max_output_kb`` per cell is dropped instead of filling the grader's memory;
- stray processes of the slot user (fork bombs, background jobs) are killed before every probe cell;
- a kernel that dies (``os._exit``, ``exit()``, a crash, RLIMIT_CPU) stops execution cleanly; the caller
  learns which cells completed, so unexecuted test cells can never count as passed.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from seqcourse.grading.sandbox import Limits, kernel_argv, kill_user_processes

__all__ = ["RunResult", "run_notebook", "PROBE_KEY"]

PROBE_KEY = "seqcourse_probe"  # cell metadata key marking cells added by the grader
_KERNEL_NAME = "seqcourse-sandbox"


@dataclass
class RunResult:
    """What happened while executing one notebook."""

    nb: NotebookNode
    completed: set[int] = field(default_factory=set)  # indices of cells whose execution finished
    died_at: int | None = None  # cell index during which the kernel died
    deadline_at: int | None = None  # cell index at which the notebook deadline was reached
    unresponsive_at: int | None = None  # second cell in a row that timed out: the kernel is wedged
    start_error: str | None = None  # the kernel could not be started at all
    sandbox: dict[str, Any] = field(default_factory=dict)  # report written by the wrapper
    strays_killed: int = 0
    seconds: float = 0.0


class _SandboxExecute(Execute):
    """nbgrader's Execute with a cap on the output kept per cell."""

    max_output_bytes = 1 << 20

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._out_bytes: dict[int, int] = {}

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        size = self._out_bytes.get(cell_index, 0)
        content = msg.get("content", {})
        grown = size + len(str(content.get("text", ""))) + len(str(content.get("data", "")))
        self._out_bytes[cell_index] = grown
        if grown > self.max_output_bytes:
            if size <= self.max_output_bytes:
                outs.append(
                    nbformat.v4.new_output(
                        "stream",
                        name="stdout",
                        text=f"\n[grader: output beyond {self.max_output_bytes} bytes dropped]\n",
                    )
                )
            return None
        return super().output(outs, msg, display_id, cell_index)


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


async def _execute(ep: _SandboxExecute, result: RunResult, limits: Limits, uid: int | None) -> None:
    deadline = time.monotonic() + limits.notebook_timeout_s
    async with ep.async_setup_kernel():
        kernel_pid = getattr(getattr(ep.km, "provisioner", None), "pid", None)
        timed_out_before = False
        for index, cell in enumerate(ep.nb.cells):
            if cell.cell_type != "code":
                continue
            if cell.metadata.get(PROBE_KEY) and uid is not None:
                result.strays_killed += kill_user_processes(uid, keep=[kernel_pid] if kernel_pid else [])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.deadline_at = index
                return
            try:
                await asyncio.wait_for(ep.async_execute_cell(cell, index, store_history=True), remaining)
            except asyncio.TimeoutError:  # our deadline, or nbclient giving up on a kernel that never replied
                if time.monotonic() >= deadline:
                    result.deadline_at = index
                else:
                    result.unresponsive_at = index
                return
            except DeadKernelError:
                result.died_at = index
                return
            result.completed.add(index)
            if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
                if timed_out_before:
                    result.unresponsive_at = index
                    return
                timed_out_before = True
            else:
                timed_out_before = False


def run_notebook(
    nb: NotebookNode,
    limits: Limits,
    base_dir: str,
    ids: tuple[int, int] | None = None,
) -> RunResult:
    """Execute ``nb`` (modified in place) in a fresh sandboxed kernel; never raises for student behaviour.

    ``ids`` is the slot user's ``(uid, gid)`` (``None``: run as the current user). ``base_dir`` must be a
    directory the slot user can traverse (mode 0711); a private folder is created under it and removed.
    """
    start = time.perf_counter()
    top, work, ctl = _make_dirs(base_dir, ids)
    spec_dir = os.path.join(top, "spec")
    spec = {"argv": kernel_argv(work, ctl, limits, ids), "display_name": "sandbox", "language": "python"}
    with open(os.path.join(spec_dir, _KERNEL_NAME, "kernel.json"), "w") as fh:
        json.dump(spec, fh)
    km = AsyncKernelManager(
        kernel_name=_KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[spec_dir], ensure_native_kernel=False),
        transport="ipc",
        ip=os.path.join(ctl, "k"),
        connection_file=os.path.join(ctl, "kernel.json"),
    )
    ep = _SandboxExecute(
        kernel_name=_KERNEL_NAME,
        timeout=limits.cell_timeout_s,
        startup_timeout=60,
        interrupt_on_timeout=True,
        allow_errors=True,
        shutdown_kernel="immediate",
        record_timing=False,
    )
    ep.nb, ep.km, ep.owns_km = nb, km, True
    ep.max_output_bytes = limits.max_output_kb * 1024
    ep.resources = {}
    ep.reset_execution_trackers()
    result = RunResult(nb=nb)
    try:
        asyncio.run(_execute(ep, result, limits, ids[0] if ids else None))
    except Exception as err:  # the kernel never came up: an infrastructure error, not the student's
        if not result.completed and result.died_at is None:
            result.start_error = f"{type(err).__name__}: {err}"
        else:
            result.died_at = result.died_at if result.died_at is not None else max(result.completed) + 1
    finally:
        atexit.unregister(ep._cleanup_kernel)
        if ids is not None:
            result.strays_killed += kill_user_processes(ids[0])
        try:
            with open(os.path.join(ctl, "sandbox.json")) as fh:
                result.sandbox = json.load(fh)
        except (OSError, ValueError):
            result.sandbox = {}
        shutil.rmtree(top, ignore_errors=True)
    result.seconds = time.perf_counter() - start
    return result
