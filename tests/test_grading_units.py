"""Fast tests of the grading pieces that need no kernel: submission layouts, validation, sandbox helpers."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from seqcourse.grading import sandbox, wire
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
    tree = _tree(tmp_path / "t", {f"bob/{A}.ipynb": _nb_bytes(), f"dave/{A}/{A}.ipynb": _nb_bytes()})
    (tree / "carol").mkdir()
    (tree / "carol" / f"{A}.ipynb").symlink_to(tree / "bob" / f"{A}.ipynb")
    (tree / "erin").symlink_to(tree / "bob")  # a whole folder linked to a classmate's
    (tree / "frank").mkdir()
    (tree / "frank" / A).symlink_to(tree / "dave" / A)  # the assignment folder linked
    (tree / "gina").mkdir()  # empty
    subs, warnings = collect(tree, A, [A])
    by_id = {s.student_id: s for s in subs}
    assert sorted(by_id) == ["bob", "carol", "dave", "erin", "frank", "gina"] and not warnings
    assert by_id["carol"].problems == [f"{A}.ipynb: a symbolic link, refused (never followed)"]
    assert by_id["erin"].problems == ["erin: a symbolic link to a folder, refused (never followed)"]
    assert by_id["frank"].problems == [f"{A}: a symbolic link to a folder, refused (never followed)"]
    assert by_id["gina"].problems == [f"no notebook {A}.ipynb in the submission (the folder is empty)"]
    assert not by_id["bob"].problems and not by_id["dave"].problems
    assert not any(by_id[s].notebooks for s in ("carol", "erin", "frank", "gina"))


def test_collect_empty_and_linked_folders_in_a_zip_get_a_row(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"alice/{A}/{A}.ipynb", _nb_bytes())
        zf.writestr("bob/", b"")  # an empty folder, as zip tools store it
        for name, target in (("carol", "alice"), (f"dave/{A}.ipynb", f"../alice/{A}/{A}.ipynb")):
            link = zipfile.ZipInfo(name)
            link.external_attr = 0o120777 << 16  # a symbolic link, as `zip --symlinks` stores it
            zf.writestr(link, target)
    subs, _ = collect(path, A, [A])
    assert [s.student_id for s in subs] == ["alice", "bob", "carol", "dave"]
    assert subs[1].problems == [f"no notebook {A}.ipynb in the submission (the folder is empty)"]
    assert subs[2].problems == ["carol: a symbolic link to a folder, refused (never followed)"]
    assert subs[3].problems == [f"{A}.ipynb: a symbolic link, refused (never followed)"]


def test_collect_keeps_every_folder_name_exactly(tmp_path):
    names = ["José Ñúñez", "-rf", "a;b $(x) `y`", "李雷", "o'neil & co"]
    subs, warnings = collect(_tree(tmp_path / "s", {f"{n}/{A}.ipynb": _nb_bytes() for n in names}), A, [A])
    assert sorted(s.student_id for s in subs) == sorted(names) and not warnings


def test_collect_flags_missing_renamed(tmp_path):
    subs, _ = collect(_tree(tmp_path / "s", {"alice/hw.ipynb": _nb_bytes(), "bob/x.txt": b""}), A, [A])
    assert "found hw.ipynb" in subs[0].problems[0]
    assert subs[1].problems == [f"no notebook {A}.ipynb in the submission"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b"[1, 2]", "not a notebook"),
        (b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (json.dumps({"nbformat": 3, "worksheets": []}).encode(), "nbformat 3"),
        (nbformat.writes(nbformat.v4.new_notebook()).encode(), "empty notebook"),
    ],
)
def test_load_notebook_reasons(raw, reason):
    nb, problem = load_notebook(raw)
    assert nb is None and reason in problem
    assert load_notebook(_nb_bytes())[1] is None


def test_sensitive_paths_keeps_only_the_import_path(tmp_path):
    for name in ("solutions", "tests", ".git", "seqcourse", "gradebook.db", "shared-venv"):
        (tmp_path / name).mkdir()
    (tmp_path / ".venv").symlink_to(tmp_path / "shared-venv")  # a linked venv stays reachable
    hidden = sensitive_paths([tmp_path], keep=[tmp_path / "shared-venv" / "lib", tmp_path / "seqcourse"])
    assert sorted(Path(p).name for p in hidden) == [".git", "gradebook.db", "solutions", "tests"]
    (tmp_path / "shared-venv" / "lib").mkdir()
    assert sensitive_paths([tmp_path / "shared-venv"], keep=[tmp_path]) == []  # inside a kept path


def _after(argv: list[str], *flags: str) -> list[str]:
    """The operands of every occurrence of the option sequence ``flags`` in ``argv``."""
    n = len(flags)
    return [argv[i + n] for i in range(len(argv) - n) if tuple(argv[i : i + n]) == flags]


def test_limits_validate_and_reach_the_kernel_command(monkeypatch):
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=0)
    monkeypatch.setattr(sandbox, "isolation_plan", lambda: (False, "no bubblewrap"))
    argv = kernel_argv("/w", "/c", Limits(memory_mb=123, hide=("/secret",)), (1000, 1000), cgroup="k-1")
    joined = " ".join(argv)
    assert argv[4] == "drop" and "bwrap" not in joined  # the only stage: limits, cgroup, uid drop
    assert "--memory-mb 123" in joined and "--cgroup k-1" in joined and "--uid 1000" in joined
    assert argv[argv.index("--") + 1 :][1] == "-I"  # the kernel never puts its cwd on sys.path


def test_bubblewrap_command_isolates_and_hides(tmp_path, monkeypatch):
    secret_dir, secret_file = tmp_path / "solutions", tmp_path / "gradebook.db"
    secret_dir.mkdir()
    secret_file.write_text("x")
    (tmp_path / "link").symlink_to(secret_dir)
    work, ctl = "/run/seqgrade/s-1/k-2/work", "/run/seqgrade/s-1/k-2/ctl"
    monkeypatch.setattr(sandbox, "isolation_plan", lambda: (True, "bubblewrap"))
    assert set(sandbox.FRESH_DIRS) == {"/tmp", "/var/tmp", "/dev/shm", "/run"}
    monkeypatch.setattr(sandbox, "FRESH_DIRS", ("/var/tmp", "/dev/shm", "/run"))  # tmp_path is under /tmp
    limits = Limits(hide=(str(secret_dir), str(secret_file), str(tmp_path / "link"), "/nonexistent/x"))
    argv = kernel_argv(work, ctl, limits, (1000, 1000), cgroup="k-2")
    stages = [i for i, a in enumerate(argv) if a in ("enter", "drop")]
    bwrap = argv.index(next(a for a in argv if a.endswith("bwrap")))
    assert [argv[i] for i in stages] == ["enter", "drop"] and stages[0] < bwrap < stages[1]
    assert "--cgroup" in argv[:bwrap] and "--cgroup" not in argv[stages[1] :]  # joined before bwrap
    assert "--uid" in argv[stages[1] :]  # the slot user is taken inside the sandbox
    opts = argv[bwrap + 1 : stages[1]]
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"):
        assert flag in opts, flag
    assert "--new-session" not in opts  # it would put the kernel out of reach of the engine's interrupt
    assert _after(opts, "--ro-bind", "/")[0] == "/" and opts.index("--ro-bind") < opts.index("--tmpfs")
    fresh = [p for p in sandbox.FRESH_DIRS if os.path.isdir(p) and not os.path.islink(p)]
    assert "/dev/shm" in fresh and set(_after(opts, "--tmpfs")) >= set(fresh)
    for path in fresh:
        assert path in _after(
            opts, "--perms", "1777" if path != "/run" else "0755", "--size", str(256 * 2**20), "--tmpfs"
        )
    assert str(secret_dir) in _after(opts, "--perms", "0000", "--size", "4096", "--tmpfs")
    assert _after(opts, "--ro-bind", "/dev/null").count(str(secret_file)) == 1
    assert "/nonexistent/x" not in opts and str(tmp_path / "link") not in opts  # a link hides its target once
    assert _after(opts, "--bind", work) == [work] and _after(opts, "--bind", ctl) == [
        ctl
    ]  # same paths inside
    assert _after(opts, "--perms", "0711", "--dir")[:3] == [
        "/run/seqgrade",
        "/run/seqgrade/s-1",
        "/run/seqgrade/s-1/k-2",
    ]
    last_hide = max(i for i, a in enumerate(opts) if a in (str(secret_dir), str(secret_file)))
    assert last_hide < opts.index(work)  # nothing hidden afterwards covers the kernel's own folders


def test_a_course_kept_in_tmp_is_bound_back_into_the_private_tmp(monkeypatch):
    """A checkout in an open folder of /tmp, which every sandbox replaces by its own empty tmpfs: under a real
    bubblewrap the interpreter's folder is bound back (read-only), and nothing else of that folder is."""
    if not sandbox.isolation_plan()[0]:
        pytest.skip(f"bubblewrap is not used here: {sandbox.isolation_plan()[1]}")
    course = Path(tempfile.mkdtemp(prefix="course-", dir="/tmp"))
    base = sandbox.make_base_dir()
    try:
        os.chmod(course, 0o755)  # open to everyone: no closed ancestor binds it back
        venv, key = course / ".venv", course / "solutions" / "key.txt"
        for folder in (venv, key.parent):
            folder.mkdir()
        (venv / "python").write_text("the interpreter\n")
        key.write_text("the answers\n")
        work, ctl = os.path.join(base, "work"), os.path.join(base, "ctl")
        for folder in (work, ctl):
            os.mkdir(folder)
        monkeypatch.setattr(sandbox, "_needed_paths", lambda: [str(venv)])
        args = sandbox.bwrap_args(work, ctl, ())
        # as an unprivileged user, like the kernel (the folders leading to the bound one must be open to it)
        nobody = "setpriv --reuid 65534 --regid 65534 --clear-groups"
        script = f"{nobody} cat {venv}/python; ls -A {course}; touch {venv}/x 2>/dev/null || echo read-only"
        bwrap = shutil.which("bwrap") or "bwrap"
        run = subprocess.run([bwrap, *args, "--", "sh", "-c", script], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert run.stdout.split("\n") == ["the interpreter", ".venv", "read-only", ""]
    finally:
        shutil.rmtree(course)
        shutil.rmtree(base)


def test_kernel_process_finds_the_innermost_child():
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    outer = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(100):
            inner = sandbox.kernel_process(outer.pid)
            if inner != outer.pid:
                break
            time.sleep(0.05)
        with open(f"/proc/{inner}/stat") as fh:
            assert int(fh.read().rsplit(")", 1)[1].split()[1]) == outer.pid  # its parent is the outer one
    finally:
        outer.kill()
        outer.wait()
        if inner != outer.pid:
            os.kill(inner, 9)


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
    assert any("dynamic imports" in f for f in flags) and any("this assignment blocks" in f for f in flags)
    assert Rules().static_flags(_graded_nb()) == []
    (tmp_path / "grading_rules.toml").write_text('blocked_modules = ["a.b"]\nhidden_modules = ["c"]\n')
    loaded = load_rules(tmp_path)
    assert loaded.hidden_modules == ("c",) and {"a.b", "c"} <= set(loaded.blocked_modules)
    (tmp_path / "grading_rules.toml").write_text('blocked_modules = ["a.b"]\n[[forbid]]\nnames = ["x"]\n')
    with pytest.raises(ValueError, match="reason"):
        load_rules(tmp_path)


@pytest.mark.parametrize(
    "source",
    [
        'hook = globals()["__seq" + "course_agent__"]',
        'imp = vars(__builtins__)["__imp" + "ort__"]',
        "import sys\nns = sys._getframe(1).f_globals",
        "import sys\nframes = sys._current_frames()",
        "import inspect\nns = inspect.currentframe().f_back.f_locals",
        "ip = get_ipython()",
        "import gc\nobjs = gc.get_objects()",
        "subs = object.__subclasses__()",
        "g = f.__globals__",
        'exec("x = 1")',
    ],
)
def test_rules_flag_introspection_that_can_reach_the_agent(source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [_answer("a_answer", source)]
    assert any("introspection" in f for f in Rules().static_flags(nb)), source


def test_rules_do_not_flag_ordinary_answers_for_introspection():
    nb = nbformat.v4.new_notebook()
    source = "model.eval()\nvalues = {k: v for k, v in params.items()}\nx = getattr(m, 'W')"
    nb.cells = [_answer("a_answer", source)]
    assert Rules().static_flags(nb) == []


def _answer(grade_id: str, source: str) -> nbformat.NotebookNode:
    meta = {"grade": False, "solution": True, "locked": False, "grade_id": grade_id}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


BY_HAND = Rules((), (Forbid(("torch", "backward"), "by hand", ("b_answer",)),))


@pytest.mark.parametrize(
    ("cells", "flagged"),
    [
        # the protected answer itself
        ([_answer("b_answer", "def grad(x):\n    return torch.autograd.grad(x)")], ["b_answer"]),
        # autograd moved to a cell the student added; the answer only calls it
        (
            [
                _answer("b_answer", "def grad(x):\n    return _helper(x)"),
                nbformat.v4.new_code_cell("import torch\ndef _unused():\n    loss.backward()"),
            ],
            ["cell 1"],
        ),
        # helpers defined in other (unprotected) answer cells, used by the protected one through a chain
        (
            [
                _answer("b_answer", "def grad(x):\n    return _h(x)"),
                _answer("c_answer", "def _h(x):\n    return _g(x)"),
                _answer("d_answer", "def _g(x):\n    return x.backward()"),
            ],
            ["d_answer"],
        ),
        # the protected function written again in another answer cell (the later definition wins)
        (
            [
                _answer("b_answer", "def grad(x):\n    raise NotImplementedError"),
                _answer("c_answer", "_T = torch\ndef grad(x):\n    return _T.autograd.grad(x)"),
            ],
            ["c_answer"],
        ),
        # another answer may use torch for itself, and may import what the protected one uses
        (
            [
                _answer("b_answer", "def grad(x):\n    return np.gradient(x)"),
                _answer(
                    "c_answer",
                    "import numpy as np\nimport torch\ndef count(m):\n    return torch.nn.LSTM(m, m)",
                ),
            ],
            [],
        ),
    ],
    ids=["answer", "added-cell", "helper-elsewhere", "redefined-elsewhere", "other-answer-free"],
)
def test_forbid_rules_follow_the_code_wherever_the_student_puts_it(cells, flagged):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    assert [f.split(":")[0] for f in BY_HAND.static_flags(nb)] == flagged


def test_unchanged_instructor_cells_are_not_the_students():
    demo = "import torch\nprint(torch.nn.LSTM(2, 3))"  # an unlocked cell of the assignment itself
    source, nb = nbformat.v4.new_notebook(), nbformat.v4.new_notebook()
    source.cells = [nbformat.v4.new_code_cell(demo)]
    nb.cells = [nbformat.v4.new_code_cell(demo)]
    rules = Rules((), (Forbid(("torch",), "by hand"),))
    assert rules.static_flags(nb, source) == [] and rules.static_flags(nb) != []
    nb.cells[0].source = demo + "\nloss.backward()"  # once changed, it is the student's
    assert rules.static_flags(nb, source) == ["cell 0: by hand (uses torch, torch.nn, torch.nn.LSTM)"]


def test_blocked_modules_hidden_paths_cover_files_packages_and_bytecode():
    import seqcourse.count

    paths = Rules(hidden_modules=("seqcourse.count", "json", "no_such_module_here")).hidden_paths()
    assert Rules(("seqcourse.count",)).hidden_paths() == []  # blocked only: the checker may still send it
    assert paths[0] == seqcourse.count.__file__
    assert all(Path(p).name.startswith("count.") for p in paths[1:-1])  # its __pycache__ files
    assert Path(paths[-1]).name == "json" and Path(paths[-1]).is_dir()


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
