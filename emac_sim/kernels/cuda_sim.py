"""xoroshiro128+ in plain Python for numba's CUDA simulator: the same numbers as ``numba.cuda.random``.

Under ``NUMBA_ENABLE_CUDASIM=1`` numba runs its xoroshiro128+ helpers as object-mode CPU
functions on numpy ``uint64`` scalars: every draw recompiles a little, overflows (by design) and
warns, which makes a simulated journey kernel hundreds of times slower than it needs to be. The
simulated CUDA kernels draw through this module instead: the same generator (Blackman & Vigna's
xoroshiro128+ with rotations 55/14/36, seeded through splitmix64, 2^64-step jumps, the top 53
bits as the uniform), on Python integers. ``tests/test_cuda_backend.py`` checks it draw for draw
against numba's own functions, so the simulator still exercises the streams a GPU would draw.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_M64 = (1 << 64) - 1
_JUMP = (0xBEAC0467EBA5FACB, 0xD86B048B86AA9922)
_TO_UNIT = 1.0 / (1 << 53)


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & _M64


def _step(s0: int, s1: int) -> tuple[int, int, int]:
    """``(output, s0', s1')`` of one xoroshiro128+ step."""
    out = (s0 + s1) & _M64
    s1 ^= s0
    return out, _rotl(s0, 55) ^ s1 ^ ((s1 << 14) & _M64), _rotl(s1, 36)


def uniform_float64(states: Any, index: int) -> float:
    """``numba.cuda.random.xoroshiro128p_uniform_float64(states, index)``, in plain Python."""
    rec = states[index]
    out, s0, s1 = _step(int(rec["s0"]), int(rec["s1"]))
    rec["s0"] = s0
    rec["s1"] = s1
    return (out >> 11) * _TO_UNIT


def _jump(s0: int, s1: int) -> tuple[int, int]:
    j0 = j1 = 0
    for word in _JUMP:
        for b in range(64):
            if word >> b & 1:
                j0 ^= s0
                j1 ^= s1
            _, s0, s1 = _step(s0, s1)
    return j0, j1


def init_states(n: int, seed: int, subsequence_start: int = 0) -> np.ndarray:
    """Host array of ``n`` states as ``numba.cuda.random.create_xoroshiro128p_states(n, seed,
    subsequence_start)`` fills it: state ``i`` is the seed's stream jumped ``subsequence_start + i``
    times by 2^64 steps."""
    from numba.cuda.random import xoroshiro128p_dtype

    z = (int(seed) + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    z ^= z >> 31
    s0 = s1 = z
    for _ in range(int(subsequence_start)):
        s0, s1 = _jump(s0, s1)
    out = np.empty(int(n), dtype=xoroshiro128p_dtype)
    for i in range(int(n)):
        if i:
            s0, s1 = _jump(s0, s1)
        out[i]["s0"] = s0
        out[i]["s1"] = s1
    return out
