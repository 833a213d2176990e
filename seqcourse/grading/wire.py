"""What crosses from the student process to the checker: data only, read by a strict decoder.

The student process answers every request with one JSON text built by :func:`encode`. The checker reads it
with :func:`decode`, which accepts exactly these shapes and nothing else:

- ``null``, bool, int, float, str: the same Python scalar; ``[...]``: a ``list``;
- ``{"$": "tuple", "v": [...]}``: a ``tuple`` (also ``set``, ``frozenset``);
- ``{"$": "dict", "v": [[k, v], ...]}``: a ``dict`` (also ``OrderedDict``, ``Counter``);
- ``{"$": "nd", "b": base64}``: a numeric ``numpy.ndarray`` or numpy scalar (``np.load(allow_pickle=False)``);
- ``{"$": "t", "b": base64, ...}``: a ``torch.Tensor`` (dtype by name; ``grad``: differentiable; ``g``: the
  ``.grad`` of a leaf, e.g. a parameter after the student's backward pass);
- ``{"$": "h", "id": int, ...}``: a :class:`Handle`, an opaque reference to an object in the student process.

Limits (:data:`MAX_REPLY_BYTES`, :data:`MAX_DEPTH`, :data:`MAX_ITEMS`) bound what one reply may cost; any
violation raises :class:`WireError`, which the checker turns into a failed test, never into a crash.
:func:`encode` runs in the student process (it is imported by :mod:`seqcourse.grading.agent`); nothing in
the checker trusts that it was used.
"""

from __future__ import annotations

import base64
import collections
import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Handle",
    "WireError",
    "encode",
    "decode",
    "FRAMES",
    "frame",
    "unframe",
    "MAX_REPLY_BYTES",
    "MAX_DEPTH",
    "MAX_ITEMS",
]

# the messages of the agent's socket: one frame, tag (1 byte) + request number (8 bytes, big-endian) + body
FRAMES = {
    "request": b"q",  # checker -> agent: a pickle; an empty body ends the serving execution
    "answer": b"a",  # checker -> agent: a pickle answering the agent's callback made for the request
    "reply": b"r",  # agent -> checker: JSON, the result of the request
    "callback": b"c",  # agent -> checker: JSON, run a checker function for the request
}


def frame(tag: str, seq: int, body: bytes) -> bytes:
    """One message of the agent's socket (see :data:`FRAMES`)."""
    return FRAMES[tag] + seq.to_bytes(8, "big") + body


def unframe(message: bytes) -> tuple[bytes, int, bytes]:
    """``(tag, request number, body)`` of a message; a message too short to hold them has tag ``b""``."""
    if len(message) < 9:
        return b"", -1, b""
    return message[:1], int.from_bytes(message[1:9], "big"), message[9:]


MAX_REPLY_BYTES = 256 << 20  # one reply; larger ones are refused unread
MAX_DEPTH = 32  # nesting of containers
MAX_ITEMS = 1_000_000  # containers + scalars in one reply
MAX_STR = 16 << 20  # characters of one string
_NUMERIC_KINDS = set("biufc")  # bool, int, uint, float, complex: never object, void or str arrays
_TORCH_DTYPES = (
    "float64 float32 float16 bfloat16 int64 int32 int16 int8 uint8 bool complex64 complex128".split()
)
_EXCEPTIONS = {
    e.__name__: e
    for e in (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        ZeroDivisionError,
        NotImplementedError,
        RuntimeError,
        AssertionError,
        ArithmeticError,
        OverflowError,
        LookupError,
        StopIteration,
        RecursionError,
        MemoryError,
        NameError,
        ImportError,
        ModuleNotFoundError,
    )
}


class WireError(Exception):
    """A reply from the student process broke the protocol or a limit."""


@dataclass(frozen=True)
class Handle:
    """An object that stays in the student process: ``id`` indexes its table there, the rest is display."""

    id: int
    type: str
    callable: bool


# ----------------------------------------------------------------------------------- student side
def _npy(array: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, np.array(array, copy=True, order="C"), allow_pickle=False)  # keeps 0-d arrays 0-d
    return base64.b64encode(buf.getvalue()).decode("ascii")


def encode(value: Any, handle: Any, depth: int = 0) -> Any:
    """JSON-ready form of ``value``; ``handle(obj)`` registers a non-data object and returns its id."""
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value if abs(value) < 1 << 63 else {"$": "bigint", "v": str(value)}
    if type(value) is float:
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply to send")
    if isinstance(value, np.generic) and value.dtype.kind in _NUMERIC_KINDS:
        return {"$": "nd", "b": _npy(np.asarray(value)), "scalar": True}
    if type(value) is np.ndarray and value.dtype.kind in _NUMERIC_KINDS:
        return {"$": "nd", "b": _npy(value)}
    torch = _torch()
    if torch is not None and isinstance(value, torch.Tensor) and str(value.dtype)[6:] in _TORCH_DTYPES:
        t = value.detach().cpu()
        name = str(t.dtype)[6:]
        if t.layout != torch.strided:
            t = t.to_dense()
        arr = t.float().numpy() if name == "bfloat16" else t.resolve_conj().numpy()
        node = {
            "$": "t",
            "b": _npy(arr),
            "dtype": name,
            "param": isinstance(value, torch.nn.Parameter),
            "grad": bool(value.requires_grad),
        }
        if value.is_leaf and isinstance(value.grad, torch.Tensor):  # a parameter's gradient travels with it
            node["g"] = encode(value.grad, handle, depth + 1)
        return node
    if type(value) in (list, tuple, set, frozenset):
        items = [encode(v, handle, depth + 1) for v in value]
        return items if type(value) is list else {"$": type(value).__name__, "v": items}
    # by value, except a namespace (fn.__globals__), which stays a handle asked name by name
    if type(value) in (dict, collections.OrderedDict, collections.Counter) and "__builtins__" not in value:
        pairs = [[encode(k, handle, depth + 1), encode(v, handle, depth + 1)] for k, v in value.items()]
        return {"$": "dict", "kind": type(value).__name__, "v": pairs}
    return {
        "$": "h",
        "id": handle(value),
        "type": f"{type(value).__module__}.{type(value).__qualname__}"[:200],
        "callable": callable(value),
    }


def _torch() -> Any:
    import sys

    return sys.modules.get("torch")


# ----------------------------------------------------------------------------------- checker side
class _Budget:
    def __init__(self) -> None:
        self.items = 0

    def spend(self) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise WireError(f"reply has more than {MAX_ITEMS} items")


def _load_npy(b64: Any) -> np.ndarray:
    if not isinstance(b64, str):
        raise WireError("array payload is not a string")
    try:
        array = np.load(io.BytesIO(base64.b64decode(b64, validate=True)), allow_pickle=False)
    except Exception as err:  # malformed header, truncated data, object dtype refused
        raise WireError(f"invalid array payload: {err}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in _NUMERIC_KINDS:
        raise WireError(f"array of dtype {getattr(array, 'dtype', '?')} is not numeric")
    return array


def _tensor(node: dict) -> Any:
    import torch

    dtype = node.get("dtype")
    if dtype not in _TORCH_DTYPES:
        raise WireError(f"unknown tensor dtype {dtype!r}")
    t = torch.from_numpy(_load_npy(node.get("b")).copy()).to(getattr(torch, dtype))
    if node.get("param") is True:
        t = torch.nn.Parameter(t, requires_grad=bool(node.get("grad")))
    if node.get("grad") is True:
        t._remote_grad = True  # an output the student's graph can differentiate (see checker._attach_graph)
    if isinstance(node.get("g"), dict) and node["g"].get("$") == "t":
        grad = _tensor(node["g"])
        if grad.shape != t.shape or grad.dtype != t.dtype:
            raise WireError("a gradient does not match its tensor")
        t.grad = grad
    return t


def _key(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise WireError(f"unhashable {type(value).__name__} used as a dict key or set item") from None
    return value


def _decode(node: Any, budget: _Budget, depth: int) -> Any:
    budget.spend()
    if depth > MAX_DEPTH + 2:
        raise WireError("reply nested too deeply")
    if node is None or type(node) in (bool, int, float):
        return node
    if type(node) is str:
        if len(node) > MAX_STR:
            raise WireError("string too long")
        return node
    if type(node) is list:
        return [_decode(v, budget, depth + 1) for v in node]
    if type(node) is not dict:
        raise WireError(f"unexpected JSON value {type(node).__name__}")
    tag = node.get("$")
    if tag == "nd":
        array = _load_npy(node.get("b"))
        return array[()] if node.get("scalar") is True and array.ndim == 0 else array
    if tag == "t":
        return _tensor(node)
    if tag in ("tuple", "set", "frozenset"):
        items = node.get("v")
        if type(items) is not list:
            raise WireError(f"{tag} without items")
        values = [_decode(v, budget, depth + 1) for v in items]
        if tag == "tuple":
            return tuple(values)
        return {"set": set, "frozenset": frozenset}[tag](_key(v) for v in values)
    if tag == "dict":
        pairs = node.get("v")
        if type(pairs) is not list or not all(type(p) is list and len(p) == 2 for p in pairs):
            raise WireError("dict without [key, value] pairs")
        kind = {"OrderedDict": collections.OrderedDict, "Counter": collections.Counter}.get(
            node.get("kind"), dict
        )
        out = kind()
        for k, v in pairs:
            out[_key(_decode(k, budget, depth + 1))] = _decode(v, budget, depth + 1)
        return out
    if tag == "h":
        hid, typ = node.get("id"), node.get("type")
        if type(hid) is not int or type(typ) is not str:
            raise WireError("malformed handle")
        return Handle(hid, typ[:200], node.get("callable") is True)
    if tag == "bigint" and type(node.get("v")) is str and len(node["v"]) < 4000:
        try:
            return int(node["v"])
        except ValueError:
            raise WireError("malformed big int") from None
    if tag == "float" and node.get("v") in ("nan", "inf", "-inf"):
        return float(node["v"])
    raise WireError(f"unknown tag {tag!r}")


def decode(text: Any) -> Any:
    """Parse one reply ``{"ok": value}`` / ``{"err": [name, message]}``; else :class:`WireError`."""
    if not isinstance(text, str):
        raise WireError("reply is not text")
    if len(text) > MAX_REPLY_BYTES:
        raise WireError(f"reply of {len(text)} bytes is over the {MAX_REPLY_BYTES} limit")
    try:
        node = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise WireError(f"reply is not valid JSON: {str(err)[:200]}") from None
    if type(node) is not dict or len(node) != 1 or not ({"ok", "err"} & set(node)):
        raise WireError("reply is not {'ok': value} or {'err': [name, message]}")
    try:
        return {k: _decode(v, _Budget(), 0) for k, v in node.items()}
    except RecursionError:
        raise WireError("reply nested too deeply") from None


def remote_exception(name: Any, message: Any) -> Exception:
    """The checker-side exception for an exception raised by student code (builtin types keep their type)."""
    text = f"{str(message)[:2000]} (raised in the student's code)"
    cls = _EXCEPTIONS.get(name) if isinstance(name, str) else None
    if cls is None:
        return RuntimeError(f"{str(name)[:100]}: {text}")
    if cls is AssertionError:  # an assert inside the answer is the answer failing, not the test
        return RuntimeError(f"AssertionError: {text}")
    return cls(text)
