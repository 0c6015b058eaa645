"""xoshiro256** (Blackman & Vigna, 2018) for the kernels: a 256-bit state in a ``uint64[4]``.

The engine seeds each block's state from ``numpy.random.SeedSequence``; kernels only advance it.
``next_uniform`` returns ``(k + 0.5)·2⁻⁵²`` for the top 52 bits ``k`` of the output: an open-interval
uniform in (0, 1) whose complement ``1 − u`` is on the same grid and exact, so tails of inverse
CDFs reach 2⁻⁵³ on both sides and never hit 0 or 1. ``emac_sim.reference`` ports the same
generator to pure Python, which lets tests feed identical random inputs to both simulators.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U17 = np.uint64(17)
_U45 = np.uint64(45)
_U7 = np.uint64(7)
_U5 = np.uint64(5)
_U9 = np.uint64(9)
_U12 = np.uint64(12)
_U64 = np.uint64(64)
_TWO_M52 = 2.0**-52


@njit(cache=True, inline="always")
def _rotl(x: np.uint64, k: np.uint64) -> np.uint64:
    return (x << k) | (x >> (_U64 - k))


@njit(cache=True, inline="always")
def next_u64(st: np.ndarray) -> np.uint64:
    """Advance the state ``st`` (uint64[4], in place) and return the next 64-bit output."""
    s0 = st[0]
    s1 = st[1]
    s2 = st[2]
    s3 = st[3]
    result = _rotl(s1 * _U5, _U7) * _U9
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, _U45)
    st[0] = s0
    st[1] = s1
    st[2] = s2
    st[3] = s3
    return result


@njit(cache=True, inline="always")
def next_uniform(st: np.ndarray) -> float:
    """Next uniform in the open interval (0, 1), on the grid (k + 0.5)·2⁻⁵²."""
    return (float(next_u64(st) >> _U12) + 0.5) * _TWO_M52
