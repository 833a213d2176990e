"""Small utilities shared by every chapter: device choice, seeding, timing and shape checks."""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "device",
    "seed_everything",
    "Timer",
    "check_shape",
    "check_ndim",
    "check_positive",
    "check_non_negative",
    "saved_tensor_bytes",
]


def device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then the CPU.

    ``prefer`` (or the environment variable ``SEQCOURSE_DEVICE``) forces a choice, e.g. ``"cpu"``.
    """
    choice = prefer or os.environ.get("SEQCOURSE_DEVICE")
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices); return a ``torch.Generator`` seeded the same."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class Timer:
    """Wall-clock timer usable as a context manager; waits for queued CUDA work before reading the clock.

    >>> with Timer() as t:
    ...     _ = sum(range(1000))
    >>> t.elapsed >= 0
    True
    """

    def __init__(self, sync_device: torch.device | str | None = None) -> None:
        self.sync_device = torch.device(sync_device) if sync_device is not None else None
        self.elapsed = 0.0
        self._start: float | None = None

    def _sync(self) -> None:
        if torch.cuda.is_available() and (self.sync_device is None or self.sync_device.type == "cuda"):
            torch.cuda.synchronize(self.sync_device)

    def __enter__(self) -> Timer:
        self._sync()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sync()
        assert self._start is not None
        self.elapsed = time.perf_counter() - self._start


def time_alternately(
    fns: Mapping[str, Callable[[], object]], repeats: int = 5, sync_device: torch.device | str | None = None
) -> dict[str, float]:
    """Median wall time in milliseconds of each function, the functions called in turn ``repeats`` times.

    Every function is called once first (warm-up, not timed). Alternating the calls, rather than timing one
    function after the other, makes drift in the machine's load hit every candidate alike; the benchmarks
    report ratios of these medians measured in the same run.
    """
    check_positive(repeats=repeats)
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            with Timer(sync_device) as t:
                fn()
            times[name].append(1e3 * t.elapsed)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _describe(shape: Sequence[int | str | None]) -> str:
    parts = ["*" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def check_shape(name: str, x: np.ndarray | torch.Tensor, shape: Sequence[int | str | None]) -> None:
    """Raise ``ValueError`` unless ``x.shape`` matches ``shape``.

    An int entry must match exactly; a str entry (a symbol such as ``"T"``) or ``None`` matches any size.
    The message names the argument, the expected and the given shape, e.g.
    ``xs must have shape (T, 3), got (5, 4)``.
    """
    given = tuple(x.shape)
    mismatch = len(given) != len(shape) or any(
        isinstance(s, int) and s != g for s, g in zip(shape, given, strict=True)
    )
    if mismatch:
        raise ValueError(f"{name} must have shape {_describe(shape)}, got {_describe(given)}")


def check_ndim(name: str, x: np.ndarray | torch.Tensor, ndim: int | Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``x`` has one of the allowed numbers of dimensions."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must be a {want}-D array, got {x.ndim}-D with shape {_describe(x.shape)}")


def check_positive(**values: int) -> None:
    """Raise ``ValueError`` unless every keyword value is a positive int (bools are rejected).

    >>> check_positive(hidden_size=0)
    Traceback (most recent call last):
    ...
    ValueError: hidden_size must be a positive int, got 0
    """
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}")


def check_non_negative(**values: int) -> None:
    """Raise ``ValueError`` unless every keyword value is a non-negative int (bools are rejected)."""
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")


def saved_tensor_bytes(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Call ``fn(*args, **kwargs)`` and return ``(result, n_bytes)``: the bytes of the distinct storages that
    autograd keeps for the backward pass (the activation memory of training), on any device.

    Only operations on tensors that require grad save anything, so pass inputs with ``requires_grad=True``.
    A storage saved twice (``x * x`` keeps ``x`` for both factors) counts once; a saved view counts its whole
    storage, which is what it holds in memory.
    """
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn(*args, **kwargs)
    return result, sum(storages.values())
