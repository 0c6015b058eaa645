"""Confidence intervals for Monte Carlo estimates.

* Availability: the Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001 recommend
  it over the Wald interval): for k successes in n trials and z = Φ⁻¹(1 − α/2),
  centre ``(p̂ + z²/2n)/(1 + z²/n)``, half-width ``z/(1 + z²/n)·sqrt(p̂(1 − p̂)/n + z²/4n²)``.
* Quantiles: distribution-free order-statistic intervals (David & Nagaraja, *Order
  Statistics*, §7.1): with B ~ Binomial(n, q), ``[X₍ₗ₎, X₍ᵤ₎]`` covers the q-quantile with
  probability ≥ 1 − α for ``l = F_B⁻¹(α/2)`` and ``u = F_B⁻¹(1 − α/2) + 1``. Read from a
  histogram, ``X₍ₗ₎`` is replaced by the lower edge of its bucket and ``X₍ᵤ₎`` by the upper
  edge of its bucket, which only widens the interval. The point estimate is the
  representative value (midpoint) of the bucket holding ``X₍⌈qn⌉₎``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from .histogram import bucket_edges, bucket_values


@dataclass(frozen=True)
class EstimatedQuantile:
    """A quantile (seconds) estimated from samples, with its order-statistic interval
    (``hi`` may be inf); ``estimate`` is ``None`` when nothing was counted."""

    estimate: float | None
    ci: tuple[float | None, float | None] = (None, None)

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "ci": list(self.ci)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EstimatedQuantile:
        ci = d.get("ci") or (None, None)
        return cls(d.get("estimate"), (ci[0], ci[1]))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; ``(0, 1)`` when ``n == 0``."""
    if n <= 0:
        return 0.0, 1.0
    z = float(special.ndtri(0.5 + confidence / 2.0))
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    # the exact ends at k = 0 and k = n (the formula leaves rounding dust there)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def wilson_half_width(successes: int, n: int, confidence: float = 0.95) -> float:
    """Half the width of :func:`wilson_interval`."""
    lo, hi = wilson_interval(successes, n, confidence)
    return (hi - lo) / 2.0


def binom_ppf(y: float, n: int, p: float) -> int:
    """Smallest k in [0, n] with P(Binomial(n, p) ≤ k) ≥ y (integer bisection on ``bdtr``)."""
    lo, hi = 0, int(n)
    while lo < hi:
        mid = (lo + hi) // 2
        if special.bdtr(mid, n, p) >= y:
            hi = mid
        else:
            lo = mid + 1
    return lo


def order_statistic_ranks(n: int, q: float, confidence: float = 0.95) -> tuple[int, int]:
    """1-based ranks ``(l, u)`` with ``P(X₍ₗ₎ ≤ ξ_q ≤ X₍ᵤ₎) ≥ confidence``; ``l = 0`` means
    −inf (no lower order statistic is low enough), ``u = n + 1`` means +inf."""
    alpha = 1.0 - confidence
    lo = binom_ppf(alpha / 2.0, n, q)
    hi = binom_ppf(1.0 - alpha / 2.0, n, q) + 1
    return max(lo, 0), min(hi, n + 1)


def _bucket_of_rank(cum: np.ndarray, rank: int) -> int:
    return int(np.searchsorted(cum, rank, side="left"))


def histogram_quantile(hist: np.ndarray, q: float, confidence: float = 0.95) -> EstimatedQuantile | None:
    """Quantile ``q`` of the samples in ``hist`` with an order-statistic interval.

    Parameters
    ----------
    hist
        Counts per bucket, shape ``(N_BUCKETS,)`` (:mod:`emac_sim.core.histogram`).
    q
        Probability in (0, 1).
    confidence
        Interval coverage.

    Returns
    -------
    EstimatedQuantile or None
        ``estimate`` and ``ci = (lo, hi)`` in seconds (``hi`` may be inf when too few
        samples), or None when the histogram is empty.
    """
    n = int(hist.sum())
    if n == 0:
        return None
    lo_edge, hi_edge = bucket_edges()
    values = bucket_values()
    cum = np.cumsum(hist)
    rank = max(1, math.ceil(q * n))
    est = float(values[_bucket_of_rank(cum, rank)])
    l_rank, u_rank = order_statistic_ranks(n, q, confidence)
    lo = 0.0 if l_rank < 1 else float(lo_edge[_bucket_of_rank(cum, l_rank)])
    hi = math.inf if u_rank > n else float(hi_edge[_bucket_of_rank(cum, u_rank)])
    return EstimatedQuantile(est, (lo, hi))
