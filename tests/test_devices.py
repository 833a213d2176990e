"""Device-agnosticism proven on a CPU-only machine.

A module that creates a tensor without ``device=`` (``torch.zeros(n)``) or hard-codes ``"cpu"`` works on the
CPU and breaks on a GPU. Two cheap stand-ins for a second device expose it here:

* **meta**: every module of :mod:`seqcourse.nn` is moved to the ``meta`` device and run (forward and
  backward) on meta inputs; meta tensors have shapes but no data, and mixing them with CPU tensors raises.
* **CPU with a meta default**: modules whose forward reads data (``int(lengths.max())``, which meta cannot
  answer) run on the CPU inside ``torch.device("meta")``, so any tensor created without ``device=`` lands on
  meta and mixing raises. The decoders of :mod:`seqcourse.decoding` run the same way, with a step function
  that asserts the device and dtype of everything it receives.

The modules are enumerated from the package, so a new module fails :func:`test_every_module_is_covered`
until it gets a case below (or a justified entry in ``SKIP``). ``SEQCOURSE_DEVICE=cuda`` (``make gpu-check``)
runs the whole test suite on a GPU as well; these tests stay as they are there.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

import seqcourse.nn as nn_pkg
from seqcourse.decoding import beam_search, greedy_decode, sample


def _module_classes() -> dict[str, type[nn.Module]]:
    """Every public nn.Module subclass defined in a submodule of seqcourse.nn, as 'module.Class'."""
    found = {}
    for info in pkgutil.iter_modules(nn_pkg.__path__):
        mod = importlib.import_module(f"{nn_pkg.__name__}.{info.name}")
        for name, obj in vars(mod).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, nn.Module)
                and obj.__module__ == mod.__name__
                and not name.startswith("_")
            ):
                found[f"{info.name}.{name}"] = obj
    return found


@dataclass
class Case:
    build: Callable[[], nn.Module]
    inputs: Callable[[torch.device], tuple]  # the forward's arguments, created on the given device
    call: Callable[..., Any] | None = None  # default: module(*inputs)
    reads_data: bool = (
        False  # the forward needs values (item(), tolist()): run on the CPU with a meta default
    )
    backward: bool = True


def _x(*shape: int) -> Callable[[torch.device], tuple]:
    return lambda dev: (torch.randn(*shape, device=dev),)


def _ids(vocab: int, *shape: int) -> Callable[[torch.device], torch.Tensor]:
    return lambda dev: torch.randint(3, vocab, shape, device=dev)


def _graph(dev: torch.device, n: int = 5) -> torch.Tensor:
    ring = torch.arange(n, device=dev)
    A = torch.zeros(n, n, device=dev)
    A[ring, (ring + 1) % n] = 1.0
    return A + A.T  # (n, n): a cycle


def _cases() -> dict[str, Case]:
    from seqcourse.nn import (
        attention,
        autoencoder,
        cnn,
        cnn_blocks,
        efficient_attention,
        elman,
        energy,
        esn,
        gated_memory,
        gnn,
        language_model,
        memory,
        nas,
        nat,
        rbf,
        rbm,
        recurrent,
        recursive,
        seq2seq,
        structures,
        transformer,
    )

    qkv = lambda dev: tuple(torch.randn(2, 8, 4, device=dev) for _ in range(3))  # noqa: E731
    t_cfg = transformer.TransformerConfig(
        11, 11, d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=16, max_len=16
    )
    n_cfg = nat.NATConfig(11, 11, max_len=6, d_model=8, num_heads=2, num_layers=1, d_ff=16)
    return {
        "attention.AdditiveAttention": Case(lambda: attention.AdditiveAttention(4, 4, 6), qkv),
        "attention.SinusoidalPositionalEncoding": Case(
            lambda: attention.SinusoidalPositionalEncoding(8, 16), _x(2, 5, 8), backward=False
        ),
        "attention.LearnedPositionalEmbedding": Case(
            lambda: attention.LearnedPositionalEmbedding(8, 16), _x(2, 5, 8)
        ),
        "attention.MultiHeadAttention": Case(
            lambda: attention.MultiHeadAttention(8, 2),
            _x(2, 5, 8),
            call=lambda m, x: m(
                x,
                key_mask=torch.ones(2, 5, dtype=torch.bool, device=x.device),
                is_causal=True,
                need_weights=True,
            ),
        ),
        "autoencoder.AutoencoderLayer": Case(lambda: autoencoder.AutoencoderLayer(6, 3), _x(4, 6)),
        "autoencoder.DenoisingAutoencoder": Case(lambda: autoencoder.DenoisingAutoencoder(6, 3), _x(4, 6)),
        "autoencoder.StackedAutoencoder": Case(lambda: autoencoder.StackedAutoencoder([6, 4, 2]), _x(4, 6)),
        "autoencoder.VAE": Case(lambda: autoencoder.VAE(6, 5, 2), _x(4, 6)),
        "cnn.MaskedConv2d": Case(
            lambda: cnn.MaskedConv2d(torch.tensor([[True, False], [True, True], [False, True]]), 3),
            _x(2, 2, 6, 6),
            reads_data=True,  # the mask's nonzero() picks the connected kernels
        ),
        "cnn.Subsampling": Case(lambda: cnn.Subsampling(3), _x(2, 3, 6, 6)),
        "cnn.LeNet5": Case(lambda: cnn.LeNet5(), _x(2, 1, 32, 32), reads_data=True),  # C3 is a MaskedConv2d
        "cnn.GroupConv2d": Case(lambda: cnn.GroupConv2d(4, 6, 3, 2), _x(2, 4, 6, 6)),
        "cnn.DepthwiseSeparableConv2d": Case(lambda: cnn.DepthwiseSeparableConv2d(4, 6, 3), _x(2, 4, 6, 6)),
        "cnn.ChannelShuffle": Case(lambda: cnn.ChannelShuffle(2), _x(2, 4, 3, 3), backward=False),
        "cnn.SqueezeExcitation": Case(lambda: cnn.SqueezeExcitation(8, 4), _x(2, 8, 4, 4)),
        "cnn_blocks.DeformableConv2d": Case(
            lambda: cnn_blocks.DeformableConv2d(3, 4, 3, padding=1), _x(2, 3, 5, 5)
        ),
        "cnn_blocks.InceptionModule": Case(
            lambda: cnn_blocks.InceptionModule(4, 2, 2, 3, 2, 3, 2), _x(2, 4, 6, 6)
        ),
        "cnn_blocks.ResidualBlock": Case(lambda: cnn_blocks.ResidualBlock(4, 6, stride=2), _x(2, 4, 6, 6)),
        "cnn_blocks.Bottleneck": Case(lambda: cnn_blocks.Bottleneck(8, 2), _x(2, 8, 4, 4)),
        "cnn_blocks.NonLocalBlock": Case(lambda: cnn_blocks.NonLocalBlock(4), _x(2, 4, 3, 3)),
        "efficient_attention.LearnablePatternAttention": Case(
            lambda: efficient_attention.LearnablePatternAttention(8, 2, 2), qkv
        ),
        "efficient_attention.LinformerAttention": Case(
            lambda: efficient_attention.LinformerAttention(8, 3), qkv
        ),
        "efficient_attention.SynthesizerAttention": Case(
            lambda: efficient_attention.SynthesizerAttention(8), qkv
        ),
        "elman.ElmanRNN": Case(lambda: elman.ElmanRNN(3, 4, 2), _x(2, 5, 3)),
        "elman.JordanRNN": Case(lambda: elman.JordanRNN(3, 4, 2), _x(2, 5, 3)),
        "energy.BoltzmannMachine": Case(
            lambda: energy.BoltzmannMachine(3, 2),
            lambda dev: (torch.ones(4, 3, device=dev),),
            call=lambda m, v: m.log_likelihood(v),
            reads_data=True,  # enumerates the 2^n states
        ),
        "esn.EchoStateNetwork": Case(lambda: esn.EchoStateNetwork(2, 10, 1), _x(2, 6, 2), backward=False),
        "gated_memory.ManyToOne": Case(
            lambda: gated_memory.ManyToOne(2, 4, cell="lstm", bidirectional=True), _x(3, 5, 2)
        ),
        "gnn.TreeMatchGNN": Case(
            lambda: gnn.TreeMatchGNN(d_in=3, d=4, n_classes=2, num_layers=2, rewire_last=True),
            lambda dev: (_graph(dev), torch.randn(2, 5, 3, device=dev)),
        ),
        "gnn.MeanMessagePassing": Case(
            lambda: gnn.MeanMessagePassing(3, 4), lambda dev: (_graph(dev), torch.randn(5, 3, device=dev))
        ),
        "gnn.GCNLayer": Case(
            lambda: gnn.GCNLayer(3, 4), lambda dev: (_graph(dev), torch.randn(5, 3, device=dev))
        ),
        "gnn.ConcatMLP": Case(
            lambda: gnn.ConcatMLP(5, 2),
            lambda dev: (torch.randn(4, 3, device=dev), torch.randn(4, 2, device=dev)),
        ),
        "gnn.MPNNLayer": Case(
            lambda: gnn.MPNNLayer(gnn.ConcatMLP(6, 3), gnn.ConcatMLP(6, 3)),
            lambda dev: (
                torch.randn(5, 3, device=dev),
                torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]], device=dev),
            ),
            reads_data=True,  # the number of nodes comes from edge_index
        ),
        "gnn.NodeClassifier": Case(
            lambda: gnn.NodeClassifier(3, 4, 2), lambda dev: (_graph(dev), torch.randn(5, 3, device=dev))
        ),
        "gnn.EdgePredictor": Case(
            lambda: gnn.EdgePredictor(3, 4),
            lambda dev: (
                _graph(dev),
                torch.randn(5, 3, device=dev),
                torch.tensor([[0, 1], [2, 4]], device=dev),
            ),
        ),
        "gnn.GraphClassifier": Case(
            lambda: gnn.GraphClassifier(3, 4, 2),
            lambda dev: (_graph(dev), torch.randn(5, 3, device=dev)),
            reads_data=True,  # the readout counts the nodes of each graph (bincount)
        ),
        "language_model.RNNLanguageModel": Case(
            lambda: language_model.RNNLanguageModel(11, emb_size=4, hidden_size=5),
            lambda dev: (_ids(11, 2, 5)(dev),),
            call=lambda m, x: m.loss((x, x)),
        ),
        "nas.Zero": Case(lambda: nas.Zero(), _x(2, 3, 8), backward=False),
        "nas.MixedOp": Case(
            lambda: nas.MixedOp(3),
            lambda dev: (torch.randn(2, 3, 8, device=dev), torch.softmax(torch.randn(5, device=dev), 0)),
        ),
        "nas.DartsNetwork": Case(lambda: nas.DartsNetwork(3, n_edges=2), _x(2, 3, 8)),
        "nas.DartsClassifier": Case(
            lambda: nas.DartsClassifier(1, 4, n_edges=2, n_classes=3), _x(2, 1, 8, 8)
        ),
        "nat.NATransformer": Case(
            lambda: nat.NATransformer(n_cfg),
            lambda dev: (_ids(11, 3, 5)(dev), torch.tensor([[4, 5, 0], [6, 0, 0], [7, 8, 9]], device=dev)),
            call=lambda m, src, y: m.loss((src, y)),
            reads_data=True,
        ),
        "rbf.RBFNetwork": Case(lambda: rbf.RBFNetwork(torch.randn(4, 2), 1.0, 3), _x(5, 2)),
        "rbf.MLP": Case(lambda: rbf.MLP(2, 4, 3), _x(5, 2)),
        "rbm.RBM": Case(
            lambda: rbm.RBM(4, 3),
            lambda dev: (torch.ones(2, 4, device=dev),),
            call=lambda m, v: m.free_energy(v),
        ),
        "rbm.DBN": Case(
            lambda: rbm.DBN([4, 3, 2]),
            lambda dev: (torch.ones(2, 4, device=dev),),
            call=lambda m, v: m.transform(v),
            backward=False,
        ),
        "recurrent.RNNCell": Case(lambda: recurrent.RNNCell(3, 4), _x(2, 3)),
        "recurrent.LSTMCell": Case(lambda: recurrent.LSTMCell(3, 4), _x(2, 3)),
        "recurrent.GRUCell": Case(lambda: recurrent.GRUCell(3, 4), _x(2, 3)),
        "recurrent.RNN": Case(lambda: recurrent.RNN(3, 4, 2, bidirectional=True), _x(2, 5, 3)),
        "recurrent.GRU": Case(lambda: recurrent.GRU(3, 4, batch_first=False), _x(5, 2, 3)),
        "recurrent.LSTM": Case(lambda: recurrent.LSTM(3, 4, 2, dropout=0.5), _x(2, 5, 3)),
        "seq2seq.Seq2Seq": Case(
            lambda: seq2seq.Seq2Seq(11, 11, emb_size=4, hidden_size=5, sampling_prob=0.5),
            lambda dev: (
                torch.tensor([[4, 5, 6], [7, 8, 0]], device=dev),
                torch.tensor([3, 2], device=dev),
                torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]], device=dev),
            ),
            call=lambda m, src, n, tgt: m.loss((src, n, tgt)),
            reads_data=True,
        ),
        "recursive.RecursiveNN": Case(
            lambda: recursive.RecursiveNN(n_tokens=5, n_ops=2, d=4, n_classes=3),
            lambda dev: (recursive.flatten_trees([(0, 1, (1, 2, 3)), 4]),),  # a depth-2 tree and a leaf
            reads_data=True,  # the heights decide the order of the compositions
        ),
        "recursive.SequenceClassifier": Case(
            lambda: recursive.SequenceClassifier(n_tokens=7, d=4, n_classes=3),
            lambda dev: (_ids(7, 2, 4)(dev), torch.tensor([4, 2], device=dev)),
            reads_data=True,  # packing reads the lengths
        ),
        "memory.MemN2N": Case(
            lambda: memory.MemN2N(vocab_size=9, d=4, n_hops=2, max_sentences=5),
            lambda dev: (_ids(9, 2, 3, 4)(dev), _ids(9, 2, 3)(dev)),
        ),
        "structures.NARX": Case(lambda: structures.NARX(2, 1, 4, 2), _x(2, 6, 2)),
        "structures.StateSpaceRNN": Case(lambda: structures.StateSpaceRNN(2, 3, 1), _x(2, 6, 2)),
        "structures.RecurrentMLP": Case(lambda: structures.RecurrentMLP(2, [3, 1]), _x(2, 6, 2)),
        "structures.SecondOrderNetwork": Case(lambda: structures.SecondOrderNetwork(2, 3), _x(2, 6, 2)),
        "transformer.FeedForward": Case(lambda: transformer.FeedForward(8, 16), _x(2, 5, 8)),
        "transformer.EncoderBlock": Case(
            lambda: transformer.EncoderBlock(8, 2, 16, norm_first=True), _x(2, 5, 8)
        ),
        "transformer.DecoderBlock": Case(
            lambda: transformer.DecoderBlock(8, 2, 16),
            lambda dev: (torch.randn(2, 4, 8, device=dev), torch.randn(2, 5, 8, device=dev)),
        ),
        "transformer.Transformer": Case(
            lambda: transformer.Transformer(t_cfg),
            lambda dev: (_ids(11, 2, 5)(dev), _ids(11, 2, 4)(dev)),
            call=lambda m, src, tgt: m.loss((src, tgt)),
        ),
    }


# Modules that cannot run on a second device at all, with the reason. Keep it empty where possible.
SKIP: dict[str, str] = {}
CASES = _cases()


def test_every_module_is_covered():
    """A new nn.Module in seqcourse.nn needs a case above (or a reasoned SKIP entry)."""
    found = set(_module_classes())
    assert found - set(CASES) - set(SKIP) == set(), "modules without a device test"
    assert set(CASES) - found == set(), "cases for modules that no longer exist"


def _tensors(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _tensors(o)]
    return []


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_runs_on_another_device(name):
    case = CASES[name]
    torch.manual_seed(0)
    module = case.build()
    if case.reads_data:
        dev = next(module.parameters()).device  # the CPU; anything created without device= lands on meta
        inputs = case.inputs(dev)
        context = torch.device("meta")
    else:
        dev = torch.device("meta")
        module = module.to(dev)
        inputs = case.inputs(dev)
        context = torch.device(dev)
    module.train()
    with context:
        out = case.call(module, *inputs) if case.call else module(*inputs)
        outputs = _tensors(out)
        assert outputs, f"{name} returned no tensor"
        for t in outputs:
            assert t.device == dev, f"{name} returned a tensor on {t.device}, expected {dev}"
        if case.backward:
            loss = sum(t.float().sum() for t in outputs if t.requires_grad)
            loss.backward()
            for p in module.parameters():
                assert p.grad is None or p.grad.device == dev


# --- on a real second device (make gpu-check sets SEQCOURSE_DEVICE=cuda) ------------------------------

ACCELERATOR = os.environ.get("SEQCOURSE_DEVICE", "cpu")


def _to(x: Any, dev: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(dev)
    return type(x)(_to(t, dev) for t in x) if isinstance(x, (tuple, list)) else x


def _run(case: Case, module: nn.Module, inputs: tuple, seed: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    with torch.no_grad():
        out = case.call(module, *inputs) if case.call else module(*inputs)
    return [t.detach().cpu().double() for t in _tensors(out)]


@pytest.mark.skipif(ACCELERATOR == "cpu", reason="set SEQCOURSE_DEVICE=cuda (make gpu-check) to compare")
@pytest.mark.parametrize("name", sorted(CASES))
def test_module_on_the_accelerator_matches_the_cpu(name):
    """Same weights, same inputs: the accelerator's outputs equal the CPU's (modules that sample in their
    forward, detected by two CPU runs with different seeds, are only checked for devices and shapes)."""
    case = CASES[name]
    dev = torch.device(ACCELERATOR)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # compare in full fp32
    torch.manual_seed(0)
    module = case.build().eval()
    inputs = case.inputs(torch.device("cpu"))
    on_cpu, again = _run(case, module, inputs, 1), _run(case, module, inputs, 2)
    samples = any(not torch.equal(a, b) for a, b in zip(on_cpu, again, strict=True))
    module.to(dev)
    on_dev = _run(case, module, _to(inputs, dev), 1)
    assert [t.shape for t in on_dev] == [t.shape for t in on_cpu]
    if not samples:
        for a, b in zip(on_dev, on_cpu, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


# --- decoders ------------------------------------------------------------------------------------------


class _Checked:
    """A step over a fixed random table that asserts where and what every tensor it receives is."""

    def __init__(self, dev: torch.device, V: int = 6) -> None:
        self.dev, self.V, self.calls = dev, V, 0
        self.table = torch.log_softmax(torch.randn(17, V, device=dev), dim=-1)  # (17, V)

    def _check(self, name: str, t: torch.Tensor, dtype: torch.dtype) -> None:
        assert t.device == self.dev, f"{name} on {t.device}, expected {self.dev}"
        assert t.dtype == dtype, f"{name} has dtype {t.dtype}, expected {dtype}"

    def __call__(self, prefix: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        self.calls += 1
        self._check("prefix", prefix, torch.long)
        self._check("state['h']", state["h"], torch.long)
        self._check("state['memory']", state["memory"], torch.float32)
        h = (state["h"] * 5 + prefix[:, -1]) % 17  # (B,)
        return self.table[h], {"h": h, "memory": state["memory"]}


@pytest.mark.parametrize("decode", ["greedy", "sample", "beam"])
def test_decoders_keep_every_tensor_on_the_states_device(decode):
    dev = torch.device(ACCELERATOR)  # the CPU, or the GPU under make gpu-check; no device= would give meta
    step = _Checked(dev)
    state = {"h": torch.arange(3, device=dev), "memory": torch.zeros(3, 2, device=dev)}
    g = torch.Generator(device=dev).manual_seed(0)
    with torch.device("meta"):
        if decode == "greedy":
            out = greedy_decode(step, state, bos=1, eos=2, max_len=6)
        elif decode == "sample":
            out = sample(step, state, bos=1, eos=2, max_len=6, temperature=2.0, top_k=4, generator=g)
        else:
            out = torch.tensor(beam_search(step, state, bos=1, eos=None, beam_width=3, max_len=6), device=dev)
    assert step.calls > 0 and out.device == dev and out.dtype == torch.long


def test_model_decoders_build_every_tensor_on_the_models_device():
    """Each sequence model's decoder(src) feeds seqcourse.decoding without leaving the model's device."""
    from seqcourse.nn.language_model import RNNLanguageModel
    from seqcourse.nn.nat import NATConfig, NATransformer
    from seqcourse.nn.seq2seq import Seq2Seq
    from seqcourse.nn.transformer import Transformer, TransformerConfig

    torch.manual_seed(0)
    src = torch.randint(3, 11, (2, 5), device=ACCELERATOR)
    models = {
        "lm": RNNLanguageModel(11, emb_size=4, hidden_size=5, cell="lstm"),
        "seq2seq": Seq2Seq(11, 11, emb_size=4, hidden_size=5),
        "transformer": Transformer(
            TransformerConfig(
                11, 11, d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=16
            )
        ),
        "nat": NATransformer(NATConfig(11, 11, max_len=6, d_model=8, num_heads=2, num_layers=1, d_ff=16)),
    }
    for name, model in models.items():
        model.to(src.device).eval()
        with torch.no_grad(), torch.device("meta"):
            step, state = model.decoder(src if name != "lm" else src[:, :1])
            for t in _tensors(state):
                assert t.device == src.device, f"{name}: state on {t.device}"
            out = greedy_decode(step, state, bos=1, eos=2, max_len=4)
            beams = beam_search(step, state, bos=1, eos=2, beam_width=2, max_len=4)
        assert out.device == src.device and len(beams) == 2, name


def test_no_module_names_the_cpu():
    """What the meta runs cannot see: a hard-coded CPU in a module that reads data. Only utils.device() may
    name the CPU (its last resort)."""
    import re
    from pathlib import Path

    import seqcourse

    root = Path(seqcourse.__file__).parent
    cpu = re.compile(r"""device\(\s*["']cpu["']|device\s*=\s*["']cpu["']|\.to\(\s*["']cpu["']""")
    offenders = [
        f"{path.relative_to(root)}:{i}"
        for path in sorted(root.rglob("*.py"))
        if path.parts[len(root.parts)] != "grading" and path.name != "utils.py"
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if cpu.search(line)
    ]
    assert offenders == []
