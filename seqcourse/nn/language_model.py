"""A recurrent language model: embedding -> recurrent core -> linear layer over the vocabulary (lecture 002).

    e_t = E[x_t],   h_t = core(e_t, h_{t-1}),   o_t = V h_t + c,   P(x_{t+1} | x_<=t) = softmax(o_t)

Trained with teacher forcing on (input, input shifted by one) pairs: ``model.loss((x, y))``. The lecture's
"hello" example (:func:`seqcourse.demos.train_hello`) needs exactly this: after the first "l" the model must
answer "l" and after the second "o", which only a hidden state that remembers the past can do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.decoding import Step
from seqcourse.nn.recurrent import GRU, LSTM, RNN
from seqcourse.utils import check_positive, check_token_ids

__all__ = ["RNNLanguageModel", "perplexity"]

_CORES = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class RNNLanguageModel(nn.Module):
    """Next-token model over ``vocab_size`` ids; ``cell`` is ``"rnn"``, ``"lstm"`` or ``"gru"``.

    ``forward(x (B, T), state=None) -> (logits (B, T, V), state)``; ``state`` is the core's final state in
    ``torch.nn`` layout ((num_layers, B, n), a pair of them for the LSTM), to be passed back in to continue.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        emb_size: int = 32,
        hidden_size: int = 64,
        cell: str = "lstm",
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        if cell not in _CORES:
            raise ValueError(f"cell must be one of {sorted(_CORES)}, got {cell!r}")
        check_positive(vocab_size=vocab_size, emb_size=emb_size, hidden_size=hidden_size)
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.core = _CORES[cell](emb_size, hidden_size, num_layers, batch_first=True)
        self.output = nn.Linear(hidden_size, vocab_size)  # o_t = V h_t + c

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        check_token_ids("x", x, self.vocab_size)
        e = self.embedding(x)  # (B, T, emb)
        h, state = self.core(e, state)  # (B, T, n)
        return self.output(h), state  # (B, T, V)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy -1/N sum_t log P(y_t | x_<=t) of a batch ``(x (B, T), y (B, T))``."""
        x, y = batch
        logits, _ = self(x)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    def decoder(self, prompt: torch.Tensor) -> tuple[Step, tuple[torch.Tensor, ...]]:
        """``(step, state)`` for :mod:`seqcourse.decoding` that continues ``prompt`` (B, P).

        The state is the core's state after reading ``prompt[:, :-1]`` (zeros when P = 1), kept batch-first,
        (B, num_layers, n) (two of them for the LSTM), so beam search can reorder it along dim 0; decode
        with ``bos = prompt[:, -1]``'s token. Each step reads only the newest token of the prefix.
        """
        check_token_ids("prompt", prompt, self.vocab_size)
        if prompt.shape[1] == 0:
            raise ValueError("prompt must hold at least one token (the one passed to the decoder as bos)")
        core = self.core
        if prompt.shape[1] > 1:
            _, state = self(prompt[:, :-1])
        else:
            B = prompt.shape[0]
            zeros = self.output.weight.new_zeros(core.num_layers, B, core.hidden_size)  # (L, B, n)
            state = (zeros, zeros) if isinstance(core, LSTM) else zeros
        parts = state if isinstance(state, tuple) else (state,)

        def step(prefix: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, Any]:
            core_state = tuple(t.transpose(0, 1).contiguous() for t in state)  # torch layout (L, B, n)
            logits, new = self(prefix[:, -1:], core_state if isinstance(core, LSTM) else core_state[0])
            new = new if isinstance(new, tuple) else (new,)
            return torch.log_softmax(logits[:, -1], dim=-1), tuple(t.transpose(0, 1) for t in new)

        return step, tuple(t.transpose(0, 1) for t in parts)  # (B, L, n) each


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
