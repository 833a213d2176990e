"""Integrity probe that runs *inside* the grading kernel, around the student's code.

The grader adds a first cell that calls :func:`install` before any student code runs. ``install`` imports
the protected modules (numpy, torch, seqcourse's checkers, ...), snapshots the objects tests rely on —
check functions and their code objects, ``sys.modules`` entries, builtins, IPython's execution machinery
(AST/input transformers, event callbacks, ``run_cell`` and friends), ``sys.stdout``/``displayhook``/trace
functions — and stores a check function as ``builtins.__seqcourse_probe__``.

Before every graded test cell, and once at the end, the grader runs ``__seqcourse_probe__(nonce, where)``.
The check compares everything with the snapshot, *restores* what was changed (so the test runs against the
real functions and a wrong answer fails honestly) and reports each finding on the kernel's original stdout
as ``SEQCOURSE-PROBE <nonce> <json>``. It also reports user-defined classes whose comparison / conversion
dunders (``__eq__`` always True, ``__array__``, ``__torch_function__`` ...) can fool a test.

The grader treats a missing or malformed report as tampering (fail closed). This raises the bar a lot but
cannot be perfect: the tests run in the student's interpreter, so a student who studies this file could
still find ways around it; every finding goes to the instructor as status ``flagged``.
"""

from __future__ import annotations

import builtins
import importlib
import json
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["PROTECTED", "SUSPICIOUS_DUNDERS", "install", "MARKER"]

MARKER = "SEQCOURSE-PROBE"

# module -> attributes whose identity and code must not change
PROTECTED: dict[str, tuple[str, ...]] = {
    "numpy": (
        "allclose",
        "isclose",
        "array_equal",
        "array_equiv",
        "all",
        "any",
        "asarray",
        "array",
        "abs",
        "isfinite",
        "shape",
        "ndarray",
        "testing",
    ),
    "numpy.testing": (
        "assert_allclose",
        "assert_array_equal",
        "assert_array_almost_equal",
        "assert_equal",
        "assert_almost_equal",
        "assert_array_less",
        "assert_raises",
    ),
    "torch": ("allclose", "isclose", "equal", "testing", "as_tensor", "tensor", "Tensor", "is_tensor"),
    "torch.testing": ("assert_close",),
    "seqcourse.utils": ("check_shape", "check_ndim"),
    "math": ("isclose",),
}
SUSPICIOUS_DUNDERS = (
    "__eq__",
    "__ne__",
    "__bool__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__float__",
    "__array__",
    "__array_ufunc__",
    "__array_function__",
    "__torch_function__",
    "__abs__",
    "__sub__",
    "__rsub__",
)
_VOLATILE_BUILTINS = ("_", "__", "___", "input", "raw_input")  # ipykernel rebinds input per request
_SHELL_HOOKS = ("ast_transformers", "input_transformers_cleanup", "input_transformers_post")


def _code_of(obj: Any) -> Any:
    inner = getattr(obj, "__wrapped__", obj)
    return getattr(inner, "__code__", None)


def _user_class(cls: type) -> bool:
    mod = sys.modules.get(getattr(cls, "__module__", None) or "")
    if mod is None or mod.__name__ == "__main__":
        return True
    return getattr(mod, "__file__", None) is None and mod.__name__ not in sys.builtin_module_names


def install(modules: Iterable[str], shell: Any = None) -> Callable[[str, str], None]:
    """Snapshot the protected state and register ``builtins.__seqcourse_probe__``; return the check."""
    shell = shell if shell is not None else get_ipython()  # type: ignore[name-defined]  # noqa: F821
    cwd_entries = {"", "."}
    import os

    cwd_entries.add(os.getcwd())
    sys.path[:] = [p for p in sys.path if p not in cwd_entries]
    mods: dict[str, types.ModuleType] = {}
    for name in modules:
        try:
            mods[name] = importlib.import_module(name)
        except ImportError:
            continue
    attrs = {(m, a): getattr(mods[m], a) for m in mods for a in PROTECTED.get(m, ()) if hasattr(mods[m], a)}
    codes = {key: _code_of(obj) for key, obj in attrs.items()}
    defaults = {
        key: getattr(getattr(obj, "__wrapped__", obj), "__defaults__", None) for key, obj in attrs.items()
    }
    builtin_ns = dict(vars(builtins))
    shell_cls_dicts = [(cls, dict(vars(cls))) for cls in type(shell).__mro__ if cls is not object]
    hooks = {name: list(getattr(shell, name)) for name in _SHELL_HOOKS}
    callbacks = {ev: list(cbs) for ev, cbs in shell.events.callbacks.items()}
    sys_state = {name: getattr(sys, name) for name in ("stdout", "stderr", "displayhook")}
    shell_state = {
        name: getattr(shell, name)
        for name in ("displayhook", "display_pub", "input_transformer_manager", "compile", "user_ns")
    }
    shell_instance_keys = set(vars(shell))
    out = sys.stdout
    write, flush = type(out).write, type(out).flush
    dumps = json.dumps

    def check(nonce: str, where: str) -> None:
        findings: list[str] = []
        for name, mod in mods.items():
            if sys.modules.get(name) is not mod:
                findings.append(f"sys.modules[{name!r}] was replaced")
                sys.modules[name] = mod
            ns_val = shell.user_ns.get(name.rsplit(".", 1)[-1])
            if isinstance(ns_val, types.ModuleType) and ns_val is not mod and ns_val.__name__ == name:
                findings.append(f"module {name} in the notebook namespace is not the real one")
        for alias, name in (("np", "numpy"), ("torch", "torch"), ("math", "math")):
            val = shell.user_ns.get(alias)
            if name in mods and val is not None and val is not mods[name]:
                findings.append(f"name {alias!r} is bound to {type(val).__name__}, not the real {name}")
                shell.user_ns[alias] = mods[name]
        for (m, a), obj in attrs.items():
            cur = getattr(mods[m], a, None)
            if cur is not obj:
                findings.append(f"{m}.{a} was replaced")
                setattr(mods[m], a, obj)
            inner = getattr(obj, "__wrapped__", obj)
            if codes[(m, a)] is not None and getattr(inner, "__code__", None) is not codes[(m, a)]:
                findings.append(f"the code of {m}.{a} was replaced")
                inner.__code__ = codes[(m, a)]
            if getattr(inner, "__defaults__", None) != defaults[(m, a)]:
                findings.append(f"the defaults of {m}.{a} were changed")
                inner.__defaults__ = defaults[(m, a)]
            ns_val = shell.user_ns.get(a)
            if (
                callable(obj)
                and ns_val is not None
                and ns_val is not obj
                and callable(ns_val)
                and getattr(ns_val, "__module__", "") == "__main__"
            ):
                findings.append(f"the notebook defines its own {a!r} (shadows {m}.{a})")
        for key, val in list(vars(builtins).items()):
            if key in builtin_ns and builtin_ns[key] is not val and key not in _VOLATILE_BUILTINS:
                findings.append(f"builtins.{key} was replaced")
                setattr(builtins, key, builtin_ns[key])
        for cls, snapshot in shell_cls_dicts:
            for key, val in snapshot.items():
                if callable(val) and vars(cls).get(key) is not val:
                    findings.append(f"{cls.__name__}.{key} was replaced")
                    setattr(cls, key, val)
        for key in set(vars(shell)) - shell_instance_keys:
            if callable(vars(shell)[key]):
                findings.append(f"the shell's {key} was overridden")
                delattr(shell, key)
        for name, snapshot in hooks.items():
            if list(getattr(shell, name)) != snapshot:
                findings.append(f"IPython {name} were changed")
                getattr(shell, name)[:] = snapshot
        for ev, cbs in shell.events.callbacks.items():
            if list(cbs) != callbacks.get(ev, []):
                findings.append(f"IPython {ev!r} callbacks were changed")
                cbs[:] = callbacks.get(ev, [])
        for name, val in sys_state.items():
            if getattr(sys, name) is not val:
                findings.append(f"sys.{name} was replaced")
                setattr(sys, name, val)
        for name, val in shell_state.items():
            if getattr(shell, name) is not val:
                findings.append(f"the shell's {name} was replaced")
                setattr(shell, name, val)
        if sys.gettrace() is not None or sys.getprofile() is not None:
            findings.append("a trace or profile function was installed")
            sys.settrace(None)
            sys.setprofile(None)
        findings.extend(_suspicious_objects(shell.user_ns))
        write(out, f"{MARKER} {nonce} {dumps({'where': where, 'findings': findings})}\n")
        flush(out)

    builtins.__seqcourse_probe__ = check  # type: ignore[attr-defined]
    builtin_ns["__seqcourse_probe__"] = check
    return check


def _suspicious_objects(ns: dict[str, Any]) -> list[str]:
    """User-defined classes (in the namespace, or types of its values) overriding comparison dunders."""
    found: dict[str, str] = {}
    values: list[Any] = []
    for key, val in ns.items():
        if key.startswith("_"):
            continue
        values.append(val)
        if isinstance(val, (list, tuple, set, frozenset)):
            values.extend(list(val)[:100])
        elif isinstance(val, dict):
            values.extend(list(val.values())[:100])
    for val in values:
        cls = val if isinstance(val, type) else type(val)
        for base in getattr(cls, "__mro__", ()):
            if base is object or not _user_class(base):
                continue
            bad = [d for d in SUSPICIOUS_DUNDERS if d in vars(base)]
            if bad:
                found[base.__qualname__] = f"user-defined type {base.__qualname__} overrides {', '.join(bad)}"
    return sorted(found.values())
