#!/usr/bin/env python3
"""Run the package tests and execute every chapter on a GPU; print a table of what ran and how long it took.

    make gpu-check                                            # the course venv's Python
    make gpu-check GPU_PYTHON=/opt/torch/.venv/bin/python3    # any Python whose torch sees the GPU
    python tools/gpu_check.py --device cpu --chapters book/rnn_basics.ipynb   # dry run of the script itself

With ``SEQCOURSE_DEVICE=<device>`` in the environment (so :func:`seqcourse.utils.device` and every chapter's
preamble pick that device, and ``tests/test_devices.py`` compares every module's outputs there with the
CPU's), it

1. runs pytest once over the package's tests: the files that import seqcourse's models, data, decoding,
   training or utilities, not the grading, hub and site tests (``--tests`` names others); and
2. executes every chapter ``book/*.ipynb`` with nbclient and checks that its preamble printed
   ``device: <device>`` (``--chapters`` names others).

The course venv pins torch's CPU wheel, so on a GPU machine point ``GPU_PYTHON`` at a Python whose torch
was built with CUDA and that has this package's requirements (``pip install -e .`` or ``PYTHONPATH``, plus
pytest, nbclient and ipykernel for the two steps).

Exit status: 0 when everything ran and passed; 1 when a test or a chapter failed; 0 with a message when no
CUDA device is visible (nothing to check), or 2 then with ``--require-gpu``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_TESTS = re.compile(
    r"from seqcourse\.(nn|scratch|decoding|metrics|demos|train|utils|data|count|ngram)\b"
    r"|from seqcourse import"
)
NOT_PACKAGE_TESTS = re.compile(r"seqcourse\.grading|playwright|\bbrowser\b|nbclient|nbconvert|jupyter.book")


def package_tests() -> list[Path]:
    """The test files that exercise the package itself (see the module docstring)."""
    files = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        if PACKAGE_TESTS.search(text) and not NOT_PACKAGE_TESTS.search(text):
            files.append(path)
    return files


def run_tests(files: list[Path], env: dict[str, str]) -> list[tuple[str, str, float, str]]:
    """One pytest run; rows (file, status, seconds, note) from its JUnit XML."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={xml}",
            *(str(f.relative_to(ROOT)) for f in files),
        ]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if not xml.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            return [("pytest", "FAIL", 0.0, " | ".join(tail))]
        per_file: dict[str, list[float | int]] = {}
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = case.get("classname", "").split(".")
            file = next((p for p in name if p.startswith("test_")), ".".join(name)) + ".py"
            time_s, failed, skipped, passed = per_file.setdefault(file, [0.0, 0, 0, 0])
            kids = {child.tag for child in case}
            per_file[file] = [
                time_s + float(case.get("time", 0)),
                failed + bool(kids & {"failure", "error"}),
                skipped + ("skipped" in kids),
                passed + (not kids & {"failure", "error", "skipped"}),
            ]
    rows = []
    for file, (time_s, failed, skipped, passed) in sorted(per_file.items()):
        status = "FAIL" if failed else "ok"
        rows.append((f"tests/{file}", status, time_s, f"{passed} passed, {failed} failed, {skipped} skipped"))
    return rows


def run_chapter(path: Path, device: str, timeout: int) -> tuple[str, str, float, str]:
    """Execute one notebook in a fresh kernel (cwd = its folder); check the device its preamble printed."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    try:
        nbclient.NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    except Exception as err:  # a failing cell: report its last line and go on with the next chapter
        last = str(err).strip().splitlines()[-1:] or [type(err).__name__]
        return (str(path.relative_to(ROOT)), "FAIL", time.perf_counter() - start, last[0][:100])
    elapsed = time.perf_counter() - start
    printed = [
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("name") == "stdout"
    ]
    seen = next((m.group(1) for text in printed for m in [re.search(r"device: (\S+)", text)] if m), None)
    if seen is None or seen.split(":")[0] != device.split(":")[0]:
        return (str(path.relative_to(ROOT)), "FAIL", elapsed, f"ran on {seen}, expected {device}")
    return (str(path.relative_to(ROOT)), "ok", elapsed, f"device: {seen}")


def table(rows: list[tuple[str, str, float, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [f"{'what':<{width}}  status  seconds  note", "-" * (width + 40)]
    lines += [f"{what:<{width}}  {status:<6}  {secs:7.1f}  {note}" for what, status, secs, note in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="torch device to check (default cuda)")
    parser.add_argument("--tests", nargs="*", type=Path, help="test files (default: the package's tests)")
    parser.add_argument("--chapters", nargs="*", type=Path, help="notebooks (default: book/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per notebook cell (default 300)")
    parser.add_argument("--require-gpu", action="store_true", help="exit 2 (not 0) when no GPU is visible")
    args = parser.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"gpu-check: no CUDA device is visible to {sys.executable} (torch {torch.__version__}); "
            "nothing to check. On a GPU machine: make gpu-check GPU_PYTHON=<a Python whose torch has CUDA>"
        )
        return 2 if args.require_gpu else 0
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"gpu-check on {name} with torch {torch.__version__} ({sys.executable})", flush=True)

    env = {
        **os.environ,
        "SEQCOURSE_DEVICE": args.device,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    os.environ.update({k: env[k] for k in ("SEQCOURSE_DEVICE", "PYTHONPATH")})  # for the notebook kernels
    rows = []
    tests = [p.resolve() for p in args.tests] if args.tests is not None else package_tests()
    if tests:
        start = time.perf_counter()
        test_rows = run_tests(tests, env)
        rows += test_rows
        print(f"tests: {len(tests)} files in {time.perf_counter() - start:.0f} s", flush=True)
    chapters = (
        [p.resolve() for p in args.chapters]
        if args.chapters is not None
        else sorted((ROOT / "book").glob("*.ipynb"))
    )
    for path in chapters:
        rows.append(run_chapter(path, args.device, args.timeout))
        print(f"{rows[-1][0]}: {rows[-1][1]} ({rows[-1][2]:.0f} s)", flush=True)
    if not rows:
        print("gpu-check: nothing selected")
        return 0
    print(table(rows))
    failed = [r[0] for r in rows if r[1] != "ok"]
    print(
        f"gpu-check: {len(rows) - len(failed)} of {len(rows)} ok"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
