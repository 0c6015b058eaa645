"""Numbers from counts: observed availability with its interval, quantiles from histogram buckets.

Availability: ``good / total`` with the **Wilson score interval** (Wilson 1927; the same interval
the Monte Carlo engine reports, :func:`emac_sim.core.intervals.wilson_interval`). It treats the
window's requests as independent trials, so it is the interval of a steady error rate; bursty
outages make the real uncertainty larger. Counts from ``increase`` may be fractional (Prometheus
extrapolates to the window's edges); the formula takes them as they are.

Quantiles: the value :func:`bucket_quantile` interpolates linearly inside the bucket holding the
rank, exactly as Prometheus' ``histogram_quantile`` (``promql/quantile.go``, v2.42: buckets sorted
by ``le``, the ``+Inf`` bucket required, cumulative counts made monotonic, the lowest bucket
starting at 0, a rank in the ``+Inf`` bucket answered by the highest finite ``le``). The
**resolution** is the bucket itself: the true quantile of the observations lies in
``[bucket lower le, bucket upper le]``, whatever the interpolation says. The **interval** adds the
sampling error: with distribution-free order-statistic ranks (``l``, ``u``) for the quantile
(:func:`emac_sim.core.intervals.order_statistic_ranks`), the population quantile lies between the
lower edge of the bucket holding rank ``l`` and the upper edge of the bucket holding rank ``u``
with the stated confidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.intervals import order_statistic_ranks, wilson_interval


def availability_interval(good: float, total: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``good / total`` (``total > 0``, ``0 <= good <= total``)."""
    return wilson_interval(good, total, confidence)  # type: ignore[arg-type]  # fractional counts are fine


def normalise_buckets(buckets: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Sort by ``le``, merge equal ``le`` (summing, as Prometheus' ``coalesceBuckets``) and make the
    cumulative counts non-decreasing (``ensureMonotonic``: each count is at least the one before)."""
    merged: dict[float, float] = {}
    for le, c in buckets:
        merged[le] = merged.get(le, 0.0) + c
    out: list[tuple[float, float]] = []
    running = -math.inf
    for le in sorted(merged):
        running = max(running, merged[le])
        out.append((le, running))
    return tuple(out)


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus' ``histogram_quantile(q, …)`` over cumulative buckets ``(le, count)``.

    Returns NaN when there is no ``+Inf`` bucket, fewer than two buckets or no observations;
    −inf / +inf for ``q`` below 0 / above 1.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    b = normalise_buckets(buckets)
    if not b or not math.isinf(b[-1][0]) or len(b) < 2:
        return math.nan
    observations = b[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    i = _first_reaching(b, rank)
    if i == len(b) - 1:
        return b[-2][0]
    if i == 0 and b[0][0] <= 0:
        return b[0][0]
    start, end, count = 0.0, b[i][0], b[i][1]
    if i > 0:
        start = b[i - 1][0]
        count -= b[i - 1][1]
        rank -= b[i - 1][1]
    return start + (end - start) * (rank / count)


def _first_reaching(b: tuple[tuple[float, float], ...], rank: float) -> int:
    """Smallest index below the ``+Inf`` bucket whose count reaches ``rank``, else the last index."""
    for i in range(len(b) - 1):
        if b[i][1] >= rank:
            return i
    return len(b) - 1


def _bucket_bounds(b: tuple[tuple[float, float], ...], i: int) -> tuple[float, float]:
    return (0.0 if i == 0 else b[i - 1][0]), b[i][0]


@dataclass(frozen=True)
class QuantileEstimate:
    """One quantile read from a histogram.

    Attributes
    ----------
    q
        The probability (0.99 for p99).
    estimate
        ``histogram_quantile``'s value, seconds.
    bucket
        ``[lower le, upper le]`` of the bucket holding the rank: the resolution (upper may be inf).
    interval
        Order-statistic interval of the population quantile at ``confidence``, widened to bucket
        edges (upper may be inf).
    """

    q: float
    estimate: float
    bucket: tuple[float, float]
    interval: tuple[float, float]


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]], confidence: float = 0.95) -> QuantileEstimate | None:
    """Quantile ``q`` of cumulative buckets with its resolution and interval (``None``: no usable data)."""
    b = normalise_buckets(buckets)
    est = bucket_quantile(q, b)
    if math.isnan(est):
        return None
    n = b[-1][1]
    i = _first_reaching(b, q * n)
    bucket = _bucket_bounds(b, i)
    whole = max(1, round(n))
    lo_rank, hi_rank = order_statistic_ranks(whole, q, confidence)
    scale = n / whole  # ranks of the (possibly fractional) counts Prometheus extrapolated
    lo = 0.0 if lo_rank < 1 else _bucket_bounds(b, _first_reaching(b, lo_rank * scale))[0]
    hi = math.inf if hi_rank > whole else _bucket_bounds(b, _first_reaching(b, hi_rank * scale))[1]
    return QuantileEstimate(q, est, bucket, (lo, hi))
