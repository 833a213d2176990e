"""A recurrent language model: embedding -> recurrent core -> linear layer over the vocabulary (lecture 002).

    e_t = E[x_t],   h_t = core(e_t, h_{t-1}),   o_t = V h_t + c,   P(x_{t+1} | x_<=t) = softmax(o_t)

Trained with teacher forcing on (input, input shifted by one) pairs. The lecture's "hello" example: with the
vocabulary [h, e, l, o], the inputs h, e, l, l must predict e, l, l, o; after the first "l" the model must
answer "l" and after the second "o", which only a hidden state that remembers the past can do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.nn.recurrent import GRU, LSTM, RNN
from seqcourse.utils import check_ndim

__all__ = ["RNNLanguageModel", "perplexity", "HELLO_VOCAB", "train_hello"]

_CORES = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
HELLO_VOCAB = ["h", "e", "l", "o"]


class RNNLanguageModel(nn.Module):
    """Next-token model over ``vocab_size`` ids; ``cell`` is ``"rnn"``, ``"lstm"`` or ``"gru"``.

    ``forward(x (B, T), state=None) -> (logits (B, T, V), state)``; ``state`` is the core's final state in
    ``torch.nn`` layout ((num_layers, B, n), a pair of them for the LSTM), to be passed back in to continue.
    """

    def __init__(
        self,
        vocab_size: int,
        emb_size: int = 32,
        hidden_size: int = 64,
        cell: str = "lstm",
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        if cell not in _CORES:
            raise ValueError(f"cell must be one of {sorted(_CORES)}, got {cell!r}")
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.core = _CORES[cell](emb_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.output = nn.Linear(hidden_size, vocab_size)  # o_t = V h_t + c

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        if not isinstance(x, torch.Tensor) or x.dtype != torch.long:
            raise TypeError(f"x must be a LongTensor of token ids, got {getattr(x, 'dtype', type(x))}")
        check_ndim("x", x, 2)
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.vocab_size):
            got = f"[{int(x.min())}, {int(x.max())}]"
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got {got}")
        e = self.embedding(x)  # (B, T, emb)
        h, state = self.core(e, state)  # (B, T, n)
        return self.output(h), state  # (B, T, V)

    def loss(self, x: torch.Tensor, y: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
        """Mean cross-entropy -1/N sum_t log P(y_t | x_<=t) over the targets ``y`` (B, T)."""
        logits, _ = self(x)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=ignore_index)

    def step_fn(self):
        """A ``step(prefix, state)`` for :mod:`seqcourse.decoding`.

        With ``state=None`` it reads the whole prefix (a prompt); afterwards only the newest token. The state
        is kept batch-first, (B, num_layers, n), so beam search can reorder it along dim 0.
        """

        def to_torch(s: Any) -> Any:
            return None if s is None else tuple(t.transpose(0, 1).contiguous() for t in s)

        def step(prefix: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
            tokens = prefix if state is None else prefix[:, -1:]  # (B, t) or (B, 1)
            core_state = to_torch(state)
            if core_state is not None and not isinstance(self.core, LSTM):
                core_state = core_state[0]
            logits, new = self(tokens, core_state)  # (B, t, V)
            new = new if isinstance(new, tuple) else (new,)
            return torch.log_softmax(logits[:, -1], dim=-1), to_torch(new)

        return step


def perplexity(model: RNNLanguageModel, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """exp(-(1/N) sum log P(y_t | x_<=t)) over all target tokens of ``(x, y)`` batches (no padding)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    dev = next(model.parameters()).device
    with torch.no_grad():
        for x, y in batches:
            logits, _ = model(x.to(dev))  # (B, T, V)
            total += float(F.cross_entropy(logits.flatten(0, 1), y.to(dev).flatten(), reduction="sum"))
            count += y.numel()
    model.train(was_training)
    if count == 0:
        raise ValueError("perplexity() got no tokens")
    return math.exp(total / count)


def train_hello(steps: int = 80, cell: str = "lstm", seed: int = 0) -> RNNLanguageModel:
    """Fit the lecture's example: inputs "hell" -> targets "ello" over the vocabulary [h, e, l, o]."""
    torch.manual_seed(seed)
    ids = {ch: i for i, ch in enumerate(HELLO_VOCAB)}
    x = torch.tensor([[ids[c] for c in "hell"]])  # (1, 4)
    y = torch.tensor([[ids[c] for c in "ello"]])  # (1, 4)
    model = RNNLanguageModel(len(HELLO_VOCAB), emb_size=8, hidden_size=16, cell=cell)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()
    return model
