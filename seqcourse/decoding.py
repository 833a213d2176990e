"""Turning a next-token model into sequences: greedy decoding, beam search, sampling.

Every decoder talks to the model through one function, so RNN decoders and Transformers share this code::

    step(prefix: LongTensor (B, t), state) -> (log_probs (B, V), new_state)

``prefix`` holds every token so far, starting with ``bos`` (an RNN reads only ``prefix[:, -1]`` and carries
its hidden state; a Transformer may re-read the whole prefix and use ``state`` for the encoder memory).
``state`` is None, a tensor, or any nested tuple / list / dict of tensors whose dim 0 is the batch; beam
search reorders it with ``index_select`` on dim 0 (or with a ``reorder_state(state, index)`` callable).
Every sequence model of :mod:`seqcourse.nn` builds the pair with ``step, state = model.decoder(src)``.

The decoders build the prefix on the device of the state's tensors, or on ``device=`` when the state holds
none (``device`` is then required: nothing silently falls back to the CPU). The step must answer on the
prefix's device.

Greedy decoding and sampling return a LongTensor (B, L) of generated tokens (``bos`` not included, ``eos``
included where produced, ``pad`` after it); beam search returns one list of token ids per batch element.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from seqcourse.utils import check_positive

__all__ = ["Step", "greedy_decode", "sample", "beam_search"]

Step = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


def _map_state(fn: Callable[[torch.Tensor], torch.Tensor], state: Any) -> Any:
    """Apply ``fn`` to every tensor of a nested tuple / list / dict, keeping the structure."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, tuple):
        return tuple(_map_state(fn, s) for s in state)
    if isinstance(state, list):
        return [_map_state(fn, s) for s in state]
    if isinstance(state, dict):
        return {k: _map_state(fn, v) for k, v in state.items()}
    kind = type(state).__name__
    raise TypeError(f"state must be None, a tensor, or a tuple/list/dict of tensors, got {kind}")


def _first_tensor(state: Any) -> torch.Tensor | None:
    found: list[torch.Tensor] = []
    _map_state(lambda t: found.append(t) or t, state)
    return found[0] if found else None


def _batch_and_device(
    state: Any, batch_size: int | None, device: torch.device | str | None
) -> tuple[int, torch.device]:
    """The number of sequences and the device to decode on, from the state's first tensor or the arguments."""
    first = _first_tensor(state)
    if batch_size is None:
        if first is None:
            raise ValueError("state holds no tensor; pass batch_size= to say how many sequences to decode")
        batch_size = first.shape[0]
    check_positive(batch_size=batch_size)
    if device is not None:
        dev = torch.device(device)
        if first is not None and first.device != dev:
            raise ValueError(f"device={dev} but the state's tensors are on {first.device}")
    elif first is not None:
        dev = first.device
    else:
        raise ValueError("state holds no tensor; pass device= (the model's device) to say where to decode")
    return batch_size, dev


def _check_common(bos: int, eos: int | None, max_len: int) -> None:
    check_positive(max_len=max_len)
    bad = [t for t in (bos, eos) if t is not None and (not isinstance(t, int) or isinstance(t, bool))]
    if bos is None or bad:
        raise TypeError(f"bos and eos must be int token ids (eos may be None), got {bos!r}, {eos!r}")


def _call_step(step: Step, prefix: torch.Tensor, state: Any, n_rows: int) -> tuple[torch.Tensor, Any]:
    log_probs, state = step(prefix, state)
    if not isinstance(log_probs, torch.Tensor) or log_probs.ndim != 2 or log_probs.shape[0] != n_rows:
        shape = tuple(log_probs.shape) if isinstance(log_probs, torch.Tensor) else type(log_probs).__name__
        raise ValueError(f"step must return log_probs of shape ({n_rows}, V), got {shape}")
    if log_probs.device != prefix.device:
        raise ValueError(f"step returned log_probs on {log_probs.device} for a prefix on {prefix.device}")
    return log_probs, state


def _decode_loop(
    step: Step,
    state: Any,
    bos: int,
    eos: int | None,
    max_len: int,
    choose: Callable[[torch.Tensor], torch.Tensor],
    pad: int,
    batch_size: int | None,
    device: torch.device | str | None,
) -> torch.Tensor:
    """Shared loop of greedy decoding and sampling: ``choose`` maps log_probs (B, V) to tokens (B,)."""
    _check_common(bos, eos, max_len)
    B, dev = _batch_and_device(state, batch_size, device)
    prefix = torch.full((B, 1), bos, dtype=torch.long, device=dev)  # (B, 1)
    done = torch.zeros(B, dtype=torch.bool, device=dev)  # (B,)
    for _ in range(max_len):
        log_probs, state = _call_step(step, prefix, state, B)  # (B, V)
        token = choose(log_probs)  # (B,)
        token = torch.where(done, torch.full_like(token, pad), token)
        prefix = torch.cat([prefix, token[:, None]], dim=1)  # (B, t + 1)
        if eos is not None:
            done = done | (token == eos)
            if bool(done.all()):
                break
    return prefix[:, 1:]


def greedy_decode(
    step: Step,
    state: Any,
    bos: int,
    eos: int | None,
    max_len: int,
    *,
    pad: int = 0,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Pick y_t = argmax_y log p(y | y_<t) at every step; stop when every row has produced ``eos``.

    Returns a LongTensor (B, L), L <= max_len. ``batch_size`` and ``device`` are needed only when ``state``
    holds no tensor.
    """
    return _decode_loop(step, state, bos, eos, max_len, lambda lp: lp.argmax(-1), pad, batch_size, device)


def sample(
    step: Step,
    state: Any,
    bos: int,
    eos: int | None,
    max_len: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    *,
    pad: int = 0,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw y_t ~ softmax(log p(. | y_<t) / temperature), optionally from the ``top_k`` most likely tokens.

    ``temperature`` -> 0 approaches greedy decoding (``temperature=0`` is exactly greedy); ``top_k=1`` is
    greedy at any temperature; a large temperature approaches the uniform distribution. The ``generator``
    must live on the same device as the model's outputs. Returns a LongTensor (B, L).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None:
        check_positive(top_k=top_k)

    def choose(log_probs: torch.Tensor) -> torch.Tensor:
        if temperature == 0 or top_k == 1:
            return log_probs.argmax(-1)
        logits = log_probs.float() / temperature  # (B, V)
        if top_k is not None and top_k < logits.shape[-1]:
            kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
            logits = logits.masked_fill(logits < kth, -math.inf)
        probs = torch.softmax(logits, dim=-1)  # (B, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return _decode_loop(step, state, bos, eos, max_len, choose, pad, batch_size, device)


def beam_search(
    step: Step,
    state: Any,
    bos: int,
    eos: int | None,
    beam_width: int,
    max_len: int,
    length_penalty: float = 0.0,
    *,
    reorder_state: Callable[[Any, torch.Tensor], Any] | None = None,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> list[list[int]]:
    """Keep the ``beam_width`` best prefixes by total log-probability sum_t log p(y_t | y_<t).

    A hypothesis ends when it emits ``eos`` (kept in the beam with a frozen score) or reaches ``max_len``.
    The winner maximises score / L^alpha, where L is its number of tokens (``eos`` included) and alpha =
    ``length_penalty`` (0: raw log-probability, which favours short outputs; 1: mean log-probability).
    Returns the best sequence (``bos`` excluded, ``eos`` included if produced) for each batch element.
    With ``beam_width=1`` this equals greedy decoding. ``batch_size`` and ``device`` are needed only when
    ``state`` holds no tensor.
    """
    _check_common(bos, eos, max_len)
    check_positive(beam_width=beam_width)
    B, dev = _batch_and_device(state, batch_size, device)
    K = beam_width
    reorder = reorder_state or (lambda s, index: _map_state(lambda t: t.index_select(0, index), s))
    # Every batch element starts with K copies of its state; only copy 0 is live at first.
    state = reorder(state, torch.arange(B, device=dev).repeat_interleave(K))
    prefix = torch.full((B * K, 1), bos, dtype=torch.long, device=dev)  # (B K, 1)
    scores = torch.full((B, K), -math.inf, device=dev)  # (B, K)
    scores[:, 0] = 0.0
    lengths = torch.zeros(B, K, dtype=torch.long, device=dev)  # (B, K)
    done = torch.zeros(B, K, dtype=torch.bool, device=dev)  # (B, K)
    for _ in range(max_len):
        log_probs, state = _call_step(step, prefix, state, B * K)  # (B K, V)
        V = log_probs.shape[-1]
        log_probs = log_probs.float().view(B, K, V)  # (B, K, V)
        # A finished hypothesis may only "continue" with eos at no cost, so it survives unchanged.
        frozen = torch.full((V,), -math.inf, device=dev)
        frozen[eos if eos is not None else 0] = 0.0
        log_probs = torch.where(done[..., None], frozen, log_probs)
        total = (scores[..., None] + log_probs).view(B, K * V)  # (B, K V)
        scores, flat = total.topk(K, dim=-1)  # (B, K)
        parent, token = flat // V, flat % V  # (B, K)
        rows = (parent + torch.arange(B, device=dev)[:, None] * K).view(-1)  # (B K,)
        was_done = done.gather(1, parent)  # (B, K)
        lengths = lengths.gather(1, parent) + (~was_done).long()
        done = was_done | (token == eos) if eos is not None else was_done
        prefix = torch.cat([prefix[rows], token.view(-1, 1)], dim=1)  # (B K, t + 1)
        state = reorder(state, rows)
        if bool(done.all()):
            break
    final = scores / lengths.clamp(min=1).float() ** length_penalty  # (B, K)
    final = final.masked_fill(torch.isinf(scores), -math.inf)
    best = final.argmax(-1)  # (B,)
    out = []
    for b in range(B):
        k = int(best[b])
        out.append(prefix[b * K + k, 1 : 1 + int(lengths[b, k])].tolist())
    return out
