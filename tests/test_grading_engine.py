"""Semantics of the two-process engine's proxies, on one small notebook graded by ``engine.run_notebook``.

Every test cell below runs in the checker against the student's kernel; each states what a test written for
one Python process expects, and the engine must give the same answer across the two processes: method
calls (one request each), references of the course swapped in by name even where the student may not import
them, checker modules kept in the student process between calls (changes on either side seen by the other),
gradients of parameters, and callbacks of checker functions. Cells named ``must_fail_*`` must fail.
"""

from __future__ import annotations

import os

import nbformat
import pytest

from seqcourse.grading import engine
from seqcourse.grading.rules import Rules
from seqcourse.grading.sandbox import Limits

STUDENT = """
import torch
from torch import nn

class Counter:
    def __init__(self):
        self.n = 0
    def bump(self, k=1):
        self.n += k
        return self.n

counter = Counter()

def apply(model, x):
    return model(x)

def train(model, x, steps=3):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]

def attention_like(x):
    return x

def uses_reference(x):
    return attention_like(x)

def cd1(v0, W, b, c, generator=None):
    raise NotImplementedError

def step(v0, W, b, c, generator):
    return cd1(v0, W, b, c, generator)

def importer():
    import seqcourse.grading.references
    return True

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
    def forward(self, x):
        return self.lin(x)
"""

TESTS = {
    "method_calls": """
assert counter.bump() == 1 and counter.bump(2) == 3 and counter.n == 3
session_methods = counter.bump  # a method object still works when kept and called later
assert session_methods(4) == 7
""",
    "reference_by_name": """
import torch
from seqcourse.grading.references import cd1_gradient as _ref
attention_like = lambda x: x * 2  # a checker function: a callback
assert float(uses_reference(torch.ones(1))) == 2.0
cd1 = _ref  # the course's reference: sent by name, imported in the student process although blocked there
g = torch.Generator().manual_seed(0)
v0 = torch.bernoulli(torch.full((4, 3), 0.5), generator=g)
W, b, c = torch.randn(3, 2, generator=g), torch.zeros(3), torch.zeros(2)
got = step(v0, W, b, c, torch.Generator().manual_seed(5))
want = _ref(v0, W, b, c, torch.Generator().manual_seed(5))
assert set(got) == {"W", "b", "c"} and all(torch.equal(got[k], want[k]) for k in want)
""",
    "must_fail_student_import_of_blocked_module": """
assert importer()
""",
    "checker_module_kept_and_in_sync": """
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Linear(3, 2)
x = torch.randn(4, 3)
first = apply(model, x)
assert torch.allclose(first, model(x))
with torch.no_grad():
    model.weight.mul_(2.0)  # changed here: the student process must see it
assert torch.allclose(apply(model, x), model(x))
before = model.weight.detach().clone()
after = train(model, x)  # changed there: written back here
assert not torch.equal(model.weight.detach(), before)
assert torch.allclose(model.weight.detach(), after[0])
assert torch.allclose(apply(model, x), model(x))
model.eval()
assert torch.allclose(apply(model, x), model(x))
""",
    "parameter_gradients_come_back": """
import torch
tiny = Tiny().double()
out = tiny(torch.ones(2, 3, dtype=torch.float64))
out.sum().backward()
grads = [p.grad for p in tiny.parameters()]
assert all(g is not None and float(g.abs().sum()) > 0 for g in grads)
""",
    "must_fail_wrong_value": """
assert counter.bump() == 0
""",
}


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(STUDENT)]
    for name in TESTS:
        cell = nbformat.v4.new_code_cell("# hidden")
        meta = {"grade": True, "solution": False, "locked": True, "grade_id": name, "points": 1}
        cell.metadata["nbgrader"] = meta
        nb.cells.append(cell)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("engine")
    os.chmod(base, 0o711)
    rules = Rules(blocked_modules=("seqcourse.grading.references",))
    result = engine.run_notebook(_notebook(), dict(TESTS), Limits(cell_timeout_s=60), str(base), None, rules)
    assert result.start_error is None, result.start_error
    return {
        c.metadata["nbgrader"]["grade_id"]: c.outputs
        for c in result.nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


@pytest.mark.parametrize("name", list(TESTS))
def test_cell_passes_or_fails_as_in_one_process(graded, name):
    errors = [o for o in graded[name] if o.output_type == "error"]
    if name.startswith("must_fail"):
        assert errors, f"{name} passed"
    else:
        assert not errors, f"{name}: {[(o.ename, o.evalue) for o in errors]}"


FAKE_AGENT = """
import json, os, threading, time, zmq

def secret():
    return 0

# close the real agent's socket and put a fake agent at the same path, whose secret() is 42
_agent = __seqcourse_agent__
_path = _agent.sock.getsockopt(zmq.LAST_ENDPOINT).decode()[len("ipc://"):]
_agent.sock.close()
if os.path.exists(_path):
    os.unlink(_path)
_fake = zmq.Context().socket(zmq.PAIR)
_fake.bind("ipc://" + _path)

def _answer():  # the test's lookup of `secret`, then its call: the answers the checker would accept
    from seqcourse.grading.wire import encode
    lookup = {"found": True, "value": secret, "replaceable": True}
    for reply in (lookup, {"value": 42, "graph": None, "back": []}):
        message = _fake.recv()
        _fake.send(b"r" + message[1:9] + json.dumps({"ok": encode(reply, lambda obj: 1)}).encode())

threading.Thread(target=_answer, daemon=True).start()
_agent.serve = lambda first: time.sleep(60)  # the serving execution stays alive: only the fake answers
time.sleep(1)  # time enough for a checker that reconnects (every 0.1 s by default) to find the fake
"""


def test_the_checker_never_reconnects_to_a_socket_the_student_put_in_place(tmp_path):
    """The checker connects to the agent once, before any student code runs; a socket the student binds at
    that path later (or a link there to another service's socket) is never reached."""
    os.chmod(tmp_path, 0o711)
    nb = nbformat.v4.new_notebook()
    test = nbformat.v4.new_code_cell("# hidden")
    meta = {"grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1}
    test.metadata["nbgrader"] = meta
    nb.cells = [nbformat.v4.new_code_cell(FAKE_AGENT), test]
    result = engine.run_notebook(nb, {"t": "assert secret() == 42"}, Limits(cell_timeout_s=3), str(tmp_path))
    assert result.start_error is None, result.start_error
    assert not [o for o in result.nb.cells[0].outputs if o.output_type == "error"], result.nb.cells[0].outputs
    errors = [o for o in result.nb.cells[1].outputs if o.output_type == "error"]
    assert errors and "42" not in str(errors[0].get("evalue", "")), errors
