"""Fast tests of the grading pieces that need no kernel: submission layouts, validation, sandbox helpers."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from seqcourse.grading import wire
from seqcourse.grading.engine import RunResult
from seqcourse.grading.ingest import collect, load_notebook
from seqcourse.grading.pipeline import interpret
from seqcourse.grading.report import strip_hidden_tests
from seqcourse.grading.rules import Forbid, Rules, load_rules
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


def test_collect_unsafe_members_and_symlinks_are_that_students_error(tmp_path):
    evil = {f"alice/../x/{A}.ipynb": _nb_bytes(), f"../{A}.ipynb": _nb_bytes(), f"bob/{A}.ipynb": _nb_bytes()}
    subs, warnings = collect(_zip(tmp_path / "evil.zip", evil), A, [A])
    assert [s.student_id for s in subs] == ["alice", "bob"]  # the run goes on; bob is untouched
    assert "unsafe path" in subs[0].problems[0] and not subs[1].problems
    assert any("'..'" in w for w in warnings)
    tree = _tree(tmp_path / "t", {f"bob/{A}.ipynb": _nb_bytes()})
    (tree / "carol").mkdir()
    (tree / "carol" / f"{A}.ipynb").symlink_to(tree / "bob" / f"{A}.ipynb")
    subs, _ = collect(tree, A, [A])
    assert "symbolic link" in subs[1].problems[0] and A not in subs[1].notebooks


def test_collect_keeps_every_folder_name_exactly(tmp_path):
    names = ["José Ñúñez", "-rf", "a;b $(x) `y`", "李雷", "o'neil & co"]
    subs, warnings = collect(_tree(tmp_path / "s", {f"{n}/{A}.ipynb": _nb_bytes() for n in names}), A, [A])
    assert sorted(s.student_id for s in subs) == sorted(names) and not warnings


def test_collect_flags_missing_renamed(tmp_path):
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


def test_interpret_fails_closed_on_unrun_tests():
    graded, flags, _ = interpret(RunResult(nb=_graded_nb(), completed={0}, died_at=1))
    assert graded.cells[1].outputs[-1].ename == "NotExecuted"  # a test that never ran cannot pass
    assert any("kernel died" in f for f in flags)


def _reply(value):
    return json.dumps({"ok": value})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100000 + "]" * 100000, "recursion|nested too deeply"),
        ('{"ok": ' + "[" * 40 + "]" * 40 + "}", "nested too deeply"),
        ('{"ok": {"$": "h", "id": "1"}}', "malformed handle"),
        ('{"ok": {"$": "pickle", "b": ""}}', "unknown tag"),
        ('{"ok": 1, "err": 2}', "is not"),
        ('{"ok": {"$": "nd", "b": "!!"}}', "invalid array"),
        ('{"ok": {"$": "t", "b": "", "dtype": "object"}}', "dtype"),
        ("x" * (wire.MAX_REPLY_BYTES + 1), "limit"),
    ],
)
def test_decoder_refuses_everything_but_data(text, message):
    with pytest.raises(wire.WireError, match=message):
        wire.decode(text)


def test_decoder_refuses_object_arrays():
    buf = io.BytesIO()
    np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
    node = {"$": "nd", "b": __import__("base64").b64encode(buf.getvalue()).decode()}
    with pytest.raises(wire.WireError, match="invalid array"):
        wire.decode(_reply(node))


def test_wire_round_trip_keeps_types():
    handles = []
    value = {
        "i": 3,
        "np": np.int64(4),
        "arr": np.arange(6.0).reshape(2, 3),
        "t": torch.ones(2, dtype=torch.float64, requires_grad=True) * 2,
        "tup": (1, "a", None, float("nan")),
        "obj": object(),
    }
    got = wire.decode(json.dumps({"ok": wire.encode(value, lambda o: handles.append(o) or len(handles))}))[
        "ok"
    ]
    assert type(got["np"]) is np.int64 and got["np"] == 4  # numpy scalars stay numpy scalars (not int)
    assert got["arr"].shape == (2, 3) and got["t"].dtype == torch.float64 and got["t"]._remote_grad
    assert got["tup"][:3] == (1, "a", None) and np.isnan(got["tup"][3])
    assert isinstance(got["obj"], wire.Handle) and handles[0] is value["obj"]


def test_rules_flag_forbidden_names_in_answer_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    answer = {"grade": False, "solution": True, "locked": False, "grade_id": "b_answer"}
    setup = {"grade": False, "solution": False, "locked": True, "grade_id": "setup"}
    nb.cells = [
        nbformat.v4.new_code_cell("import torch", metadata={"nbgrader": setup}),
        nbformat.v4.new_code_cell("g = torch.autograd.grad(y, x)", metadata={"nbgrader": answer}),
        nbformat.v4.new_code_cell("import importlib\nm = importlib.import_module('seqcourse.count')"),
    ]
    rules = Rules(("seqcourse.count",), (Forbid(("torch.autograd", "backward"), "by hand", ("b_answer",)),))
    flags = rules.static_flags(nb)
    assert any(f.startswith("b_answer: by hand") for f in flags)
    assert any("dynamic imports" in f for f in flags) and any(
        "implements this assignment" in f for f in flags
    )
    assert Rules().static_flags(_graded_nb()) == []
    (tmp_path / "grading_rules.toml").write_text('blocked_modules = ["a.b"]\n[[forbid]]\nnames = ["x"]\n')
    with pytest.raises(ValueError, match="reason"):
        load_rules(tmp_path)


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


def test_student_html_is_sanitised_and_instructor_cells_kept():
    from seqcourse.grading.report import sanitize_student_html

    nb = nbformat.v4.new_notebook()
    locked = {"grade": False, "solution": False, "locked": True, "grade_id": "intro"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("<b>task</b> <em>x</em>", metadata={"nbgrader": locked}),
        nbformat.v4.new_markdown_cell(
            "答案 **粗体** $x^2$ <img src=x onerror=alert(1)><script>alert(2)</script>"
        ),
        nbformat.v4.new_code_cell("x"),
    ]
    nb.cells[2].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": "<a href='javascript:alert(3)'>k</a>", "application/javascript": "alert(4)"},
        )
    ]
    text = json.dumps(sanitize_student_html(nb))
    assert "onerror" not in text and "<script" not in text and "javascript" not in text
    assert "<strong>粗体</strong>" in nb.cells[1].source and "$x^2$" in nb.cells[1].source
    assert nb.cells[0].source == "<b>task</b> <em>x</em>"
