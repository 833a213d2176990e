"""The student-process end of the checker's proxies (runs inside the student's Jupyter kernel).

The checker never sends code. For each test cell it sends one execute request
``__seqcourse_agent__.serve(first)``; while that execution runs, the agent reads requests from its own ZeroMQ
socket (a PAIR socket bound in the kernel's private control folder; frames in
:data:`seqcourse.grading.wire.FRAMES`), performs them on the
student's namespace and answers with a JSON text made by :func:`seqcourse.grading.wire.encode`. Requests are
pickles made by the checker (trusted input for this process); replies are data only and are decoded strictly
by the checker, so nothing this module does, or a student does to it, can make a comparison succeed. The
kernel's own channels carry only that one execution and the student's printed output: a request costs one
message each way, not the kernel's signed, JSON-wrapped ``input`` round trip.

Operations: ``lookup`` a global, ``getattr``/``setattr``/``getitem``/``len``/``list``/``source`` of a handle,
``call`` a handle, ``setglobal`` (the tests swap a reference implementation in), ``backward`` through a
retained graph. Checker callables that reach this process become *callback stubs*: calling one asks
the checker to run it, with gradients flowing back through :class:`_CallbackGrad`.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import inspect
import json
import pickle
import sys
from collections import OrderedDict
from io import BytesIO
from typing import Any

from seqcourse.grading.wire import FRAMES, encode, frame, unframe

__all__ = ["Agent", "install"]

_MAX_GRAPHS = 32


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuse to import the modules that implement this assignment's answers.

    The checker's own objects may need them (a test swaps a reference implementation in, or passes a fitted
    reference model to the student's function): while the agent unpickles a request, ``trusted`` is raised
    and the import goes through. The static checks of :mod:`seqcourse.grading.rules`, not this finder, are
    what flags a student's use of a blocked module.
    """

    def __init__(self, blocked: list[str]) -> None:
        self.blocked = tuple(blocked)
        self.trusted = 0
        self.kept: dict[str, Any] = {}  # blocked modules the checker's objects needed, out of sys.modules
        self.loaded: set[str] = set()  # blocked modules first imported during the current lift

    def _is_blocked(self, name: str) -> bool:
        return any(name == b or name.startswith(b + ".") for b in self.blocked)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if self._is_blocked(name):  # every first import of a module asks the finders in sys.meta_path
            if not self.trusted:
                raise ModuleNotFoundError(
                    f"{name} is not available while this assignment is graded", name=name
                )
            self.loaded.add(name)
        return None

    @contextlib.contextmanager
    def lifted(self) -> Any:
        """Allow blocked imports for the agent; afterwards take them out of ``sys.modules`` again, so that
        an ``import`` in the student's code still fails (the modules are put back for the next lift, which
        keeps one copy of each class)."""
        if not self.trusted:
            sys.modules.update(self.kept)
        self.trusted += 1
        try:
            yield
        finally:
            self.trusted -= 1
            if not self.trusted:  # only what this lift can have put there: no scan of sys.modules
                for name in [*self.kept, *self.loaded]:
                    if name in sys.modules:
                        self.kept[name] = sys.modules.pop(name)
                self.loaded.clear()


def install(blocked: list[str], namespace: dict, channel: str) -> Agent:
    """Block ``blocked`` modules, bind the agent's socket at ``ipc://channel`` and put the agent into the
    kernel's namespace; called once at start-up."""
    import zmq

    blocker = _Blocker(blocked)
    for name in [n for n in sys.modules if blocker._is_blocked(n)]:
        del sys.modules[name]
    sys.meta_path.insert(0, blocker)
    sock = zmq.Context().socket(zmq.PAIR)
    sock.linger = 0
    sock.bind(f"ipc://{channel}")
    agent = Agent(namespace, sock, blocker)
    namespace["__seqcourse_agent__"] = agent
    return agent


class Agent:
    """Serve the checker's requests on the kernel's user namespace."""

    def __init__(self, namespace: dict, sock: Any, blocker: _Blocker | None = None) -> None:
        self.ns = namespace
        self.sock = sock
        self.seq = 0  # the request being answered
        self.blocker = blocker or _Blocker([])
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}  # id(obj) -> handle id, so one object keeps one handle
        self.graphs: OrderedDict[int, tuple[list, list]] = OrderedDict()
        self.mirrors: dict[int, Any] = {}  # copies of the checker's modules, by the checker's number
        self.next_graph = 0

    # ------------------------------------------------------------------------------------- plumbing
    def handle(self, obj: Any) -> int:
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = len(self.objects) + 1
            self.objects[self.ids[key]] = obj
        return self.ids[key]

    def _receive(self, tag: str, first: int) -> tuple[int, bytes]:
        """The next ``tag`` message of request ``first`` or later; stale ones (of a test cell that failed
        before reading them) are dropped. Polls in short steps so that an interrupt gets through."""
        while True:
            if not self.sock.poll(100):
                continue
            kind, seq, body = unframe(self.sock.recv())
            if kind == FRAMES[tag] and seq >= first:
                return seq, body

    def serve(self, first: int) -> None:
        """Answer the checker's requests, numbered from ``first``, until an empty one arrives (the only code
        the checker runs here)."""
        while True:
            seq, payload = self._receive("request", first)
            if not payload:
                return
            self.seq = seq
            leaves: list = []
            try:
                request = self._unpickle_bytes(payload, leaves)
                reply = {"ok": encode(getattr(self, "op_" + request[0])(leaves, *request[1:]), self.handle)}
            except BaseException as err:  # every failure of student code is reported, never raised
                reply = {"err": [type(err).__name__, str(err)[:2000]]}
            try:
                text = json.dumps(reply, allow_nan=False)
            except Exception as err:
                text = json.dumps({"err": ["TypeError", f"result could not be sent: {err}"]})
            self.sock.send(frame("reply", seq, text.encode()))
            first = seq + 1

    def _unpickle_bytes(self, data: bytes, leaves: list) -> Any:
        agent = self

        class Loader(pickle.Unpickler):
            def persistent_load(self, pid: tuple) -> Any:
                return agent._load_pid(pid, leaves)

            def find_class(self, module: str, name: str) -> Any:  # the checker's reference objects
                with agent.blocker.lifted():
                    return super().find_class(module, name)

        with self.blocker.lifted():  # torch for tensor arguments, even where the student may not import it
            return Loader(BytesIO(data)).load()

    def _load_pid(self, pid: tuple, leaves: list) -> Any:
        kind = pid[0]
        if kind == "h":
            return self.objects[pid[1]]
        if kind == "cb":
            return _Callback(self, pid[1])
        if kind == "cbo":
            return _CheckerObject(self, pid[1])
        if kind == "mnew":  # a checker module sent whole; kept, so that the next call can name it
            value = self._unpickle_bytes(pid[2], leaves)
            self.mirrors[pid[1]] = value
            return value
        if kind == "m":
            if pid[1] not in self.mirrors:
                raise _MirrorLost(f"no copy {pid[1]} of a checker module here")
            value = self.mirrors[pid[1]]
            tensors = _module_tensors(value)
            leaves.append(("m", tensors, [t._version for t in tensors]))
            return value
        if kind == "nd":
            value = _array(pid[1])
        elif kind == "t":
            import torch

            _, array, dtype, requires_grad, is_param = pid
            value = torch.from_numpy(_array(array)).to(getattr(torch, dtype))
            if is_param:
                value = torch.nn.Parameter(value, requires_grad=requires_grad)
            elif requires_grad:
                value.requires_grad_(True)
        elif kind == "gen":
            import torch

            value = torch.Generator()
            value.set_state(torch.from_numpy(_array(pid[1])))
        else:
            raise ValueError(f"unknown reference {kind!r}")
        leaves.append((kind, value, _snapshot(kind, value)))
        return value

    # ------------------------------------------------------------------------------------ operations
    def op_lookup(self, leaves: list, name: str) -> Any:
        if name not in self.ns:
            return {"found": False}
        value = self.ns[name]
        return {"found": True, "value": value, "replaceable": callable(value)}

    def op_getattr(self, leaves: list, hid: int, name: str) -> Any:
        return getattr(self.objects[hid], name)

    def op_setattr(self, leaves: list, hid: int, name: str, value: Any) -> Any:
        setattr(self.objects[hid], name, value)
        return None

    def op_getitem(self, leaves: list, hid: int, key: Any) -> Any:
        return self.objects[hid][key]

    def op_len(self, leaves: list, hid: int) -> Any:
        return len(self.objects[hid])

    def op_list(self, leaves: list, hid: int, cap: int) -> Any:
        items = []
        for item in self.objects[hid]:
            if len(items) >= cap:
                raise ValueError(f"more than {cap} items")
            items.append(item)
        return items

    def op_source(self, leaves: list, hid: int) -> Any:
        return inspect.getsource(self.objects[hid])

    def op_setglobal(self, leaves: list, name: str, value: Any) -> Any:
        self.ns[name] = value
        return None

    def op_call(
        self, leaves: list, hid: int, attr: str | None, args: tuple, kwargs: dict, grad: bool, rng: Any
    ) -> Any:
        """Call a handle, or its attribute ``attr`` (``obj.method(...)`` in one round trip)."""
        fn = self.objects[hid] if attr is None else getattr(self.objects[hid], attr)
        torch = sys.modules.get("torch")  # never imported here just for the protocol (a00 has no torch)
        if torch is None:
            return {"value": fn(*args, **kwargs), "graph": None, "back": _writeback(leaves)}
        if rng is not None:
            torch.set_rng_state(torch.from_numpy(_array(rng)))
        with torch.set_grad_enabled(grad):
            result = fn(*args, **kwargs)
        outs: list = []
        _collect_grad_outputs(result, outs)
        graph = None
        grad_leaves = [v for kind, v, _ in leaves if kind == "t" and v.requires_grad]
        if grad and outs:
            self.next_graph += 1
            graph = self.next_graph
            self.graphs[graph] = (outs, grad_leaves)
            while len(self.graphs) > _MAX_GRAPHS:
                self.graphs.popitem(last=False)
        return {"value": result, "graph": graph, "back": _writeback(leaves)}

    def op_backward(self, leaves: list, graph: int, grads: list) -> Any:
        import torch

        outs, grad_leaves = self.graphs[graph]
        pairs = [(o, g) for o, g in zip(outs, grads, strict=True) if g is not None]
        for leaf in grad_leaves:
            leaf.grad = None
        torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs], retain_graph=True)
        return [leaf.grad for leaf in grad_leaves]

    # -------------------------------------------------------------------------------------- callbacks
    def callback(self, key: int, args: tuple, kwargs: dict, attr: str | None = None) -> Any:
        request = {"ok": encode({"cb": key, "args": list(args), "kwargs": kwargs, "attr": attr}, self.handle)}
        self.sock.send(frame("callback", self.seq, json.dumps(request).encode()))
        _, reply = self._receive("answer", self.seq)
        status, value = self._unpickle_bytes(reply, []) if reply else ("err", "no answer")
        if status == "err":
            raise RuntimeError(f"the checker's function failed: {value}")
        return value


def _array(npy: bytes) -> Any:
    import numpy as np

    return np.load(BytesIO(npy), allow_pickle=False)


def _snapshot(kind: str, value: Any) -> Any:
    if kind == "t":
        return value.detach().clone()
    if kind == "nd":
        return value.copy()
    return value.get_state().clone()


def _writeback(leaves: list) -> list:
    """Arguments changed in place by the student's code: ``[[index, new value], ...]`` for the checker."""
    import numpy as np

    changed = []
    for index, (kind, value, before) in enumerate(leaves):
        if kind == "m":  # a kept module: the tensors whose version moved, by position
            pairs = enumerate(zip(value, before, strict=True))
            moved = [[k, t.detach()] for k, (t, version) in pairs if t._version != version]
            if moved:
                changed.append([index, {"module": moved}])
            continue
        if kind == "t":
            now = value.detach()
            same = now.shape == before.shape and bool(
                (now == before).all() | (now.isnan() & before.isnan()).all()
            )
        elif kind == "nd":
            now, same = value, value.shape == before.shape and np.array_equal(value, before, equal_nan=True)
        else:
            now = value.get_state()
            same = bool((now == before).all())
        if not same:
            changed.append([index, now])
    return changed


class _MirrorLost(LookupError):
    """The checker named a module copy this process does not hold (the checker then sends it whole)."""


def _module_tensors(module: Any) -> list:
    """Parameters, then buffers, in the order both processes enumerate them."""
    return [*module.parameters(), *module.buffers()]


def _collect_grad_outputs(value: Any, outs: list) -> None:
    """Tensors that carry a graph, in the order :func:`seqcourse.grading.wire.encode` meets them."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            outs.append(value)
    elif type(value) in (list, tuple):
        for v in value:
            _collect_grad_outputs(v, outs)
    elif isinstance(value, dict):
        for v in value.values():
            _collect_grad_outputs(v, outs)


class _Callback:
    """A checker function as seen by the student's code: calling it asks the checker (data in, data out)."""

    def __init__(self, agent: Agent, key: int) -> None:
        self.agent, self.key = agent, key

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        torch = sys.modules.get("torch")  # not imported for the protocol: a02 blocks torch
        if torch is not None and torch.is_grad_enabled():
            tensors = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
            if tensors:
                return _CallbackGrad.apply(self, args, kwargs, *tensors)
        return self.agent.callback(self.key, args, kwargs)


class _CheckerObject:
    """An object of the checker (e.g. a test's small model class): its attributes are asked for."""

    def __init__(self, agent: Agent, key: int) -> None:
        object.__setattr__(self, "_agent", agent)
        object.__setattr__(self, "_key", key)

    def __getattr__(self, name: str) -> Any:
        return self._agent.callback(self._key, (), {}, attr=name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._agent.callback(self._key, args, kwargs)


def _callback_grad_class() -> type:
    import torch

    class CallbackGrad(torch.autograd.Function):
        """Differentiate through a checker function: the checker returns the vector-Jacobian products."""

        @staticmethod
        def forward(ctx: Any, stub: _Callback, args: tuple, kwargs: dict, *tensors: Any) -> Any:
            plain = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
            ctx.stub, ctx.args, ctx.kwargs = stub, plain, kwargs
            ctx.positions = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.requires_grad]
            out = stub.agent.callback(stub.key, plain, kwargs)
            if not isinstance(out, torch.Tensor):
                raise TypeError("only a checker function returning one tensor can be differentiated")
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            stub = ctx.stub
            grads = stub.agent.callback(-stub.key, (ctx.args, grad, ctx.positions), ctx.kwargs)
            return (None, None, None, *grads)

    return CallbackGrad


class _LazyGrad:
    def __getattr__(self, name: str) -> Any:
        cls = _callback_grad_class()
        globals()["_CallbackGrad"] = cls
        return getattr(cls, name)


_CallbackGrad: Any = _LazyGrad()
