"""Log-bucketed latency histograms (HDR style) with at most 0.39 % relative bucket error.

A positive duration ``t = m·2ᵉ`` (``math.frexp``: m in [0.5, 1)) falls in bucket
``2 + (e − E_MIN)·128 + floor((2m − 1)·128)``: each power of two is split into 128 equal
sub-buckets, so a bucket ``[lo, hi)`` has ``hi/lo ≤ 1 + 1/128`` and its midpoint is within
``1/256 ≈ 0.39 %`` of every value in it. Bucket 0 holds ``t ≤ 0`` (exactly zero durations),
bucket 1 the underflow ``0 < t < 2^(E_MIN−1)`` (below 0.47 ns), the last bucket the overflow
``t ≥ 2^(E_MAX−1)`` (about 6 days) and NaN. Counts are int64, so merging is exact.

This module is the layout, in plain Python and numpy: the kernels compile :func:`bucket_index`
with numba (:mod:`emac_sim.kernels.histogram`), the reference simulator and the readers of the
counts (intervals, attribution, reports) use it as it is.
"""

from __future__ import annotations

import math

import numpy as np

SUB_BITS = 7
SUB = 1 << SUB_BITS
E_MIN = -30
E_MAX = 20
N_BUCKETS = 2 + (E_MAX - E_MIN) * SUB + 1
ZERO_BUCKET = 0
UNDERFLOW_BUCKET = 1
OVERFLOW_BUCKET = N_BUCKETS - 1


def bucket_index(t: float) -> int:
    """Bucket of a duration ``t`` (seconds)."""
    if t <= 0.0:
        return ZERO_BUCKET
    if not t < math.inf:
        return OVERFLOW_BUCKET
    m, e = math.frexp(t)
    if e < E_MIN:
        return UNDERFLOW_BUCKET
    if e >= E_MAX:
        return OVERFLOW_BUCKET
    return 2 + (e - E_MIN) * SUB + int((2.0 * m - 1.0) * SUB)


def bucket_edges() -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges (seconds) of every bucket, shape ``(N_BUCKETS,)`` each.

    Zero bucket: [0, 0]; underflow: [0, 2^(E_MIN−1)]; overflow: [2^(E_MAX−1), inf].
    """
    lo = np.zeros(N_BUCKETS)
    hi = np.zeros(N_BUCKETS)
    hi[UNDERFLOW_BUCKET] = 2.0 ** (E_MIN - 1)
    idx = np.arange(2, N_BUCKETS - 1)
    e = E_MIN + (idx - 2) // SUB
    sub = (idx - 2) % SUB
    base = np.ldexp(1.0, e - 1)
    lo[2:-1] = base * (1.0 + sub / SUB)
    hi[2:-1] = base * (1.0 + (sub + 1) / SUB)
    lo[OVERFLOW_BUCKET] = 2.0 ** (E_MAX - 1)
    hi[OVERFLOW_BUCKET] = math.inf
    return lo, hi


def bucket_values() -> np.ndarray:
    """Representative value of each bucket (seconds): the midpoint; 0 for the zero bucket, the
    upper edge for the underflow bucket and inf for the overflow bucket."""
    lo, hi = bucket_edges()
    mid = 0.5 * (lo + hi)
    mid[UNDERFLOW_BUCKET] = hi[UNDERFLOW_BUCKET]
    mid[OVERFLOW_BUCKET] = math.inf
    return mid
