"""Quantile functions the samplers share: logit-grid tables, piecewise points, gamma constants.

Both the generated kernels (``emac_sim.engine.codegen``) and the reference simulator
(``emac_sim.reference``) sample from these, so they live below both.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from . import distributions as D

TABLE_POINTS = 16384
TABLE_W = 36.75  # covers ln(u/(1-u)) for u in [2^-53, 1 - 2^-53]


def choice_cumulative(probabilities: tuple[float, ...]) -> list[float]:
    """Cumulative branch probabilities with the last forced to 1 (branch j when u < cum[j])."""
    cum: list[float] = []
    acc = 0.0
    for p in probabilities:
        acc += p
        cum.append(acc)
    cum[-1] = 1.0
    return cum


def logit_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The table grid: ``w`` (logits), ``u = 1/(1 + e^−w)`` and ``s = 1 − u`` without cancellation."""
    w = np.linspace(-TABLE_W, TABLE_W, TABLE_POINTS)
    return w, special.expit(w), special.expit(-w)


def _sf(dist: D.Distribution, x: np.ndarray) -> np.ndarray:
    """Survival function accurate in the far upper tail."""
    x = np.asarray(x, dtype=np.float64)
    if isinstance(dist, D.Gamma):
        return special.gammaincc(dist.shape, np.maximum(x, 0.0) / dist.scale)
    if isinstance(dist, D.LogNormal):
        if dist.sigma == 0:
            return (x < math.exp(dist.mu)).astype(np.float64)
        return np.where(x > 0, special.ndtr(-(np.log(np.maximum(x, 1e-300)) - dist.mu) / dist.sigma), 1.0)
    if isinstance(dist, D.Exponential):
        return np.exp(-np.maximum(x, 0.0) / dist.mean_s)
    if isinstance(dist, D.Weibull):
        return np.exp(-((np.maximum(x, 0.0) / dist.scale) ** dist.shape))
    if isinstance(dist, D.Pareto):
        return np.where(x >= dist.scale, (dist.scale / np.maximum(x, dist.scale)) ** dist.alpha, 1.0)
    if isinstance(dist, D.Constant):
        return (x < dist.value).astype(np.float64)
    if isinstance(dist, D._Piecewise):
        pn, xn, theta = dist._tail()
        if theta > 0:
            return np.where(x > xn, (1.0 - pn) * np.exp(-np.maximum(x - xn, 0.0) / theta), 1.0 - dist.cdf(x))
        return 1.0 - dist.cdf(x)
    if isinstance(dist, D.Mixture):
        return sum(w * _sf(d, x) for w, d in dist.components)
    return dist.sf(x)


def _isf_upper(dist: D.Distribution, s: np.ndarray) -> np.ndarray:
    """Quantile at upper-tail probability ``s`` (an upper bound is enough for mixtures)."""
    if isinstance(dist, D.Gamma):
        return special.gammainccinv(dist.shape, s) * dist.scale
    if isinstance(dist, D.LogNormal):
        return np.exp(dist.mu - dist.sigma * special.ndtri(s))
    if isinstance(dist, D.Mixture):
        return np.maximum.reduce([np.broadcast_to(_isf_upper(d, s), s.shape) for _, d in dist.components])
    if isinstance(dist, D.Exponential):
        return -dist.mean_s * np.log(s)
    if isinstance(dist, D.Weibull):
        return dist.scale * (-np.log(s)) ** (1.0 / dist.shape)
    if isinstance(dist, D.Pareto):
        return dist.scale * s ** (-1.0 / dist.alpha)
    if isinstance(dist, D._Piecewise):
        pn, xn, theta = dist._tail()
        with np.errstate(divide="ignore"):
            tail = xn - theta * np.log(s / (1.0 - pn)) if theta > 0 else np.full_like(s, xn)
        return np.where(1.0 - s > pn, tail, dist.ppf(1.0 - s))
    return dist.ppf(1.0 - s)


def quantile_table(dist: D.Distribution) -> tuple[np.ndarray, bool]:
    """Quantiles of ``dist`` on :func:`logit_grid`; returns (values, log_flag).

    Values are ln(seconds) when every quantile is positive (``log_flag``), else seconds. Gamma
    uses ``gammaincinv``/``gammainccinv``; mixtures solve ``F(x) = u`` (lower half) and
    ``S(x) = s`` (upper half) by bisection, so both tails keep full relative precision. Used only
    for gamma and mixture latencies under latency correlation (the latent drives the quantile
    function); independent draws use the exact samplers.
    """
    w, u, s = logit_grid()
    lower = w <= 0
    if isinstance(dist, D.Gamma):
        x = np.where(lower, special.gammaincinv(dist.shape, u), special.gammainccinv(dist.shape, s)) * dist.scale
    elif isinstance(dist, D.Mixture):
        hi = _isf_upper(dist, s)
        lo = np.zeros_like(hi)
        for _ in range(400):
            mid = 0.5 * (lo + hi)
            below = np.where(lower, dist.cdf(mid) < u, _sf(dist, mid) > s)
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
            if np.all(hi - lo <= 4e-16 * hi):
                break
        x = hi
    else:
        x = np.where(lower, dist.ppf(u), _isf_upper(dist, s))
    x = np.asarray(x, dtype=np.float64)
    if np.all(x > 0) and np.all(np.isfinite(x)):
        return np.log(x), True
    return x, False


def piecewise_points(dist: D.Distribution) -> tuple[np.ndarray, np.ndarray]:
    """The (probability, seconds) points the piecewise inverse interpolates: unique
    probabilities, each with the first x reaching it (``distributions._Piecewise.ppf``)."""
    p, xs = dist._points()  # type: ignore[attr-defined]
    uniq_p, idx = np.unique(p, return_index=True)
    return uniq_p.astype(np.float64), xs[idx].astype(np.float64)


def gamma_constants(shape: float) -> tuple[float, float]:
    """``b = shape − 1/3`` and ``c = 1/sqrt(9b)`` as NumPy's ``standard_gamma`` computes them."""
    b = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9 * b) if b > 0 else 0.0
    return b, c


