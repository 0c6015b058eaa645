"""Latency samplers: one row of a sampler table turns a uniform into a duration (seconds).

Every sampler is an inverse CDF ``t = F⁻¹(u)`` evaluated from ``u`` and its complement
``s = 1 − u`` (both given, so upper tails keep full precision). Kinds and the parameter row
``par[m, :]`` they read:

==========  =====================================================================
ZERO        t = 0 (fast failures, latency not modelled)
CONSTANT    par = [value]
LOGNORMAL   par = [mu, sigma]: exp(mu + sigma·Φ⁻¹(u)); the latent-normal entry skips Φ⁻¹
EXPONENTIAL par = [mean]: −mean·ln s
WEIBULL     par = [shape, scale]: scale·(−ln s)^(1/shape)
PARETO      par = [scale, alpha]: scale·s^(−1/alpha)
PIECEWISE   par = [offset, n, p_n, x_n, theta]: exact linear CDF through the points
            ``tab[offset:offset+n]`` (probabilities) / ``tab[offset+n:offset+2n]`` (seconds),
            exponential tail x_n − θ·ln(s / (1 − p_n)) beyond p_n (``distributions._Piecewise``)
TABLE       par = [offset, n, w0, 1/dw, log_flag]: quantile table on a uniform grid in the
            logit ``w = ln(u/s)``, interpolated linearly (in ln t when ``log_flag``); both
            tails are resolved down to 2⁻⁵³ (used for gamma and mixtures)
==========  =====================================================================
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .special import ndtr, ndtri_pq

ZERO = 0
CONSTANT = 1
LOGNORMAL = 2
EXPONENTIAL = 3
WEIBULL = 4
PARETO = 5
PIECEWISE = 6
TABLE = 7
N_PAR = 5


@njit(cache=True, inline="always")
def _log_s(u: float, s: float) -> float:
    # ln(1 − u) accurately on both halves
    if u < 0.5:
        return math.log1p(-u)
    return math.log(s)


@njit(cache=True)
def _piecewise(par: np.ndarray, m: int, tab: np.ndarray, u: float, s: float) -> float:
    off = int(par[m, 0])
    n = int(par[m, 1])
    pn = par[m, 2]
    if u > pn and par[m, 4] > 0.0:
        return par[m, 3] - par[m, 4] * math.log(s / (1.0 - pn))
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


@njit(cache=True)
def _table(par: np.ndarray, m: int, tab: np.ndarray, u: float, s: float) -> float:
    off = int(par[m, 0])
    n = int(par[m, 1])
    pos = (math.log(u / s) - par[m, 2]) * par[m, 3]
    if pos <= 0.0:
        v = tab[off]
    elif pos >= n - 1:
        v = tab[off + n - 1]
    else:
        i = int(pos)
        f = pos - i
        v = tab[off + i] + f * (tab[off + i + 1] - tab[off + i])
    if par[m, 4] > 0.0:
        return math.exp(v)
    return v


@njit(cache=True, inline="always")
def sample_u(kind: np.ndarray, par: np.ndarray, m: int, tab: np.ndarray, u: float, s: float) -> float:
    """Duration (seconds) of sampler row ``m`` for the uniform ``u`` with ``s = 1 − u``."""
    k = kind[m]
    if k == ZERO:
        return 0.0
    if k == CONSTANT:
        return par[m, 0]
    if k == LOGNORMAL:
        return math.exp(par[m, 0] + par[m, 1] * ndtri_pq(u, s))
    if k == EXPONENTIAL:
        return -par[m, 0] * _log_s(u, s)
    if k == WEIBULL:
        return par[m, 1] * (-_log_s(u, s)) ** (1.0 / par[m, 0])
    if k == PARETO:
        return par[m, 0] * math.exp(-_log_s(u, s) / par[m, 1])
    if k == PIECEWISE:
        return _piecewise(par, m, tab, u, s)
    return _table(par, m, tab, u, s)


@njit(cache=True, inline="always")
def sample_z(kind: np.ndarray, par: np.ndarray, m: int, tab: np.ndarray, z: float) -> float:
    """Duration (seconds) of sampler row ``m`` for a standard-normal latent ``z`` (``u = Φ(z)``),
    used under latency correlation; lognormal uses ``z`` directly."""
    k = kind[m]
    if k == ZERO:
        return 0.0
    if k == CONSTANT:
        return par[m, 0]
    if k == LOGNORMAL:
        return math.exp(par[m, 0] + par[m, 1] * z)
    u = ndtr(z)
    s = ndtr(-z)
    if u <= 0.0:
        u = 5e-324
    if s <= 0.0:
        s = 5e-324
    return sample_u(kind, par, m, tab, u, s)
