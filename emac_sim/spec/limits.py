"""Physical ranges and work limits the loader enforces (docs/semantics.md, "Limits").

A spec is refused at load time, with the path of the offending value, when a number lies outside
the range a real system can have (a latency of 10⁻³⁰⁰ s or 10³⁰⁰ s, a coefficient of variation
of 10³⁰⁰) or when the journey would cost more calls per request than any engine run could afford
(3⁶⁴ nested retries). Inside these ranges every numeric layer (bounds on the grid, the Monte
Carlo kernel, the budgets) works in ordinary double precision; the ranges are the contract.

The calls-per-journey limit can be raised with the environment variable ``EMAC_MAX_CALLS``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..model import distributions as D
from ..model.journey import Node, Ref

MIN_LATENCY = 1e-9
"""Shortest non-zero duration accepted anywhere in a spec: 1 ns."""
MAX_LATENCY = 86_400.0
"""Longest latency, timeout, deadline, hedge delay or backoff accepted: 1 day."""
MAX_WINDOW = 366 * 86_400.0
"""Longest SLO, evidence or burn-rate window: 366 days."""
MU_RANGE = (math.log(MIN_LATENCY) - 1e-9, math.log(MAX_LATENCY) + 1e-9)
"""Lognormal ``mu``: the log of a median between 1 ns and 1 day (a hair wider, so a dumped spec loads again)."""
MAX_SIGMA = 5.0
"""Largest lognormal sigma (p99/p50 up to e^(5·2.326) ≈ 1.1·10⁵)."""
CV_RANGE = (0.01, 10.0)
"""Gamma coefficient of variation (``mean`` + ``cv``)."""
GAMMA_SHAPE_RANGE = (0.01, 10_000.0)
"""Gamma shape (``shape`` + ``scale``): the same family as ``cv`` in [0.01, 10]."""
WEIBULL_SHAPE_RANGE = (0.1, 100.0)
PARETO_ALPHA_RANGE = (0.5, 100.0)
MAX_BACKOFF_MULTIPLIER = 1000.0
MAX_LOAD_RATE = 1e9
"""Largest offered load, requests per second."""
MAX_REPLICAS = 1_000_000
MAX_MIXTURE_DEPTH = 8
"""Mixtures nested inside mixtures, at most this deep."""
MAX_QUORUM_WORK = 25_000
"""Largest n·min(k, n − k + 1) of a k-of-n quorum: the Poisson-binomial steps per grid point of
its exact latency law, which compile re-evaluates while it solves latency budgets (100-of-200 is
20,000; all/any forks cost n and are limited by the calls per journey only)."""
MAX_CALLS_DEFAULT = 1_000_000
"""Default limit on the worst-case calls of one journey (override: ``EMAC_MAX_CALLS``)."""


def max_calls() -> int:
    """The worst-case calls-per-journey limit in force (``EMAC_MAX_CALLS`` or the default)."""
    raw = os.environ.get("EMAC_MAX_CALLS", "").strip().replace("_", "")
    if not raw:
        return MAX_CALLS_DEFAULT
    try:
        v = float(raw)
    except ValueError:
        return MAX_CALLS_DEFAULT
    return int(v) if math.isfinite(v) and v >= 1 else MAX_CALLS_DEFAULT


CAP = 1e300
"""Call counts saturate here (a count past it is refused anyway)."""


@dataclass(frozen=True)
class CallCount:
    """Calls one journey makes: ``expected`` (independent failures, every hedge issued: an upper
    estimate) and ``worst`` (every retry and fallback exhausted, every hedge and optional step
    taken, the heaviest choice branch)."""

    expected: float
    worst: float


def call_count(node: Node, availability: dict[str, float]) -> CallCount:
    """Expected and worst-case component calls of ``node`` per request, without overflow.

    Parameters
    ----------
    node
        The operator tree.
    availability
        Component id → P(call ok), used for the expected count (series stop at the first
        failure, retries and fallbacks at the first success).

    Returns
    -------
    CallCount
        Floats (``inf`` is impossible: counts are capped at 1e300).
    """
    count, _ = _count(node, availability)
    return count


def _count(node: Node, a: dict[str, float]) -> tuple[CallCount, float]:
    """(calls, P(ok)) of ``node`` with independent failures; latency-driven failures ignored."""
    if isinstance(node, Ref):
        return CallCount(1.0, 1.0), a.get(node.component, 1.0)
    return node.call_count([_count(c, a) for c in node.children])  # type: ignore[attr-defined]


def clamp_latency(seconds: float) -> float:
    """A measured duration brought into the accepted range: below 1 ns is 0 (beneath any clock's
    resolution), above 1 day is 1 day. For durations read from data (discovery), never from specs."""
    if not seconds >= MIN_LATENCY:
        return 0.0
    return min(float(seconds), MAX_LATENCY)


def _latency_ok(x: float, zero_ok: bool = False) -> bool:
    return (zero_ok and x == 0.0) or MIN_LATENCY <= x <= MAX_LATENCY


def within_limits(dist: D.Distribution) -> bool:
    """Whether a distribution built in code (a fit to trace data) has parameters the loader
    accepts, so a spec written with it loads again."""
    if isinstance(dist, D.LogNormal):
        return MU_RANGE[0] <= dist.mu <= MU_RANGE[1] and 0.0 <= dist.sigma <= MAX_SIGMA
    if isinstance(dist, D.Gamma):
        return GAMMA_SHAPE_RANGE[0] <= dist.shape <= GAMMA_SHAPE_RANGE[1] and _latency_ok(dist.mean())
    if isinstance(dist, D.Weibull):
        return WEIBULL_SHAPE_RANGE[0] <= dist.shape <= WEIBULL_SHAPE_RANGE[1] and _latency_ok(dist.scale)
    if isinstance(dist, D.Exponential):
        return _latency_ok(dist.mean_s)
    if isinstance(dist, D.Pareto):
        return PARETO_ALPHA_RANGE[0] <= dist.alpha <= PARETO_ALPHA_RANGE[1] and _latency_ok(dist.scale)
    if isinstance(dist, D.Constant):
        return _latency_ok(dist.value, zero_ok=True)
    if isinstance(dist, D.Empirical):
        return all(_latency_ok(x, zero_ok=True) for _, x in dist.quantiles)
    if isinstance(dist, D.Histogram):
        return all(_latency_ok(le, zero_ok=True) for le, _ in dist.buckets if math.isfinite(le))
    if isinstance(dist, D.Mixture):
        return all(within_limits(d) for _, d in dist.components)
    return False
