"""Fast tests of the grading pieces that need no kernel: submission layouts, validation, sandbox helpers."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from seqcourse.grading.ingest import collect, load_notebook
from seqcourse.grading.pipeline import _dedupe, _read_probe, add_probes, interpret
from seqcourse.grading.report import strip_hidden_tests
from seqcourse.grading.runner import PROBE_KEY, RunResult
from seqcourse.grading.sandbox import Limits, kernel_argv, sensitive_paths

A = "a00_warmup"


def _nb_bytes(source: str = "x = 1") -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.cells[0]["id"] = "c1"  # deterministic bytes
    return nbformat.writes(nb).encode()


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for rel, data in files.items():
            zf.writestr(rel, data)
    return path


LAYOUTS = {
    "nbgrader": {
        f"alice/{A}/{A}.ipynb": _nb_bytes("a = 1"),
        f"bob/{A}/{A}.ipynb": _nb_bytes("b = 2"),
        f"bob/a01_other/{A}.ipynb": _nb_bytes("wrong"),
    },
    "per-student": {
        f"alice/{A}.ipynb": _nb_bytes("a = 1"),
        f"bob/{A}.ipynb": _nb_bytes("b = 2"),
        "bob/numpy.py": b"evil",
    },
    "wrapped": {
        f"submitted/alice/{A}/{A}.ipynb": _nb_bytes("a = 1"),
        f"submitted/bob/{A}/{A}.ipynb": _nb_bytes("b = 2"),
    },
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("as_zip", [False, True])
def test_collect_layouts_folder_and_zip(tmp_path, layout, as_zip):
    files = LAYOUTS[layout]
    src = _zip(tmp_path / "s.zip", files) if as_zip else _tree(tmp_path / "s", files)
    subs, _ = collect(src, A, [A])
    assert [s.student_id for s in subs] == ["alice", "bob"]
    assert subs[0].notebooks[A] == _nb_bytes("a = 1")
    assert subs[1].notebooks[A] == _nb_bytes("b = 2")
    assert not subs[0].problems and not subs[1].problems
    if layout == "per-student":
        assert subs[1].extra == ["numpy.py"]


def test_collect_flat_lms_pattern_and_digest(tmp_path):
    src = _tree(
        tmp_path / "s",
        {"alice_991_a00.ipynb": _nb_bytes("a"), "bob_992_a00.ipynb": _nb_bytes("b"), "readme.txt": b"x"},
    )
    subs, warnings = collect(src, A, [A], pattern=r"^(?P<student>[a-z]+)_\d+_")
    assert {s.student_id: s.notebooks[A] for s in subs} == {"alice": _nb_bytes("a"), "bob": _nb_bytes("b")}
    assert any("readme.txt" in w for w in warnings)
    assert subs[0].digest() != subs[1].digest()
    with pytest.raises(ValueError, match="group"):
        collect(src, A, [A], pattern=r"^[a-z]+_")


def test_collect_refuses_unsafe_zip_and_flags_missing_renamed(tmp_path):
    with pytest.raises(ValueError, match="unsafe path"):
        collect(_zip(tmp_path / "evil.zip", {f"../alice/{A}.ipynb": _nb_bytes()}), A, [A])
    subs, _ = collect(_tree(tmp_path / "s", {"alice/hw.ipynb": _nb_bytes(), "bob/x.txt": b""}), A, [A])
    assert "found hw.ipynb" in subs[0].problems[0]
    assert subs[1].problems == [f"missing notebook {A}.ipynb"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b"[1, 2]", "not a notebook"),
        (json.dumps({"nbformat": 3, "worksheets": []}).encode(), "nbformat 3"),
        (nbformat.writes(nbformat.v4.new_notebook()).encode(), "empty notebook"),
    ],
)
def test_load_notebook_reasons(raw, reason):
    nb, problem = load_notebook(raw)
    assert nb is None and reason in problem
    assert load_notebook(_nb_bytes())[1] is None


def test_sensitive_paths_keeps_only_the_import_path(tmp_path):
    for name in ("solutions", ".git", ".venv", "seqcourse", "gradebook.db"):
        (tmp_path / name).mkdir()
    hidden = sensitive_paths([tmp_path], keep=[tmp_path / ".venv" / "lib", tmp_path / "seqcourse"])
    assert sorted(Path(p).name for p in hidden) == [".git", "gradebook.db", "solutions"]


def test_limits_validate_and_reach_the_kernel_command():
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=0)
    argv = kernel_argv("/w", "/c", Limits(memory_mb=123, hide=("/secret",)), (1000, 1000))
    joined = " ".join(argv)
    assert "--memory-mb 123" in joined and "--hide /secret" in joined and "--uid 1000" in joined
    assert argv[argv.index("--") + 1 :][1] == "-I"  # the kernel never puts its cwd on sys.path


def _graded_nb():
    nb = nbformat.v4.new_notebook()
    meta = {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "a_test"}
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell(
            "assert x == 1\n### BEGIN HIDDEN TESTS\nassert x != 42\n### END HIDDEN TESTS",
            metadata={"nbgrader": meta},
        ),
    ]
    return nb


def _stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_interpret_fails_closed_on_missing_probe_and_unrun_tests():
    nb = add_probes(_graded_nb())
    kinds = [c.metadata.get(PROBE_KEY, {}).get("where") for c in nb.cells]
    assert kinds == ["setup", None, "a_test", None, "end"]
    test_idx, probe = 3, nb.cells[2].metadata[PROBE_KEY]
    nb.cells[2].outputs = [_stream('SEQCOURSE-PROBE wrongnonce {"where": "a_test", "findings": []}\n')]
    nb.cells[test_idx].outputs = [_stream("DeprecationWarning: old\n", "stderr")]
    graded, flags, _ = interpret(RunResult(nb=nb, completed={0, 1, 2, 3, 4}))
    assert any("did not report" in f for f in flags)  # a forged nonce counts as tampering
    assert [c.metadata.get(PROBE_KEY) for c in graded.cells] == [None, None]
    assert graded.cells[1].outputs[0].name == "stdout"  # a warning must not zero the test
    # a test cell that never ran (kernel died before it) must fail, not pass silently
    nb2 = add_probes(_graded_nb())
    graded2, flags2, _ = interpret(RunResult(nb=nb2, completed={0, 1}, died_at=2))
    assert graded2.cells[1].outputs[-1].ename == "NotExecuted"
    assert any("kernel died" in f for f in flags2)
    ok = {"where": "a_test", "findings": ["numpy.allclose was replaced"]}
    cell = nbformat.v4.new_code_cell("", metadata={PROBE_KEY: probe})
    cell.outputs = [_stream(f"SEQCOURSE-PROBE {probe['nonce']} {json.dumps(ok)}\n")]
    assert _read_probe(cell, probe) == ["before a_test: numpy.allclose was replaced"]
    assert _dedupe(["before a: x", "before b: x", "y"]) == ["before a: x", "y"]


def test_strip_hidden_tests_removes_lines_and_revealing_errors():
    nb = _graded_nb()
    nb.cells[1].outputs = [
        nbformat.v4.new_output(
            "error", ename="AssertionError", evalue="", traceback=["----> 3 assert x != 42", "AssertionError"]
        ),
        nbformat.v4.new_output("error", ename="AssertionError", evalue="got 41, expected 42", traceback=[]),
        _stream("visible ok\n"),
    ]
    clean = strip_hidden_tests(nb)
    text = json.dumps(clean)
    assert "x != 42" not in text and "BEGIN HIDDEN" not in text and "expected 42" not in text
    assert "assert x == 1" in clean.cells[1].source and "visible ok" in text
    assert "x != 42" in json.dumps(nb)  # the instructor's copy is untouched


def test_zip_members_are_read_not_extracted(tmp_path):
    src = _zip(tmp_path / "s.zip", {f"alice/{A}.ipynb": _nb_bytes()})
    before = sorted(p.name for p in tmp_path.iterdir())
    collect(src, A, [A])
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert io.BytesIO(src.read_bytes()).getbuffer().nbytes > 0
