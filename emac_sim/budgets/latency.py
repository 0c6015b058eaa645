"""Per-component latency budgets whose composition meets the journey's latency objective.

Method: every component's latency (success and error distributions) is multiplied by one
common factor ``c`` — each distribution stays in its own family (lognormal μ + ln c, gamma /
Weibull / Pareto scale · c, exponential mean · c, constant · c, empirical and histogram points
· c, mixtures component-wise) — and ``c`` is chosen so that the analytic journey quantile meets
the threshold exactly. A component's budget is its quantile at the objective's level after
scaling, ``c · qᵢ``.

Two journey quantiles are solved for:

- ``upper``: the dependence-free upper bound (holds for any dependence; primary when the policy
  gates on it, ``useBoundsForAutomation.latency: upper`` or ``dependenceFree``);
- ``independent``: the exact quantile when components are independent (primary otherwise,
  including the default ``upperConfidence``, whose Monte Carlo interval it is checked against).

When the journey has no fixed delays (hedge delays, timeouts, per-try timeouts, backoff), every
one of these quantiles is positively homogeneous in ``c`` (scaling all inputs scales every sum,
max, min and Fréchet/Makarov bound), so ``c = threshold / q(1)`` exactly; the pipeline still
recomputes ``q(c)`` once and reports it. Otherwise ``c`` is found by Brent's method on ``ln c``
(the quantile is non-decreasing in ``c`` for the operators of DESIGN §3).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..model import distributions as D
from ..model.journey import Journey, Node

if TYPE_CHECKING:
    from ..analytic.bounds import Bounds

Bound = Literal["upper", "independent"]
QUANTILE_KEY = {0.5: "p50", 0.9: "p90", 0.99: "p99", 0.999: "p999"}
MAX_FACTOR_DECADES = 4.0  # search c in [1e-4, 1e4]
REL_TOL = 1e-6


def scale_distribution(dist: D.Distribution, c: float) -> D.Distribution:
    """The distribution of ``c · T`` for ``T ~ dist``, in the same family.

    Parameters
    ----------
    dist
        Any distribution of :mod:`emac_sim.model.distributions` (seconds).
    c
        Positive factor.
    """
    if c <= 0:
        raise ValueError(f"scale factor must be positive, got {c!r}")
    if isinstance(dist, D.LogNormal):
        return D.LogNormal(mu=dist.mu + math.log(c), sigma=dist.sigma)
    if isinstance(dist, D.Gamma):
        return D.Gamma(shape=dist.shape, scale=dist.scale * c)
    if isinstance(dist, D.Weibull):
        return D.Weibull(shape=dist.shape, scale=dist.scale * c)
    if isinstance(dist, D.Exponential):
        return D.Exponential(mean_s=dist.mean_s * c)
    if isinstance(dist, D.Pareto):
        return D.Pareto(scale=dist.scale * c, alpha=dist.alpha)
    if isinstance(dist, D.Constant):
        return D.Constant(value=dist.value * c)
    if isinstance(dist, D.Empirical):
        return D.Empirical(quantiles=tuple((p, x * c) for p, x in dist.quantiles))
    if isinstance(dist, D.Histogram):
        return D.Histogram(buckets=tuple((le * c if math.isfinite(le) else le, n) for le, n in dist.buckets))
    if isinstance(dist, D.Mixture):
        return D.Mixture(components=tuple((w, scale_distribution(d, c)) for w, d in dist.components))
    raise TypeError(f"cannot scale distribution {type(dist).__name__}")


def scale_latency(journey: Journey, c: float) -> Journey:
    """A copy of ``journey`` with every component's latency and error latency scaled by ``c``."""
    comps = []
    for comp in journey.components:
        lat = scale_distribution(comp.latency, c) if comp.latency is not None else None
        err = comp.error_latency if isinstance(comp.error_latency, str) else scale_distribution(comp.error_latency, c)
        comps.append(dataclasses.replace(comp, latency=lat, error_latency=err))
    return dataclasses.replace(journey, components=tuple(comps))


def has_fixed_delays(node: Node) -> bool:
    """True when the tree has a time constant that does not scale with component latency (a hedge
    delay, a deadline, a per-try timeout, a backoff: each operator's ``fixed_delay``)."""
    return any(not n.is_leaf and n.fixed_delay() for n in node.walk())  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ComponentLatencyBudget:
    """One component's latency at the objective's quantile today and within budget (seconds)."""

    component: str
    current: float
    budget: float

    def to_dict(self) -> dict[str, Any]:
        return {"component": self.component, "currentSeconds": self.current, "budgetSeconds": self.budget}


@dataclass(frozen=True)
class LatencySolution:
    """Common factor for one journey quantile (``upper`` or ``independent``).

    ``factor`` is ``None`` when no factor in [1e-4, 1e4] meets the threshold (``note`` says why);
    ``journey_before`` / ``journey_after`` are the journey quantile (seconds) at factor 1 and at
    ``factor``.
    """

    bound: Bound
    factor: float | None
    journey_before: float | None
    journey_after: float | None
    method: str
    evaluations: int
    components: tuple[ComponentLatencyBudget, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "bound": self.bound,
            "factor": self.factor,
            "journeyBeforeSeconds": self.journey_before,
            "journeyAfterSeconds": self.journey_after,
            "method": self.method,
            "evaluations": self.evaluations,
            "note": self.note,
            "components": {b.component: {"currentSeconds": b.current, "budgetSeconds": b.budget} for b in self.components},
        }


@dataclass(frozen=True)
class LatencyBudgets:
    """Latency budgets for the objective ``metric <= threshold`` (seconds).

    ``primary`` names the bound the governance policy gates on; ``solutions`` holds one
    :class:`LatencySolution` per bound computed.
    """

    metric: str
    quantile: float
    threshold: float
    primary: Bound
    solutions: tuple[LatencySolution, ...]

    method = "common factor on every component's latency distribution (same family), solved on the analytic journey quantile"

    def solution(self, bound: Bound | None = None) -> LatencySolution | None:
        want = bound or self.primary
        for s in self.solutions:
            if s.bound == want:
                return s
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "quantile": self.quantile,
            "thresholdSeconds": self.threshold,
            "primary": self.primary,
            "method": self.method,
            "solutions": {s.bound: s.to_dict() for s in self.solutions},
        }


def _journey_quantile(journey: Journey, q: float, bound: Bound) -> float | None:
    """Analytic journey quantile (successful journeys, seconds) for ``bound``."""
    from ..analytic import bounds as analytic_bounds
    from ..analytic import latency_quantiles

    if bound == "independent":
        res = latency_quantiles(journey, "independent", qs=(q,))
        if res is None:
            return None
        v = res.get(q)
        return float(v) if v is not None else None
    key = QUANTILE_KEY.get(q)
    if key is None:
        return None
    qb = analytic_bounds(journey).quantile(key)
    if qb is None:
        return None
    v = qb.upper
    return float(v) if v is not None else None


def _solve(
    journey: Journey,
    q: float,
    threshold: float,
    bound: Bound,
    q_at_one: float | None,
    quantile_fn: Callable[[Journey, float, Bound], float | None],
) -> LatencySolution:
    evals = 0

    def at(c: float) -> float | None:
        nonlocal evals
        if c == 1.0 and q_at_one is not None:
            return q_at_one
        evals += 1
        return quantile_fn(scale_latency(journey, c), q, bound)

    def budgets(c: float | None) -> tuple[ComponentLatencyBudget, ...]:
        used = set(journey.root.refs())
        out = []
        for comp in journey.components:
            if comp.id not in used or comp.latency is None:
                continue
            cur = float(comp.latency.ppf(q))
            out.append(ComponentLatencyBudget(comp.id, cur, cur * c if c is not None else math.nan))
        return tuple(out) if c is not None else ()

    base = at(1.0)
    if base is None or not math.isfinite(base) or base <= 0:
        return LatencySolution(bound, None, base, None, "none", evals, (), f"no finite {bound} journey quantile to scale")
    if not has_fixed_delays(journey.root):
        c = threshold / base
        return LatencySolution(bound, c, base, at(c), "homogeneous: c = threshold / q(1)", evals, budgets(c))

    # fixed delays: Brent on ln c within [1e-4, 1e4]
    from scipy.optimize import brentq

    def f(lnc: float) -> float:
        v = at(math.exp(lnc))
        return (v if v is not None and math.isfinite(v) else math.inf) - threshold

    lo, hi = 0.0, 0.0
    f0 = base - threshold
    if f0 == 0:
        return LatencySolution(bound, 1.0, base, base, "already at the threshold", evals, budgets(1.0))
    step = math.log(2.0)
    limit = MAX_FACTOR_DECADES * math.log(10.0)
    if f0 > 0:  # too slow: shrink until below
        while True:
            lo -= step
            if lo < -limit:
                note = "no factor down to 1e-4 meets the threshold (fixed delays dominate)"
                return LatencySolution(bound, None, base, None, "brent on ln c", evals, (), note)
            if f(lo) <= 0:
                break
    else:  # slack: grow until above
        while True:
            hi += step
            if hi > limit:
                c = math.exp(limit)
                return LatencySolution(bound, c, base, at(c), "capped at 1e4 (threshold not reached)", evals, budgets(c))
            if f(hi) > 0:
                break
    lnc = brentq(f, lo, hi, xtol=REL_TOL, rtol=REL_TOL)
    c = math.exp(lnc)
    # keep the side that meets the threshold
    after = at(c)
    return LatencySolution(bound, c, base, after, "brent on ln c (fixed delays present)", evals, budgets(c))


def latency_budgets(
    journey: Journey,
    bounds: Bounds | None = None,
    threshold: float | None = None,
    metric: str | None = None,
    primary: Bound | None = None,
    quantile_fn: Callable[[Journey, float, Bound], float | None] = _journey_quantile,
) -> LatencyBudgets | None:
    """Per-component latency budgets meeting the journey latency objective.

    Parameters
    ----------
    journey
        The journey; needs latency models (``None`` is returned otherwise).
    bounds
        ``emac_sim.analytic.bounds(journey)`` if already computed: its quantiles at factor 1
        are reused.
    threshold, metric
        Objective threshold (seconds) and metric (``p99``); default to the spec's latency
        objective, else the delivery gate's ``maxP99LatencySeconds`` with ``p99``.
    primary
        The bound the gate uses; default from ``governance.latency_bound`` (``independent`` /
        ``optimistic`` → ``independent``, anything else → ``upper``).
    quantile_fn
        How to evaluate a journey quantile; the analytic layer by default.

    Returns
    -------
    LatencyBudgets or None
        ``None`` when latency is not modelled or there is no latency objective.
    """
    if not journey.latency_modelled:
        return None
    if threshold is None:
        if journey.latency_objective is not None:
            threshold, metric = journey.latency_objective.threshold, journey.latency_objective.metric
        elif journey.governance.max_p99_latency is not None:
            threshold, metric = journey.governance.max_p99_latency, "p99"
        else:
            return None
    metric = metric or "p99"
    digits = metric.lstrip("p")
    q = float("0." + digits)
    if primary is None:
        # upperConfidence gates on the Monte Carlo interval, which cannot be re-solved per factor;
        # the exact independent quantile is its analytic counterpart (the check holds them together)
        primary = "upper" if journey.governance.latency_bound in ("upper", "dependenceFree", "pessimistic") else "independent"
    key = QUANTILE_KEY.get(q)
    qb = bounds.quantile(key) if bounds is not None and key is not None else None
    sols = []
    for bound in ("upper", "independent"):
        at_one = None
        if qb is not None:
            v = qb.value(bound)
            at_one = float(v) if v is not None else None
        sols.append(_solve(journey, q, float(threshold), bound, at_one, quantile_fn))  # type: ignore[arg-type]
    return LatencyBudgets(metric=metric, quantile=q, threshold=float(threshold), primary=primary, solutions=tuple(sols))
