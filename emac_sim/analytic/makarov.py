"""Sup- and inf-convolutions behind the Makarov bounds for sums (numba, arrays only).

For a sum of two durations with CDF bounds ``a`` and ``b`` on one grid,
``P(t_A + t_B ≤ x_k) ≥ max_{j ≤ k} a[j] + b[x_k − x_j] − 1`` and
``≤ min_{j ≤ k} a[j] + b[x_k − x_j]`` (Makarov 1981; Williamson & Downs 1990). ``x_k − x_j``
is generally not a grid point, so the caller passes, per (k, j), the index of the grid point
to read — below it for lower bounds and survival bounds, above it for upper bounds — as a flat
(n·n,) array with ``n`` (a sentinel) where j > k. Arrays must be C-contiguous.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_SIG = "float64[::1](float64[::1], float64[::1], intp[::1])"


@njit(_SIG, cache=True)
def sup_convolution(a: np.ndarray, b: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``out[k] = max over j ≤ k of a[j] + b[index[k·n + j]]`` (sentinel entries skipped)."""
    n = a.shape[0]
    out = np.empty(n)
    for k in range(n):
        best = -np.inf
        row = k * n
        for jx in range(k + 1):
            i = index[row + jx]
            if i < n:
                v = a[jx] + b[i]
                if v > best:
                    best = v
        out[k] = best
    return out


@njit(_SIG, cache=True)
def inf_convolution(a: np.ndarray, b: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``out[k] = min over j ≤ k of a[j] + b[index[k·n + j]]`` (sentinel entries skipped)."""
    n = a.shape[0]
    out = np.empty(n)
    for k in range(n):
        best = np.inf
        row = k * n
        for jx in range(k + 1):
            i = index[row + jx]
            if i < n:
                v = a[jx] + b[i]
                if v < best:
                    best = v
        out[k] = best
    return out
