"""The standard normal CDF for the kernels (numba, scalar in, scalar out), via ``math.erfc``."""

from __future__ import annotations

import math

from numba import njit

_SQRT1_2 = 0.7071067811865476


@njit(cache=True)
def ndtr(z: float) -> float:
    """Standard normal CDF Φ(z)."""
    return 0.5 * math.erfc(-z * _SQRT1_2)
