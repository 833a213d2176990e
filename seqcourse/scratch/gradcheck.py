"""Central-difference gradient checking for the NumPy references (and for students' assignments).

For a scalar function f of a dict of float64 arrays, each entry of the numerical gradient is

    df/dθ_i ≈ [f(θ + ε e_i) - f(θ - ε e_i)] / (2ε),

whose error is O(ε²). Comparing it with a hand-written gradient ``g`` uses the relative error

    |g_i - n_i| / max(|g_i| + |n_i|, floor),

which is scale-free; the floor (default 1e-6) turns it into an absolute error for entries where both
gradients are ~0, whose central differences are pure rounding noise (about 1e-10 |f| for ε = 1e-6).
With float64 a correct backward pass gives errors below 1e-6; a wrong one gives errors near 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["numerical_gradient", "relative_error", "gradcheck"]

Params = Mapping[str, np.ndarray]


def _check_params(params: Params) -> None:
    if not isinstance(params, Mapping) or not params:
        raise TypeError(f"params must be a non-empty dict of arrays, got {type(params).__name__}")
    for name, value in params.items():
        if not isinstance(value, np.ndarray):
            raise TypeError(f"params[{name!r}] must be a numpy array, got {type(value).__name__}")
        if value.dtype != np.float64:
            raise TypeError(f"params[{name!r}] must be float64 for a gradient check, got {value.dtype}")


def numerical_gradient(
    f: Callable[[Params], float], params: Params, eps: float = 1e-6
) -> dict[str, np.ndarray]:
    """Central-difference gradient of the scalar ``f(params)`` with respect to every array in ``params``.

    ``params`` is perturbed in place one entry at a time and restored afterwards, so ``f`` sees the
    same dict object. Cost: 2 evaluations of f per parameter entry, so keep the model tiny.
    """
    _check_params(params)
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    grads: dict[str, np.ndarray] = {}
    for name, theta in params.items():
        g = np.zeros_like(theta)
        flat, g_flat = theta.reshape(-1), g.reshape(-1)  # views: writing flat[i] changes theta
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            f_plus = float(f(params))
            flat[i] = old - eps
            f_minus = float(f(params))
            flat[i] = old
            g_flat[i] = (f_plus - f_minus) / (2 * eps)
        grads[name] = g
    return grads


def relative_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-6) -> float:
    """Largest entrywise relative error ``|a - b| / max(|a| + |b|, floor)`` between two arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))


def gradcheck(
    f: Callable[[Params], float],
    params: Params,
    grads: Mapping[str, np.ndarray],
    eps: float = 1e-6,
) -> float:
    """Largest relative error between the analytic ``grads`` and central differences of ``f``.

    ``grads`` must have exactly the keys of ``params`` and the same shapes. Returns one float;
    a typical acceptance threshold for float64 is 1e-6.
    """
    if set(grads) != set(params):
        raise ValueError(f"grads has keys {sorted(grads)}, params has keys {sorted(params)}")
    numeric = numerical_gradient(f, params, eps)
    errors = []
    for name in params:
        if np.shape(grads[name]) != params[name].shape:
            raise ValueError(
                f"grads[{name!r}] must have shape {params[name].shape}, got {np.shape(grads[name])}"
            )
        errors.append(relative_error(grads[name], numeric[name]))
    return max(errors)
