"""Latency draws for the generated journey kernels (numba, scalars in, scalars out).

The generated kernels draw from a ``numpy.random.Generator`` (PCG64) inside ``@njit``:
``rng.standard_normal()`` and ``rng.standard_exponential()`` are NumPy's ziggurat samplers and
``rng.random()`` its 53-bit uniform, bit-identical to the same calls made from Python. The
helpers here cover what the Generator does not offer directly, or offers slowly:

* :func:`std_gamma` — Marsaglia & Tsang (2000) for shape > 1 and the Johnk-style rejection for
  shape < 1, written draw for draw as NumPy's ``random_standard_gamma`` (so a Python
  ``rng.standard_gamma(shape)`` gives the same number and leaves the stream in the same place),
  with the shape's constants ``b = shape − 1/3`` and ``c = 1/sqrt(9b)`` precomputed by the caller;
* :func:`piecewise` — the exact inverse of a piecewise-linear CDF with an exponential tail
  (``empirical`` and ``histogram`` latencies), from a uniform;
* :func:`table` — a quantile table on a logit grid, for gamma and mixture latencies driven by a
  correlated latent normal (``u = Φ(z)``);
* :func:`log_sf` — ``ln(1 − Φ(z))`` accurately on both sides, for inverse CDFs of latents.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .special import ndtr

_LOG_SQRT_2PI = 0.9189385332046728


@njit(cache=True, nogil=True)
def std_gamma(rng: np.random.Generator, shape: float, b: float, c: float) -> float:
    """A standard gamma draw (scale 1), the same draws as NumPy's ``standard_gamma(shape)``.

    ``b = shape − 1/3`` and ``c = 1/sqrt(9·b)`` (used when shape > 1).
    """
    if shape == 1.0:
        return rng.standard_exponential()
    if shape == 0.0:
        return 0.0
    if shape < 1.0:
        while True:
            u = rng.random()
            v = rng.standard_exponential()
            if u <= 1.0 - shape:
                x = u ** (1.0 / shape)
                if x <= v:
                    return x
            else:
                y = -math.log((1.0 - u) / shape)
                x = (1.0 - shape + shape * y) ** (1.0 / shape)
                if x <= v + y:
                    return x
    while True:
        while True:
            x = rng.standard_normal()
            v = 1.0 + c * x
            if v > 0.0:
                break
        v = v * v * v
        u = rng.random()
        if u < 1.0 - 0.0331 * (x * x) * (x * x):
            return b * v
        if math.log(u) < 0.5 * x * x + b * (1.0 - v + math.log(v)):
            return b * v


@njit(cache=True, nogil=True)
def piecewise(tab: np.ndarray, off: int, n: int, pn: float, xn: float, theta: float, u: float, s: float) -> float:
    """Inverse of a piecewise-linear CDF through ``n`` points (probabilities at
    ``tab[off:off+n]``, seconds at ``tab[off+n:off+2n]``), exponential tail
    ``x_n − θ·ln(s/(1 − p_n))`` beyond ``p_n``; ``u`` the uniform and ``s = 1 − u``."""
    if u > pn and theta > 0.0:
        return xn - theta * math.log(s / (1.0 - pn))
    xo = off + n
    if u >= tab[off + n - 1]:
        return tab[xo + n - 1]
    lo = 0
    hi = n - 1
    while hi - lo > 1:  # invariant p[lo] <= u < p[hi]
        mid = (lo + hi) >> 1
        if tab[off + mid] <= u:
            lo = mid
        else:
            hi = mid
    p_lo = tab[off + lo]
    return tab[xo + lo] + (u - p_lo) / (tab[off + hi] - p_lo) * (tab[xo + hi] - tab[xo + lo])


@njit(cache=True, nogil=True)
def table(tab: np.ndarray, off: int, n: int, w0: float, inv_dw: float, log_flag: bool, u: float, s: float) -> float:
    """Quantile at ``u`` (``s = 1 − u``) from a table on the uniform logit grid ``w0 + k/inv_dw``,
    linear interpolation, in ln(seconds) when ``log_flag``."""
    pos = (math.log(u / s) - w0) * inv_dw
    if pos <= 0.0:
        v = tab[off]
    elif pos >= n - 1:
        v = tab[off + n - 1]
    else:
        i = int(pos)
        f = pos - i
        v = tab[off + i] + f * (tab[off + i + 1] - tab[off + i])
    if log_flag:
        return math.exp(v)
    return v


@njit(cache=True, nogil=True)
def latent_u(z: float) -> tuple[float, float]:
    """``(Φ(z), 1 − Φ(z))``, each kept away from 0."""
    u = ndtr(z)
    s = ndtr(-z)
    if u <= 0.0:
        u = 5e-324
    if s <= 0.0:
        s = 5e-324
    return u, s


@njit(cache=True, nogil=True)
def log_sf(z: float) -> float:
    """``ln(1 − Φ(z))`` without cancellation on either side; beyond z = 30 (where 1 − Φ(z)
    nears the subnormal range) the asymptotic series of Mills' ratio, exact to ~1e-14."""
    if z < 0.0:
        return math.log1p(-ndtr(z))
    if z > 30.0:
        r = 1.0 / (z * z)
        return -0.5 * z * z - math.log(z) - _LOG_SQRT_2PI + math.log1p(r * (-1.0 + r * (3.0 - 15.0 * r)))
    return math.log(ndtr(-z))
