"""Small utilities shared by every chapter: device choice, seeding, timing, and the package's one
validation vocabulary.

Every public entry point of ``seqcourse`` checks its arguments with these helpers, so a mistake gets the
same kind of message everywhere (the argument's name, what was expected, what was given):

* :func:`check_positive` / :func:`check_non_negative` / :func:`check_int_range`: sizes and counts (ints;
  ``True`` is not a size);
* :func:`check_ndim` / :func:`check_shape`: arrays and tensors, with symbolic sizes such as ``("B", "T", m)``
  that may be bound once and checked everywhere else (``sizes=``);
* :func:`check_params`: a dict of parameter arrays against a spec such as
  ``{"U": ("n", "m"), "W": ("n", "n"), "b": ("n",)}``; it returns the sizes it found, ``{"n": .., "m": ..}``;
* :func:`check_floating` / :func:`check_token_ids`: real-valued inputs and integer token ids.
"""

from __future__ import annotations

import numbers
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
    "check_int_range",
    "check_params",
    "check_floating",
    "check_token_ids",
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
    check_non_negative(seed=seed)
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


def check_shape(
    name: str,
    x: np.ndarray | torch.Tensor,
    shape: Sequence[int | str | None],
    *,
    sizes: dict[str, int] | None = None,
) -> None:
    """Raise ``ValueError`` unless ``x.shape`` matches ``shape``.

    An int entry must match exactly; ``None`` matches any size; a str entry (a symbol such as ``"T"``)
    matches any size, unless ``sizes`` is given: then a symbol already in ``sizes`` must match its value,
    and a new symbol is bound (``sizes`` is updated in place), so one dict checks a size across arguments.
    The message names the argument, the expected and the given shape, e.g.
    ``xs must have shape (T, 3), got (5, 4)``.
    """
    given = tuple(x.shape)
    mismatch = len(given) != len(shape) or any(
        isinstance(s, int) and s != g for s, g in zip(shape, given, strict=True)
    )
    if mismatch:
        raise ValueError(f"{name} must have shape {_describe(shape)}, got {_describe(given)}")
    if sizes is None:
        return
    for s, g in zip(shape, given, strict=True):
        if isinstance(s, str) and sizes.setdefault(s, g) != g:
            want = _describe([sizes.get(v, v) if isinstance(v, str) else v for v in shape])
            raise ValueError(
                f"{name} must have shape {want} = {_describe(shape)} ({s} = {sizes[s]} from the other "
                f"arguments), got {_describe(given)}"
            )


def check_ndim(name: str, x: np.ndarray | torch.Tensor, ndim: int | Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``x`` has one of the allowed numbers of dimensions."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must be a {want}-D array, got {x.ndim}-D with shape {_describe(x.shape)}")


def _is_int(v: object) -> bool:
    """An int, including NumPy integers, but not a bool (``True`` is not a size)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def check_positive(**values: int) -> None:
    """Raise ``ValueError`` unless every keyword value is a positive int (NumPy ints too; bools are rejected).

    >>> check_positive(hidden_size=0)
    Traceback (most recent call last):
    ...
    ValueError: hidden_size must be a positive int, got 0
    """
    for name, v in values.items():
        if not _is_int(v) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}")


def check_int_range(name: str, value: int, low: int, high: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) with ``low <= value`` (``<= high``).

    >>> check_int_range("min_len", 9, 1, 8)
    Traceback (most recent call last):
    ...
    ValueError: min_len must be an int in [1, 8], got 9
    """
    if not _is_int(value) or value < low or (high is not None and value > high):
        want = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {want}, got {value!r}")


def check_non_negative(**values: int) -> None:
    """Raise ``ValueError`` unless every keyword value is a non-negative int (bools are rejected)."""
    for name, v in values.items():
        if not _is_int(v) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")


def check_params(
    params: Mapping[str, Any],
    spec: Mapping[str, Sequence[int | str | None]],
    *,
    name: str = "params",
    sizes: dict[str, int] | None = None,
    array_type: type | None = None,
) -> dict[str, int]:
    """Check a dict of floating-point parameter arrays (NumPy or torch) against ``spec``; return the sizes.

    ``spec`` maps each required key to its shape, written with symbols that must agree across keys::

        >>> import numpy as np
        >>> check_params({"U": np.ones((4, 3)), "W": np.ones((4, 4)), "b": np.ones(4)},
        ...              {"U": ("n", "m"), "W": ("n", "n"), "b": ("n",)})
        {'n': 4, 'm': 3}

    Missing keys raise ``ValueError`` (listing the expected keys), a non-array or an integer array
    ``TypeError``, a wrong shape ``ValueError`` naming e.g. ``params['W']``. Extra keys are allowed.
    ``sizes`` pre-binds symbols (e.g. ``{"m": xs.shape[1]}``); it is updated in place and returned.
    ``array_type`` (e.g. ``np.ndarray`` for the NumPy references) restricts the accepted arrays.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"{name} must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in spec if k not in params]
    if missing:
        raise ValueError(f"{name} is missing {missing}; expected keys {list(spec)}")
    sizes = {} if sizes is None else sizes
    for key, shape in spec.items():
        label = f"{name}[{key!r}]"
        if array_type is not None and not isinstance(params[key], array_type):
            raise TypeError(f"{label} must be a {array_type.__name__}, got {type(params[key]).__name__}")
        check_floating(label, params[key])
        check_shape(label, params[key], shape, sizes=sizes)
    return sizes


def check_floating(name: str, x: Any) -> None:
    """Raise ``TypeError`` unless ``x`` is a floating-point NumPy array or torch tensor."""
    if isinstance(x, torch.Tensor):
        ok = x.is_floating_point()
    elif isinstance(x, np.ndarray):
        ok = np.issubdtype(x.dtype, np.floating)
    else:
        ok = False
    if not ok:
        got = getattr(x, "dtype", type(x).__name__)
        raise TypeError(f"{name} must be a floating-point array or tensor, got {got}")


def check_token_ids(name: str, x: Any, vocab_size: int | None = None, ndim: int | Sequence[int] = 2) -> None:
    """Raise unless ``x`` is a ``torch.long`` tensor of token ids with ``ndim`` dimensions and, when
    ``vocab_size`` is given, every id in ``[0, vocab_size)``: ``TypeError`` for the type, else ``ValueError``.

    The range check reads the values, so it synchronises with a GPU; on the ``meta`` device it is skipped.
    """
    if not isinstance(x, torch.Tensor) or x.dtype != torch.long:
        got = getattr(x, "dtype", type(x).__name__)
        raise TypeError(f"{name} must be a LongTensor of token ids, got {got}")
    check_ndim(name, x, ndim)
    if vocab_size is not None and x.numel() and not x.is_meta:
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"{name} must hold token ids in [0, {vocab_size}), got values in [{lo}, {hi}]")


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
