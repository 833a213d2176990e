"""The checker: runs the instructor's test cells against proxies of the student's objects.

Test cells execute here, in the grader's process, with :func:`exec` on a :class:`Namespace`. A name the
tests use that the checker does not define (a student's function, class or variable) is looked up in the
student process; what comes back is data (decoded by :mod:`seqcourse.grading.wire`) or a
:class:`RemoteObject` whose attributes, items and calls are again requests to the student process. Every
``assert``, ``np.allclose`` and comparison therefore runs here, on data, never in the student's interpreter.

Semantics kept from a single interpreter, so that the course's tests run unchanged:

- arguments travel as pickles made here (tensors, arrays, generators, modules); tensors, arrays and
  generators changed in place by the student's code are copied back;
- gradients: a result computed from tensors that require grad is wrapped in :class:`_RemoteGrad`, so
  ``.backward()`` here runs the student's backward pass there and returns the gradients as data;
- the global torch RNG state is sent when the checker moved it (``torch.manual_seed`` in a test seeds the
  student's call);
- assigning a checker function to a student's global (the tests swap a reference implementation in) installs
  a callback: the student's code calls it through the channel, gradients included;
- ``inspect.getsource`` of a proxy asks the student process for the source text.
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import functools
import inspect
import io
import os
import pickle
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import zmq

from seqcourse.grading.wire import (
    FRAMES,
    MAX_REPLY_BYTES,
    Handle,
    WireError,
    decode,
    frame,
    remote_exception,
    unframe,
)

__all__ = ["Session", "Namespace", "RemoteObject", "RemoteError", "run_test_cell"]

# functions of these packages (and of the course's package: reference implementations a test swaps in)
# travel by name and run in the student process; every other checker function is a callback
_BY_REFERENCE = ("torch", "numpy", "math", "builtins", "operator", "functools", "collections", "random")
MAX_LIST = 100_000
_FROM_AGENT = (FRAMES["reply"], FRAMES["callback"])


class RemoteError(RuntimeError):
    """The student process broke the protocol, timed out or died during a request."""


class RemoteObject:
    """An object living in the student process; every use is a request that returns data or a proxy."""

    __slots__ = ("_session", "_handle")

    def __init__(self, session: Session, handle: Handle) -> None:
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_handle", handle)

    @property
    def __module__(self) -> Any:  # type: ignore[override]  # tests read fn.__module__: ask the student's
        return self._session.request("getattr", self._handle.id, "__module__")

    @property
    def __doc__(self) -> Any:  # type: ignore[override]
        return self._session.request("getattr", self._handle.id, "__doc__")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_repr_") or name in ("__array__", "__array_interface__", "__torch_function__"):
            raise AttributeError(name)  # never let a library treat a proxy as its own kind of object
        session = self._session
        if (self._handle.type, name) in session.methods:
            return RemoteMethod(self, name)
        value = session.request("getattr", self._handle.id, name)
        if isinstance(value, RemoteObject) and value._handle.type in _BOUND_METHODS:
            session.methods.add((self._handle.type, name))  # next time: one round trip per call
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        self._session.request("setattr", self._handle.id, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.call(self._handle.id, None, args, kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self._session.request("getitem", self._handle.id, key)

    def __len__(self) -> int:
        n = self._session.request("len", self._handle.id)
        if type(n) is not int or n < 0:
            raise TypeError(f"len() of a student object returned {n!r}")
        return n

    def __iter__(self) -> Any:
        items = self._session.request("list", self._handle.id, MAX_LIST)
        if not isinstance(items, list):
            raise TypeError("iterating a student object did not give a list")
        return iter(items)

    def __repr__(self) -> str:
        return f"<student object of type {self._handle.type}>"


_BOUND_METHODS = ("builtins.method", "builtins.builtin_function_or_method", "builtins.method-wrapper")


class RemoteMethod:
    """``obj.name`` where ``name`` is a method of ``obj``'s class: calling it is one request, not two.

    Anything else done with it (``fn.__name__``, passing it on) resolves the bound method first.
    """

    __slots__ = ("_owner", "_name", "_resolved")

    def __init__(self, owner: RemoteObject, name: str) -> None:
        self._owner, self._name, self._resolved = owner, name, None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        owner = self._owner
        return owner._session.call(owner._handle.id, self._name, args, kwargs)

    def _resolve(self) -> Any:
        if self._resolved is None:
            owner = self._owner
            self._resolved = owner._session.request("getattr", owner._handle.id, self._name)
        return self._resolved

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolve(), name)

    def __repr__(self) -> str:
        return f"<student method {self._name} of type {self._owner._handle.type}>"


def _getsource_patch(original: Callable) -> Callable:
    def getsource(obj: Any) -> str:
        if isinstance(obj, RemoteMethod):
            obj = obj._resolve()
        if isinstance(obj, RemoteObject):
            text = obj._session.request("source", obj._handle.id)
            if not isinstance(text, str):
                raise TypeError("no source text for this student object")
            return text
        return original(obj)

    getsource.__wrapped__ = original  # type: ignore[attr-defined]
    return getsource


if not hasattr(inspect.getsource, "__wrapped__"):
    inspect.getsource = _getsource_patch(inspect.getsource)


class Session:
    """One student kernel seen from the checker: requests over the agent's socket at ``ipc://channel``
    (:data:`seqcourse.grading.wire.FRAMES`), one serving execution per test cell over the kernel's shell
    channel, and what the student prints over iopub."""

    def __init__(self, kc: Any, km: Any, timeout: float, channel: str) -> None:
        self.kc, self.km, self.timeout = kc, km, timeout
        self.sock = zmq.Context.instance().socket(zmq.PAIR)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_BYTES)  # a larger frame drops the connection unread
        self.sock.rcvhwm = 4  # what the student process can queue here unasked, with the size cap above
        # connected once, before any student code runs: never again to whatever is at that path later (the
        # student can replace the socket file, e.g. by a link to another service's socket)
        self.sock.setsockopt(zmq.RECONNECT_IVL, -1)
        self.sock.connect(f"ipc://{channel}")
        self.seq = 0  # number of the last request sent
        self.callbacks: dict[int, Callable] = {}
        self.output: list[str] = []  # what the student's code printed during requests
        self.output_chars = 0
        self.max_output_chars = 1 << 20
        self.requests = 0
        self.seconds = 0.0
        self.dead = False
        self.pending = False  # a serving execution waits for our next request
        self.msg_id = ""
        self.timed_out = False
        self.rng_sent = b""
        self.methods: set[tuple[str, str]] = set()  # (student type, attribute) known to be methods
        self.functions: dict[str, RemoteObject] = {}  # student globals that are callables, per test cell
        # checker modules the student process holds a copy of: id -> (module, fingerprint, number)
        self.mirrors: dict[int, tuple[Any, tuple, int]] = {}
        self._whole = False  # pickling a module whole: its submodules travel inside it
        self.next_mirror = 0

    # ----------------------------------------------------------------------------------- pickling
    def _pickle(self, obj: Any, leaves: list) -> bytes:
        session = self

        class Pickler(pickle.Pickler):
            def persistent_id(self, value: Any) -> Any:
                return session._pid(value, leaves)

        buf = io.BytesIO()
        Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
        return buf.getvalue()

    def _pid(self, value: Any, leaves: list) -> Any:
        if type(value) in _PLAIN:  # most of what a pickle holds: decided without a lookup
            return None
        if isinstance(value, RemoteMethod):
            value = value._resolve()
        if isinstance(value, RemoteObject):
            if value._session is not self:
                raise RemoteError("an object of another student's process cannot be passed here")
            return ("h", value._handle.id)
        if type(value) is np.ndarray:
            leaves.append(value)
            return ("nd", _npy_bytes(value))
        torch = _torch()
        if torch is not None:
            if isinstance(value, torch.Tensor):
                t = value.detach().cpu()
                name = str(t.dtype)[6:]
                array = t.float().numpy() if name == "bfloat16" else t.resolve_conj().numpy()
                leaves.append(value)
                is_param = isinstance(value, torch.nn.Parameter)
                return ("t", _npy_bytes(array), name, bool(value.requires_grad), is_param)
            if type(value) is torch.Generator:
                leaves.append(value)
                return ("gen", _npy_bytes(value.get_state().numpy()))
            if isinstance(value, torch.nn.Module) and not self._whole:
                if type(value).__module__ != "__main__":
                    return self._module_pid(value, leaves)
        if isinstance(value, _FUNCTIONS):
            return None if _by_reference(value) else ("cb", self._register(value))
        if isinstance(value, type):
            return ("cb", self._register(value)) if value.__module__ == "__main__" else None
        if str(getattr(type(value), "__module__", "")) == "__main__":
            return ("cbo", self._register(value))  # a test's own object stays here: attributes are callbacks
        return None  # library objects (the course's reference models included) travel by value

    def _module_pid(self, module: Any, leaves: list) -> tuple:
        """A checker module is sent whole once; later calls name the student process's copy of it.

        The copy is reused while the module's tensors are the same objects at the same version (``_version``
        counts in-place changes) and its train/eval flags are unchanged; the student's in-place changes to the
        copy are written back tensor by tensor (:func:`_write_back`), which moves the versions here, so the
        next call sends the module whole again.
        """
        tensors = [*module.parameters(), *module.buffers()]
        fingerprint = (
            tuple((id(t), t._version) for t in tensors),
            tuple(m.training for m in module.modules()),
        )
        known = self.mirrors.get(id(module))
        if known is not None and known[0] is module and known[1] == fingerprint:
            leaves.append(_Mirror(tensors))
            return ("m", known[2])
        self.next_mirror += 1
        number = self.next_mirror
        self.mirrors[id(module)] = (module, fingerprint, number)
        self._whole = True
        try:
            buf = io.BytesIO()
            session = self

            class Pickler(pickle.Pickler):
                def persistent_id(self, value: Any) -> Any:
                    return None if value is module else session._pid(value, leaves)

            Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(module)
        finally:
            self._whole = False
        return ("mnew", number, buf.getvalue())

    def _register(self, value: Any) -> int:
        key = len(self.callbacks) + 1
        self.callbacks[key] = value
        return key

    # ----------------------------------------------------------------------------------- transport
    def request(self, op: str, *args: Any, leaves: list | None = None) -> Any:
        """Send one request; return the decoded ``ok`` value or raise the student's exception."""
        if self.dead:
            raise RemoteError("the student process is no longer running")
        leaves = [] if leaves is None else leaves
        payload = self._pickle((op, *args), leaves)
        start = time.perf_counter()
        reply = self._roundtrip(payload)
        self.seconds += time.perf_counter() - start
        self.requests += 1
        value = decode(reply)
        if not isinstance(value, dict) or len(value) != 1:
            raise WireError("reply is not {'ok': ...} or {'err': ...}")
        if "err" in value:
            err = value["err"]
            if not (isinstance(err, list) and len(err) == 2):
                raise WireError("malformed error reply")
            if err[0] == "_MirrorLost" and self.mirrors:  # send every module whole, once
                self.mirrors.clear()
                leaves.clear()
                return self.request(op, *args, leaves=leaves)
            raise remote_exception(err[0], err[1])
        if "ok" not in value:
            raise WireError("reply without a result")
        return self._wrap(value["ok"])

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, Handle):
            return RemoteObject(self, value)
        if type(value) in (list, tuple):
            return type(value)(self._wrap(v) for v in value)
        if type(value) is dict:
            return {k: self._wrap(v) for k, v in value.items()}
        return value

    def _roundtrip(self, payload: bytes) -> str:
        """Send one request; answer the agent's callbacks until its reply arrives."""
        if not self.pending:  # one serving execution per test cell; see Agent.serve
            code = f"__seqcourse_agent__.serve({self.seq + 1})"
            self.msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
            self.pending = True
        self.seq += 1
        self._send(frame("request", self.seq, payload))
        deadline = time.monotonic() + self.timeout
        while True:
            tag, body = self._next_frame(self.seq, deadline)
            if tag == FRAMES["reply"]:
                return body.decode("utf-8", errors="replace")
            self._send(frame("answer", self.seq, self._callback(body)))

    def _send(self, message: bytes) -> None:
        """Send without ever blocking: the connection is gone for good once the agent's socket was closed
        (it is never re-made, see ``__init__``), and a blocking send would then wait forever."""
        try:
            self.sock.send(message, zmq.NOBLOCK)
        except zmq.Again:
            raise RemoteError(
                "the student process's agent socket is gone (closed by the student's code)"
            ) from None

    def _next_frame(self, seq: int, deadline: float) -> tuple[bytes, bytes]:
        """The agent's next reply or callback for request ``seq``, keeping what the student printed; frames
        of other requests or of another shape are dropped (the student's code can write to the socket)."""
        kc, sock = self.kc, self.sock
        poller = zmq.Poller()
        for s in (sock, kc.iopub_channel.socket, kc.shell_channel.socket):
            poller.register(s, zmq.POLLIN)
        interrupted = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if interrupted:
                    self.dead = True
                    raise RemoteError("the student process stopped responding")
                self.km.interrupt_kernel()
                interrupted, deadline = True, time.monotonic() + 10
                self.timed_out = True
                continue
            ready = dict(poller.poll(min(left, 1.0) * 1000))
            if not ready and not self.km.is_alive():
                self.dead = True
                raise RemoteError("the student process died")
            if kc.iopub_channel.socket in ready:
                self._drain_iopub()
            if kc.shell_channel.socket in ready:
                msg = kc.shell_channel.get_msg(timeout=0)
                if msg["parent_header"].get("msg_id") == self.msg_id:
                    self.pending = False
                    if interrupted:
                        raise TimeoutError(f"the student's code did not finish within {self.timeout:.0f} s")
                    raise RemoteError(
                        "the student process stopped serving (its agent was removed or replaced)"
                    )
            if sock in ready:
                tag, number, body = unframe(sock.recv())
                if number == seq and tag in _FROM_AGENT:
                    return tag, body

    def _drain_iopub(self) -> None:
        while self.kc.iopub_channel.msg_ready():
            msg = self.kc.iopub_channel.get_msg(timeout=0)
            if msg["parent_header"].get("msg_id") != self.msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                self._keep(str(content.get("text", "")))
            elif kind == "error":
                self._keep(f"{content.get('ename')}: {content.get('evalue')}\n")

    def finish(self) -> None:
        """End the serving execution of a test cell (the agent returns when it reads an empty request)."""
        if not self.pending or self.dead:
            self.pending = False
            return
        self.seq += 1
        try:
            self._send(frame("request", self.seq, b""))
        except RemoteError:  # nobody reads the socket: stop the serving execution instead
            self.km.interrupt_kernel()
        self.pending = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_shell_msg(timeout=1)
            except Exception:  # queue.Empty
                if not self.km.is_alive():
                    self.dead = True
                    return
                continue
            if msg["parent_header"].get("msg_id") == self.msg_id:
                self._drain_iopub()
                return
        self.dead = True

    def close(self) -> None:
        self.sock.close()

    def _keep(self, text: str) -> None:
        if self.output_chars < self.max_output_chars:
            self.output.append(text[: self.max_output_chars - self.output_chars])
        self.output_chars += len(text)

    def _callback(self, text: bytes) -> bytes:
        """Run a checker function for the student's code: strict data in, a pickle out."""
        try:
            req = decode(text.decode("utf-8", errors="replace")).get("ok")
            if not isinstance(req, dict) or type(req.get("cb")) is not int:
                raise WireError("malformed callback request")
            key, args, kwargs = req["cb"], req["args"], req["kwargs"]
            fn = self.callbacks[abs(key)]
            args, kwargs = [self._inert(a) for a in args], {k: self._inert(v) for k, v in kwargs.items()}
            if isinstance(req.get("attr"), str):
                result = ("ok", getattr(fn, req["attr"]))
            else:
                result = ("ok", _vjp(fn, args, kwargs) if key < 0 else fn(*args, **kwargs))
        except Exception as err:
            result = ("err", f"{type(err).__name__}: {err}"[:500])
        return self._pickle(result, [])

    def _inert(self, value: Any) -> Any:
        if isinstance(value, Handle):
            raise RemoteError("a student object cannot be passed to a checker function")
        return value

    # ------------------------------------------------------------------------------------- calls
    def lookup(self, name: str) -> tuple[bool, Any, bool]:
        """``(found, value, replaceable)`` of a global of the student's namespace."""
        found = self.request("lookup", name)
        if not isinstance(found, dict) or found.get("found") is not True:
            return False, None, False
        return True, found.get("value"), found.get("replaceable") is True

    def call(self, hid: int, attr: str | None, args: tuple, kwargs: dict) -> Any:
        torch = _torch()
        leaves: list = []
        grad = bool(torch is not None and torch.is_grad_enabled())
        rng = None
        if torch is not None:  # a shared global stream: send it only when the checker's side moved it
            state = torch.get_rng_state().numpy().tobytes()
            if state != self.rng_sent:
                self.rng_sent, rng = state, _npy_bytes(torch.get_rng_state().numpy())
        reply = self.request("call", hid, attr, args, kwargs, grad, rng, leaves=leaves)
        if not isinstance(reply, dict) or set(reply) != {"value", "graph", "back"}:
            raise WireError("malformed call reply")
        _write_back(leaves, reply["back"])
        value, graph = reply["value"], reply["graph"]
        if graph is not None and torch is not None:
            inputs = [t for t in leaves if isinstance(t, torch.Tensor) and t.requires_grad]
            value = _attach_graph(self, graph, value, inputs)
        return value


_PLAIN = frozenset(
    (str, int, float, bool, bytes, type(None), list, tuple, dict, set, frozenset, collections.OrderedDict)
)
_FUNCTIONS = (
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
    functools.partial,
)


def _npy_bytes(array: np.ndarray) -> bytes:
    """Arrays travel as .npy bytes inside the persistent ids (the pickler must not see them again)."""
    buf = io.BytesIO()
    np.save(buf, np.array(array, copy=True, order="C"), allow_pickle=False)  # keeps 0-d arrays 0-d
    return buf.getvalue()


def _by_reference(value: Any) -> bool:
    """Library functions travel by name; checker-made functions (lambdas, references) become callbacks."""
    if isinstance(value, types.BuiltinFunctionType | types.BuiltinMethodType):
        module = getattr(value, "__module__", None) or getattr(
            getattr(value, "__self__", None), "__name__", ""
        )
    else:
        module = getattr(value, "__module__", None) or ""
    qualname = getattr(value, "__qualname__", "") or ""
    top = str(module).split(".")[0]
    return (top in _BY_REFERENCE or top == "seqcourse") and "<" not in qualname


def _torch() -> Any:
    import sys

    return sys.modules.get("torch")


def _write_back(leaves: list, back: Any) -> None:
    """Copy arguments the student's code changed in place back into the checker's objects."""
    if not isinstance(back, list):
        raise WireError("malformed write-back list")
    torch = _torch()
    for item in back:
        if not (
            isinstance(item, list) and len(item) == 2 and type(item[0]) is int and 0 <= item[0] < len(leaves)
        ):
            raise WireError("malformed write-back entry")
        target, new = leaves[item[0]], item[1]
        if isinstance(target, _Mirror):
            target.write_back(new)
            continue
        if isinstance(target, np.ndarray) and isinstance(new, np.ndarray) and new.shape == target.shape:
            if target.flags.writeable:
                target[...] = new
        elif torch is not None and isinstance(target, torch.Generator) and isinstance(new, torch.Tensor):
            with contextlib.suppress(RuntimeError):
                target.set_state(new.to(torch.uint8))
        elif torch is not None and isinstance(target, torch.Tensor) and isinstance(new, torch.Tensor):
            if new.shape == target.shape:
                with torch.no_grad():
                    target.copy_(new.to(target.dtype))


class _Mirror:
    """A write-back target: the tensors of a checker module the student process holds a copy of."""

    def __init__(self, tensors: list) -> None:
        self.tensors = tensors

    def write_back(self, new: Any) -> None:
        torch = _torch()
        moved = new.get("module") if isinstance(new, dict) else None
        if not isinstance(moved, list):
            raise WireError("malformed module write-back")
        for pair in moved:
            if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) is int):
                raise WireError("malformed module write-back entry")
            k, tensor = pair
            if 0 <= k < len(self.tensors) and isinstance(tensor, torch.Tensor):
                target = self.tensors[k]
                if tensor.shape == target.shape:
                    with torch.no_grad():
                        target.copy_(tensor.to(target.dtype))


def _grad_outputs(value: Any, found: list, rebuild: Callable[[Any], Any] | None = None) -> Any:
    torch = _torch()
    if isinstance(value, torch.Tensor):
        if getattr(value, "_remote_grad", False):
            found.append(value)
            return rebuild(value) if rebuild else value
        return value
    if type(value) in (list, tuple):
        return type(value)(_grad_outputs(v, found, rebuild) for v in value)
    if type(value) is dict:
        return {k: _grad_outputs(v, found, rebuild) for k, v in value.items()}
    return value


def _attach_graph(session: Session, graph: int, value: Any, inputs: list) -> Any:
    """Replace the differentiable outputs by tensors whose backward runs in the student process."""
    import torch

    outs: list = []
    _grad_outputs(value, outs)
    if not outs:
        return value
    anchor = torch.zeros((), requires_grad=True)  # makes the outputs require grad even without inputs
    results = _RemoteGrad.apply((session, graph, outs), anchor, *inputs)
    results = results if isinstance(results, tuple) else (results,)
    it = iter(results)
    return _grad_outputs(value, [], lambda _: next(it))


def _vjp(fn: Callable, args: list, kwargs: dict) -> list:
    """Vector-Jacobian products of a checker function, asked for by the student's backward pass."""
    import torch

    plain, grad, positions = args
    plain = list(plain)
    for i in positions:
        plain[i] = plain[i].detach().requires_grad_(True)
    with torch.enable_grad():
        out = fn(*plain, **kwargs)
        grads = torch.autograd.grad(out, [plain[i] for i in positions], grad, allow_unused=True)
    return [torch.zeros_like(plain[i]) if g is None else g for i, g in zip(positions, grads, strict=True)]


class _RemoteGradMeta(type):
    _cls: Any = None

    def __getattr__(cls, name: str) -> Any:
        if cls._cls is None:
            cls._cls = _make_remote_grad()
        return getattr(cls._cls, name)


class _RemoteGrad(metaclass=_RemoteGradMeta):
    """Lazily built ``torch.autograd.Function`` (torch is imported only when a test needs it)."""


def _make_remote_grad() -> type:
    import torch

    class RemoteGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, link: tuple, anchor: Any, *inputs: Any) -> Any:
            session, graph, outs = link
            ctx.session, ctx.graph, ctx.n = session, graph, len(inputs)
            results = tuple(o.detach().clone() for o in outs)
            ctx.mark_non_differentiable(
                *[r for r in results if not (r.is_floating_point() or r.is_complex())]
            )
            return results if len(results) > 1 else results[0]

        @staticmethod
        def backward(ctx: Any, *grads: Any) -> Any:
            got = ctx.session.request("backward", ctx.graph, list(grads))
            if not isinstance(got, list) or len(got) != ctx.n:
                raise WireError("the student process returned the wrong number of gradients")
            return (None, None, *[g if isinstance(g, torch.Tensor) else None for g in got])

    return RemoteGrad


_ABSENT = object()


class Namespace(dict):
    """Globals of the test cells: the checker's own names first, then the student's (as proxies or data)."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.setup = False  # True while an instructor set-up cell runs: its names are the checker's own
        dict.__setitem__(self, "__name__", "__main__")

    def get(self, name: str, default: Any = None) -> Any:  # globals().get(name) sees the student's names too
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or (
            isinstance(name, str) and self.get(name, _ABSENT) is not _ABSENT
        )

    def __missing__(self, name: str) -> Any:
        if name.startswith("__") or hasattr(builtins, name):
            raise KeyError(name)
        session = self.session
        if name in session.functions:
            return session.functions[name]
        found, value, _ = session.lookup(name)
        if not found:
            raise KeyError(name)
        if isinstance(value, RemoteObject) and value._handle.callable:
            session.functions[name] = value  # a function or class: looked up once per test cell
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        if not self.setup and not dict.__contains__(self, name) and not name.startswith("__"):
            found, _, replaceable = self.session.lookup(name)
            if found and replaceable:  # a test swapping a student's function for a reference one
                self.session.functions.pop(name, None)
                self.session.request("setglobal", name, value)
                return
        dict.__setitem__(self, name, value)


def run_test_cell(
    source: str, ns: Namespace, name: str, setup: bool = False
) -> tuple[bool, str, tuple[str, str] | None]:
    """Execute one trusted cell; return ``(passed, printed text, (ename, evalue) or None)``."""
    ns.setup = setup
    out = io.StringIO()
    session = ns.session
    session.output = []
    session.output_chars = 0
    session.functions.clear()
    error = None
    try:
        code = compile(source, f"<test {name}>", "exec")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(code, ns)
    except BaseException as err:  # a failing test is any exception, KeyboardInterrupt included
        if os.environ.get("SEQCOURSE_GRADING_DEBUG"):
            traceback.print_exc()
        if isinstance(err, NameError):
            error = ("NameError", f"{err} (not defined by the notebook)")
        else:
            error = (type(err).__name__, str(err)[:4000])
    finally:
        session.finish()
        session.callbacks.clear()  # a stub kept by the student stops working after its test cell
    text = out.getvalue()
    if session.output:
        text += "[student output]\n" + "".join(session.output)
    return error is None, text, error
